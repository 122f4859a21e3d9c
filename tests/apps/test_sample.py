"""`rae sample` end to end on tiny models in released formats, offline, through click's CliRunner."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rae_apps.metadata import read_record

from . import tiny


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_default_preset_from_the_hf_cache(rae):
    result = rae("sample", "--class", "207", "--seed", "0", "--output", "golden.png", "-q")
    assert result.stdout.strip() == "golden.png"
    assert "backend: torch on cpu, float32 (auto: no Apple silicon or CUDA here)" in result.stderr
    image = pixels("golden.png")
    assert image.shape == (16, 16, 3) and image.std() > 10  # tiny decoder: 16 px, not a flat image
    record = read_record("golden.png")
    assert record["source"] == {"preset": "dit-dh-xl-256-ag"}
    assert record["class"] == 207 and record["class_name"] == "golden retriever" and record["seed"] == 0
    assert record["guidance"]["method"] == "autoguidance" and record["guidance"]["scale"] == 1.42
    assert record["sampler"]["num_steps"] == 50 and record["backend"] == "torch" and record["dtype"] == "float32"
    assert set(record["files"]) == {"dit", "guide", "decoder", "stats"}
    assert record["files"]["dit"]["origin"].endswith("DiTDH-XL/stage2_model.pt")
    assert len(record["files"]["decoder"]["sha256"]) == 64
    assert "golden retriever" in Image.open("golden.png").text["Description"]


def test_same_seed_same_image_and_batch_size_only_splits_work(rae):
    rae("sample", "--class", "207", "--class", "otter", "-n", "2", "--seed", "5", "--seed", "6", "-q",
        "--output", "a/{index}.png")
    rae("sample", "--class", "207", "--class", "otter", "-n", "2", "--seed", "5", "--seed", "6", "-q",
        "--output", "b/{seed}-{class}-{index}.png", "--batch-size", "3")
    names = sorted(Path("b").glob("*.png"), key=lambda p: int(p.stem.split("-")[-1]))
    # generation order: seed-major, classes in the order given, each repeated n times
    assert [p.stem for p in names] == ["5-207-0", "5-207-1", "5-360-2", "5-360-3",
                                       "6-207-4", "6-207-5", "6-360-6", "6-360-7"]
    for i, p in enumerate(names):
        a, b = pixels(f"a/{i}.png").astype(int), pixels(p).astype(int)
        assert np.abs(a - b).max() <= 1 and (a == b).mean() > 0.99
    assert not np.array_equal(pixels("a/0.png"), pixels("a/1.png"))  # repeats get different noise rows
    rae("sample", "--class", "207", "--seed", "5", "-q", "--output", "c.png")
    assert np.array_equal(pixels("c.png"), pixels("a/0.png"))  # row 0 of seed 5 is the same noise


def test_noise_follows_the_numpy_nchw_convention(rae, monkeypatch):
    from rae_apps.engines import torch_engine

    seen = []
    original = torch_engine.TorchEngine.sample

    def spy(self, noise, labels, *args, **kwargs):
        seen.append((noise.copy(), labels.copy()))
        return original(self, noise, labels, *args, **kwargs)

    monkeypatch.setattr(torch_engine.TorchEngine, "sample", spy)
    rae("sample", "--class", "3", "--class", "1", "-n", "2", "--seed", "11", "--batch-size", "3", "-q")
    expected = np.random.default_rng(11).standard_normal((4, *tiny.DIT.latent_shape), dtype=np.float32)
    assert np.array_equal(np.concatenate([n for n, _ in seen]), expected)
    assert np.concatenate([y for _, y in seen]).tolist() == [3, 3, 1, 1]


@pytest.mark.parametrize("source", ["png", "json"])
def test_replay_from_metadata_reproduces_the_image(rae, source):
    rae("sample", "--class", "12", "--class", "13", "-n", "2", "--seed", "4", "--batch-size", "3", "--metadata",
        "--output", "orig-{index}.png", "-q", "--steps", "12", "--guidance", "cfg", "--scale", "2.0")
    recorded = "orig-3.png" if source == "png" else "orig-3.json"
    result = rae("sample", "--from-metadata", recorded, "-q")
    replay = Path(result.stdout.strip())
    assert replay.name == "orig-3-replay.png"
    assert np.array_equal(pixels(replay), pixels("orig-3.png"))
    rec = read_record(replay)
    assert rec["class"] == 13 and rec["seed"] == 4 and rec["guidance"]["method"] == "cfg"
    assert rec["sampler"]["num_steps"] == 12 and rec["batch"]["row"] == 3


def test_grid_and_grid_replay(rae):
    rae("sample", "--class", "1", "--class", "2", "-n", "3", "--seed", "0", "--grid", "--steps", "8", "-q")
    grid = pixels("sample-grid.png")
    assert grid.shape == (2 * 18 + 2, 3 * 18 + 2, 3)  # 2 rows (classes) x 3 columns, 2 px borders
    rae("sample", "--from-metadata", "sample-grid.png", "--output", "again.png", "-q")
    assert np.array_equal(pixels("again.png"), grid)


def test_guidance_sampler_and_steps_overrides(rae):
    runs = {
        "ag.png": [],
        "none.png": ["--guidance", "none"],
        "cfg.png": ["--guidance", "cfg", "--scale", "3", "--interval", "0.2,0.9"],
        "heun.png": ["--sampler", "heun", "--steps", "10"],
        "sde.png": ["--sampler", "sde", "--steps", "20"],
    }
    for name, extra in runs.items():
        rae("sample", "--class", "7", "--seed", "1", "--output", name, "-q", *extra)
    images = {name: pixels(name) for name in runs}
    for a in runs:
        for b in runs:
            if a < b:
                assert not np.array_equal(images[a], images[b]), (a, b)
    rec = read_record("cfg.png")["guidance"]
    assert (rec["method"], rec["scale"], rec["t_min"], rec["t_max"]) == ("cfg", 3.0, 0.2, 0.9)
    assert read_record("sde.png")["sampler"]["mode"] == "sde"
    rae("sample", "--class", "7", "--seed", "1", "--output", "sde2.png", "-q", "--sampler", "sde", "--steps", "20")
    assert np.array_equal(pixels("sde2.png"), images["sde.png"])  # the SDE noise follows the seed too


def test_unguided_preset_and_model_folder(rae, env, tmp_path):
    import shutil

    from rae_spec.configs import to_json

    rae("sample", "--preset", "dit-dh-xl-256", "--class", "9", "--seed", "2", "--output", "plain.png", "-q")
    assert read_record("plain.png")["guidance"]["method"] == "cfg"
    folder = tmp_path / "my-model"
    folder.mkdir()
    shutil.copyfile(env.files["dit"], folder / "stage2_model.pt")
    (folder / "config.json").write_text(to_json(tiny.DIT))
    result = rae("sample", "--preset", "dit-dh-xl-256", "--model", folder, "--class", "9", "--seed", "2",
                 "--output", "mine.png", "-q")
    assert np.array_equal(pixels("mine.png"), pixels("plain.png"))  # the same weights, given as a folder
    assert read_record("mine.png")["source"]["model"] == str(folder)
    assert "stage2_model.pt" in read_record("mine.png")["files"]["dit"]["origin"]
    assert result.exit_code == 0


def test_plain_models_folder(rae, env, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    rae("sample", "--class", "3", "--seed", "0", "--models-dir", env.models_dir, "--output", "dir.png", "-q")
    monkeypatch.setenv("HF_HUB_CACHE", str(env.cache))
    rae("sample", "--class", "3", "--seed", "0", "--output", "cache.png", "-q")
    assert np.array_equal(pixels("dir.png"), pixels("cache.png"))
    monkeypatch.setenv("RAE_MODELS_DIR", str(env.models_dir))
    rae("sample", "--class", "3", "--seed", "0", "--output", "envdir.png", "-q")
    assert np.array_equal(pixels("envdir.png"), pixels("cache.png"))


def test_reference_yaml_with_overrides(rae, env):
    cfg = env.yaml("ag.yaml")
    rae("sample", "--config", cfg, "--class", "golden retriever", "--seed", "0", "--output", "yaml.png", "-q")
    rae("sample", "--class", "207", "--seed", "0", "--output", "preset.png", "-q")
    # the YAML names the same files and settings as the (tiny) default preset, apart from its time shift
    rec = read_record("yaml.png")
    assert rec["source"]["config"] == str(cfg) and len(rec["source"]["config_sha256"]) == 64
    assert rec["guidance"]["method"] == "autoguidance" and rec["files"]["guide"]["origin"] == str(env.files["guide"])
    assert rec["shift"] == pytest.approx(6**0.5)
    rae("sample", "--config", cfg, "--class", "1", "--seed", "0", "--steps", "6", "--guidance", "none",
        "--output", "fast.png", "-q")
    rec = read_record("fast.png")
    assert rec["sampler"]["num_steps"] == 6 and rec["guidance"]["method"] == "none"


def test_verbose_reports_phases_and_bf16_runs(rae):
    result = rae("sample", "--class", "5", "--seed", "0", "-v", "-q", "--steps", "5", "--dtype", "bfloat16",
                 "--output", "bf16.png")
    for phase in ("load:", "sample:", "decode:", "total sample:"):
        assert phase in result.stderr
    assert "peak" in result.stderr
    assert read_record("bf16.png")["dtype"] == "bfloat16"


def test_progress_bar_per_step_and_per_batch(rae):
    result = rae("sample", "--class", "5", "--class", "6", "--seed", "0", "--steps", "5", "--batch-size", "1",
                 "--output", "p{index}.png")
    assert "batches:" in result.stderr and "0/2 [" in result.stderr  # per batch
    assert "batch 1/2:" in result.stderr and "batch 2/2:" in result.stderr and "0/4 [" in result.stderr  # per step


def test_random_seed_is_printed_and_recorded(rae):
    result = rae("sample", "--class", "5", "--steps", "3", "-q", "--output", "r.png")
    seed = int(result.stderr.split("seed: ")[1].split()[0])
    assert read_record("r.png")["seed"] == seed


def test_single_template_without_placeholders_numbers_images(rae):
    result = rae("sample", "--class", "5", "-n", "2", "--seed", "0", "--steps", "3", "-q", "--output", "x.png")
    assert result.stdout.split() == ["x-0.png", "x-1.png"]


def test_metadata_sidecar_is_json(rae):
    rae("sample", "--class", "5", "--seed", "0", "--steps", "3", "-q", "--output", "m.png", "--metadata")
    data = json.loads(Path("m.json").read_text())
    assert data == read_record("m.png")


def test_replay_of_a_yaml_run_needs_the_same_yaml(rae, env):
    cfg = env.yaml("replay.yaml", num_steps=6)
    rae("sample", "--config", cfg, "--class", "4", "--seed", "2", "--output", "y.png", "-q")
    result = rae("sample", "--from-metadata", "y.png", "-q")
    assert "note:" not in result.stderr
    assert np.array_equal(pixels("y-replay.png"), pixels("y.png"))
    cfg.write_text(cfg.read_text() + "\n# edited\n")  # a record may only point at the very file it recorded
    result = rae("sample", "--from-metadata", "y.png", "-q", "--output", "y2.png", ok=False)
    assert result.exit_code == 2 and f"the recorded --config {cfg} is not the file the image was made with" \
        in result.stderr


def test_low_memory_frees_the_dit_before_decoding_and_gives_the_same_images(rae, monkeypatch):
    from rae_apps.engines import torch_engine

    events = []
    for name in ("load_dit", "load_decoder", "release", "decode"):
        original = getattr(torch_engine.TorchEngine, name)

        def spy(self, *args, _name=name, _original=original):
            events.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(torch_engine.TorchEngine, name, spy)
    args = ("sample", "--class", "3", "--class", "4", "--seed", "1", "--steps", "5", "--batch-size", "1", "-q")
    rae(*args, "--output", "a{index}.png")
    assert events == ["load_dit", "load_decoder", "decode", "decode"]
    events.clear()
    result = rae(*args, "--output", "b{index}.png", "--low-memory", "-v")
    assert events == ["load_dit", "release", "load_decoder", "decode", "decode"]
    assert "load decoder:" in result.stderr
    for i in range(2):
        assert np.array_equal(pixels(f"a{i}.png"), pixels(f"b{i}.png"))


def test_pipeline_folder_as_training_exports_it(rae, env, tmp_path):
    """--model DIR with pipeline.json: dit/, decoder/, stats.safetensors, class names, an encoder preset."""
    import dataclasses

    from safetensors.numpy import save_file

    from rae_spec.configs import GuidanceConfig, SamplerConfig, TransportConfig, to_dict, to_json

    folder = tmp_path / "digits"
    dit = dataclasses.replace(tiny.DIT, num_classes=10)
    for name, config, seed in (("dit", dit, 1), ("decoder", tiny.DECODER, 3)):
        (folder / name).mkdir(parents=True)
        (folder / name / "config.json").write_text(to_json(config))
        save_file(tiny.random_weights(config, seed), str(folder / name / "model.safetensors"))
    save_file({"var": np.full(tiny.STATS.shape, 2.0, np.float32)}, str(folder / "stats.safetensors"))
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    pipeline = {"type": "PipelineConfig", "dit": "dit", "decoder": "decoder", "stats": "stats.safetensors",
                "encoder": "dinov2-b-reg", "encoder_input_size": tiny.RAE.encoder_input_size, "guide": None,
                "sampler": to_dict(SamplerConfig(num_steps=8)), "guidance": to_dict(GuidanceConfig("cfg", 2.0)),
                "transport": to_dict(TransportConfig(time_dist_shift_dim=tiny.SHIFT_DIM)),
                "class_names": names, "description": "test", "provenance": "{}"}
    (folder / "pipeline.json").write_text(json.dumps(pipeline))
    rae("sample", "--model", folder, "--class", "Three", "--class", "9", "--seed", "0", "-q",
        "--output", "d{index}.png", "--metadata")
    rec = read_record("d0.png")
    assert rec["class"] == 3 and rec["class_name"] == "three" and rec["source"] == {"model": str(folder)}
    assert rec["guidance"]["method"] == "cfg" and rec["sampler"]["num_steps"] == 8
    rae("sample", "--from-metadata", "d1.json", "-q", "--output", "again.png")
    assert np.array_equal(pixels("again.png"), pixels("d1.png"))
    out = rae("info", folder).stdout
    assert f"pipeline folder {folder}" in out and "cfg" in out and "latent statistics" in out
    result = rae("sample", "--model", folder, "--class", "10", "-q", ok=False)
    assert result.exit_code == 2 and "classes 0-9" in result.stderr
    result = rae("sample", "--model", folder, "--class", "tree", "-q", ok=False)
    assert result.exit_code == 2 and "did you mean 'three' (3)" in result.stderr
    result = rae("sample", "--model", folder, "--preset", "dit-dh-xl-256", "--class", "1", "-q", ok=False)
    assert result.exit_code == 2 and "whole pipeline" in result.stderr
