"""Every error a user can cause: one line on stderr, exit code 2, no traceback (unless --debug)."""

import json
import shutil
from pathlib import Path

import pytest

from . import tiny


def fails(rae, *args, match: str) -> str:
    """The command exits with 2 and one error line (after at most the informational backend line)."""
    result = rae(*args, ok=False)
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("backend: ")]
    assert result.exit_code == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert match in lines[0], lines[0]
    return lines[0]


SAMPLE = ("sample", "--seed", "0", "--steps", "3", "-q")


def test_unknown_class_suggests_close_names(rae):
    line = fails(rae, *SAMPLE, "--class", "golden retreiver", match="unknown class 'golden retreiver'")
    assert "did you mean 'golden retriever' (207)" in line


def test_ambiguous_class_name(rae):
    fails(rae, *SAMPLE, "--class", "crane", match="ambiguous: 134 (crane; n02012849); 517 (crane; n03126707)")


@pytest.mark.parametrize("cls", ["1000", "-1"])
def test_class_out_of_range(rae, cls):
    fails(rae, *SAMPLE, "--class", cls, match=f"class {cls} is out of range: this model has classes 0-999")


def test_a_mistyped_class_is_found_before_any_download(rae, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))  # nothing downloaded: the class comes first
    fails(rae, *SAMPLE, "--class", "golden retreiver", match="did you mean 'golden retriever' (207)")
    fails(rae, *SAMPLE, "--class", "1000", match="class 1000 is out of range")


def test_classes_of_a_model_without_imagenet_names(rae):
    """digits-demo: the suggestion lists its classes (not `rae classes`, which lists ImageNet's)."""
    demo = ("sample", "--preset", "digits-demo", "--seed", "0", "--steps", "3", "-q")
    fails(rae, *demo, "--class", "cat", match="unknown class 'cat'; this model's classes are 0, 1, 2, 3, 4, 5, 6, 7, 8")
    fails(rae, *demo, "--class", "", match="a class is empty: give an id or a name")
    fails(rae, *demo, "--class", "2,3", match="unknown class '2,3': give each class its own --class "
          "(--class '2' --class '3')")


def test_a_seed_given_twice(rae):
    fails(rae, *SAMPLE, "--class", "1", "--seed", "3", "--seed", "3", match="--seed 3 is given twice")


def test_limits_are_in_the_help_and_checked_by_click(rae):
    text = " ".join(rae("sample", "--help").stdout.split())
    assert "[2<=x<=10000]" in text and "1<=x<=1024" in text
    fails(rae, *SAMPLE, "--class", "1", "--steps", "20000", match="20000 is not in the range 2<=x<=10000")


def test_convert_of_a_pipeline_names_its_models(rae, tmp_path):
    fails(rae, "convert", "digits-demo", tmp_path / "out", match="digits-demo is a pipeline preset; convert its "
          "models one at a time (digits-demo-dit, digits-demo-decoder, digits-demo-stats)")


def test_no_class(rae):
    fails(rae, *SAMPLE, match="no class given")


def test_offline_without_cached_files(rae, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    line = fails(rae, *SAMPLE, "--class", "1", match="is not in the Hugging Face cache")
    assert "nyu-visionx/RAE-collections/DiTs/Dinov2/wReg_base/ImageNet256/DiTDH-XL/stage2_model.pt" in line
    assert "HF_HUB_OFFLINE is set; run `rae download dit-dh-xl-256-ag` while online" in line


def test_missing_file_in_models_dir(rae, env, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(env.models_dir, models)
    (models / "nyu-visionx/RAE-collections/stats/dinov2/wReg_base/imagenet1k/stat.pt").unlink()
    line = fails(rae, *SAMPLE, "--class", "1", "--models-dir", models,
                 match="stats/dinov2/wReg_base/imagenet1k/stat.pt")
    assert f"models folder {models}" in line and "(with the same --models-dir)" in line


def test_wrong_kind_of_checkpoint(rae, env, tmp_path):
    presets = json.loads(env.presets.read_text())
    presets["models"]["dit-dh-xl-256"]["filename"] = "decoders/dinov2/wReg_base/ViTXL_n08/model.pt"
    path = tmp_path / "wrong.json"
    path.write_text(json.dumps(presets))
    line = fails(rae, *SAMPLE, "--class", "1", "--presets", path, match="does not match the expected DiTDHConfig")
    assert "ViTXL_n08/model.pt" in line and "missing keys" in line and "Is it the right file" in line


def test_truncated_checkpoint(rae, env, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(env.models_dir, models)
    dit = models / "nyu-visionx/RAE-collections/DiTs/Dinov2/wReg_base/ImageNet256/DiTDH-XL/stage2_model.pt"
    dit.write_bytes(dit.read_bytes()[:1000])
    fails(rae, *SAMPLE, "--class", "1", "--models-dir", models, match="truncated or corrupt")


def test_model_folder_errors(rae, tmp_path):
    fails(rae, *SAMPLE, "--class", "1", "--model", tmp_path / "nope", match="does not exist")
    (tmp_path / "empty").mkdir()
    fails(rae, *SAMPLE, "--class", "1", "--model", tmp_path / "empty", match="has no config.json")
    (tmp_path / "dec").mkdir()
    (tmp_path / "dec" / "config.json").write_text(json.dumps({"type": "DecoderConfig"}))
    fails(rae, *SAMPLE, "--class", "1", "--model", tmp_path / "dec", match="not a diffusion transformer")


@pytest.mark.parametrize("extra, match", [
    (["--quantize", "8", "--backend", "torch"], "--quantize works with the MLX backend only"),
    (["--config", "x.yaml", "--preset", "dit-dh-xl-256"], "cannot be combined with --preset or --model"),
    (["--grid", "--output", "g-{seed}.png"], "--grid writes one image: its --output cannot have placeholders"),
    (["--guidance", "none", "--scale", "2"], "--scale and --interval need guidance"),
    (["--guidance", "cfg", "--interval", "0.5"], "--interval must be LO,HI"),
    (["--guidance", "cfg", "--interval", "0.9,0.1"], "--interval needs 0 <= LO < HI <= 1"),
    (["--preset", "dit-dh-xl-256", "--guidance", "cfg"], "needs a --scale (this pipeline samples unguided)"),
    (["--preset", "dit-dh-xl-256", "--guidance", "autoguidance", "--scale", "2"],
     "autoguidance needs a guidance model"),
    (["--output", "out.jpg"], "must end in .png"),
    (["--output", "x-{foo}.png"], "unknown placeholders ['foo']"),
    (["-n", "2", "--output", "s-{seed}-{class}.png"], "gives several images the same file name; add {index}"),
    (["--preset", "dit-dh-xl-265-ag"], "unknown pipeline preset 'dit-dh-xl-265-ag'; did you mean dit-dh-xl-256-ag"),
    (["--from-metadata", "x.png", "--class", "2"], "cannot be combined with --class"),
    (["--steps", "1"], "Invalid value for '--steps'"),
    (["--sampler", "dopri5"], "Invalid value for '--sampler'"),
    (["--bogus"], "No such option '--bogus'"),
])
def test_unsupported_option_combinations(rae, extra, match):
    fails(rae, *SAMPLE, "--class", "1", *extra, match=match)


def test_replay_of_a_file_without_metadata(rae, tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    fails(rae, "sample", "--from-metadata", tmp_path / "plain.png", match="carries no rae metadata")
    (tmp_path / "notes.txt").write_text("hello")
    fails(rae, "sample", "--from-metadata", tmp_path / "notes.txt", match="is not an image")


def test_not_an_image(rae, tmp_path):
    (tmp_path / "notes.txt").write_text("not pixels")
    fails(rae, "reconstruct", tmp_path / "notes.txt", match="notes.txt is not an image Pillow can read")
    fails(rae, "reconstruct", tmp_path / "missing.png", match="missing.png does not exist")


def test_presets_file_errors(rae, tmp_path):
    fails(rae, *SAMPLE, "--class", "1", "--presets", tmp_path / "none.json", match="does not exist")
    (tmp_path / "bad.json").write_text("{")
    fails(rae, *SAMPLE, "--class", "1", "--presets", tmp_path / "bad.json", match="is not valid JSON")
    (tmp_path / "typo.json").write_text(json.dumps({"models": {"dit-dh-xl-256": {"config": {"depht": [1, 1]}}}}))
    fails(rae, *SAMPLE, "--class", "1", "--presets", tmp_path / "typo.json",
          match="unknown DiTDHConfig fields ['depht']")


def test_debug_shows_the_traceback(rae):
    result = rae(*SAMPLE, "--class", "1000", "--debug", ok=False)
    assert result.exit_code == 2 and "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "error: class 1000 is out of range: this model has classes 0-999"


def test_interrupt_leaves_no_partial_files(rae, monkeypatch, tmp_path):
    from rae_apps.engines import torch_engine

    original, calls = torch_engine.TorchEngine.decode, []

    def decode_then_interrupt(self, latents):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, latents)

    monkeypatch.setattr(torch_engine.TorchEngine, "decode", decode_then_interrupt)
    result = rae(*SAMPLE, "--class", "1", "--class", "2", "--batch-size", "1", "--output", "out/{index}.png",
                 "--metadata", ok=False)
    assert result.exit_code == 130 and "interrupted" in result.stderr
    assert sorted(p.name for p in Path("out").iterdir()) == ["0.json", "0.png"]  # the finished image, no temp files


def test_interrupt_while_writing_removes_the_temporary_file(tmp_path):
    from rae_spec.files import atomic_path

    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "a.png") as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------- YAML errors


@pytest.mark.parametrize("change, match", [
    (lambda c: c["sampler"]["params"].update(sampling_method="dopri5"), "sampler method 'dopri5' is not supported"),
    (lambda c: c["sampler"]["params"].pop("sampling_method"), "sampler method 'dopri5' is not supported"),
    (lambda c: c["sampler"]["params"].update(reverse=True), "reverse: True"),
    (lambda c: c["guidance"].pop("guidance_model"), "autoguidance needs a guidance.guidance_model block"),
    (lambda c: c["stage_2"]["params"].update(depht=[1, 1]), "unknown DiTDHConfig fields ['depht']"),
    (lambda c: c["stage_2"].update(target="stage2.models.Other"), "stage_2.target must be a DiTwDDTHead"),
    (lambda c: c["stage_2"].update(ckpt="nowhere/model.pt"), "stage_2.ckpt 'nowhere/model.pt' is not a local file"),
    (lambda c: c["stage_1"]["params"].update(encoder_cls="Dinov3"), "encoder_cls 'Dinov3' is not one of"),
    (lambda c: c["stage_1"]["params"].update(frobnicate=1), "stage_1.params has unknown keys ['frobnicate']"),
    (lambda c: c["misc"].update(latent_size=[32, 8, 8]), "misc.latent_size [32, 8, 8] does not match"),
    (lambda c: c["misc"].pop("time_dist_shift_dim"), "is below 1, which the reference rejects"),
    (lambda c: c["transport"]["params"].update(path_type="GVP"), "transport path_type 'GVP' is not supported"),
    (lambda c: c["sampler"].update(mode="ODEX"), "sampler.mode must be ODE or SDE"),
    (lambda c: c["sampler"].update(mode="SDE"), "SDE diffusion_form 'SBDM' is not supported"),
    (lambda c: c["stage_1"]["params"].update(decoder_patch_size=16), "model.pt does not match the expected Decoder"),
    (lambda c: c["misc"].update(null_label=5), "misc.null_label 5 is not supported"),
])
def test_reference_yaml_errors(rae, env, tmp_path, change, match):
    cfg = tiny.sampling_yaml(env.files)
    change(cfg)
    path = tiny.write_yaml(tmp_path / "bad.yaml", cfg)
    fails(rae, *SAMPLE, "--class", "1", "--config", path, match=match)


def test_yaml_that_is_not_yaml(rae, tmp_path):
    (tmp_path / "x.yaml").write_text("stage_1: [unclosed")
    fails(rae, *SAMPLE, "--class", "1", "--config", tmp_path / "x.yaml", match="is not valid YAML")
    fails(rae, *SAMPLE, "--class", "1", "--config", tmp_path / "missing.yaml", match="does not exist")


@pytest.mark.parametrize("args", [(), ("train",)])
def test_a_group_without_its_command_prints_its_help(rae, args):
    """`rae` alone shows the help as help (exit 2 as click does), not folded into one `error:` line."""
    if args and "train" not in rae("--help").stdout:
        pytest.skip("the training CLI is not installed")
    result = rae(*args, ok=False)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Usage: rae {' '.join(args)}".rstrip() + " [OPTIONS] COMMAND")
    assert "\nCommands:\n" in result.stderr and "error:" not in result.stderr


@pytest.mark.parametrize("extra, match", [
    (("--grid", "-o", "g-{seed}.png"), "--grid writes one image: its --output cannot have placeholders"),
    (("-o", "x-{colour}.png"), "has unknown placeholders ['colour']"),
    (("-o", "x-{seed}.jpg"), "images are written as PNG"),
])
def test_a_bad_output_template_is_found_before_any_download(rae, monkeypatch, tmp_path, extra, match):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))  # nothing downloaded: the template comes first
    fails(rae, *SAMPLE, "--class", "1", *extra, match=match)
