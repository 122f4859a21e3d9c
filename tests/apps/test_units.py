"""The pieces behind the CLI: class vocabulary, generation order and noise, reference-YAML semantics."""

import numpy as np
import pytest
from rae_apps.classes import ClassVocabulary, imagenet, normalize
from rae_apps.errors import UserError
from rae_apps.hub import Store
from rae_apps.plan import chunks, generation_order
from rae_apps.reference_yaml import load_yaml, sampling_pipeline

from rae_spec.imagenet import NAMES, SYNSETS
from rae_spec.noise import RowsOfBatch, rows_noise

from . import tiny

# ---------------------------------------------------------------------------------------------- classes


def test_imagenet_vocabulary_is_in_imagefolder_order():
    assert len(NAMES) == len(SYNSETS) == 1000 and list(SYNSETS) == sorted(SYNSETS)
    assert NAMES[207][0] == "golden retriever" and NAMES[360][0] == "otter" and NAMES[0][0] == "tench"
    assert SYNSETS[207] == "n02099601"


@pytest.mark.parametrize("text, expected", [
    ("207", 207), (" 207 ", 207), ("Golden Retriever", 207), ("golden_retriever", 207), ("GOLDEN-RETRIEVER", 207),
    ("otter", 360), ("Tinca tinca", 0), ("ATM", 480), ("cash machine", 480), ("devil's darning needle", 319),
])
def test_class_ids_and_any_synonym(text, expected):
    assert imagenet().parse(text) == expected


def test_unknown_and_ambiguous_names():
    with pytest.raises(UserError, match=r"did you mean 'golden retriever' \(207\)"):
        imagenet().parse("golden retreiver")
    with pytest.raises(UserError, match="ambiguous"):
        imagenet().parse("maillot")
    with pytest.raises(UserError, match="see `rae classes`"):
        imagenet().parse("qqqqqqqq")


def test_vocabulary_without_names():
    v = ClassVocabulary(10)
    assert v.parse("3") == 3 and v.name(3) == "3"
    with pytest.raises(UserError, match="classes are ids 0-9 and have no names"):
        v.parse("three")
    assert normalize("  Great_White-shark ") == "great white shark"


# ---------------------------------------------------------------------------------------------- plan


def test_generation_order_is_seed_then_class_then_repeat():
    items = generation_order([7, 3], [5, 1], 2)
    assert [(i.index, i.seed, i.row, i.class_id) for i in items] == [
        (0, 7, 0, 5), (1, 7, 1, 5), (2, 7, 2, 1), (3, 7, 3, 1),
        (4, 3, 0, 5), (5, 3, 1, 5), (6, 3, 2, 1), (7, 3, 3, 1)]
    assert [[i.index for i in c] for c in chunks(items, 3)] == [[0, 1, 2], [3], [4, 5, 6], [7]]


def test_noise_rows_do_not_depend_on_the_work_split():
    shape = (4, 2, 2)
    full = np.random.default_rng(9).standard_normal((5, *shape), dtype=np.float32)
    parts = [rows_noise(9, 5, rows, shape)[0] for rows in ([0, 1], [2, 3, 4])]
    assert np.array_equal(np.concatenate(parts), full)
    # the SDE continues from the same generator, also drawn for the whole logical batch
    a, b = RowsOfBatch(9, 5, [1, 3]), RowsOfBatch(9, 5, [0, 1, 2, 3, 4])
    for rng in (a, b):
        rng.standard_normal((len(rng.rows), *shape))
    assert np.array_equal(a.standard_normal((2, *shape)), b.standard_normal((5, *shape))[[1, 3]])


# ---------------------------------------------------------------------------------------------- YAML


def test_yaml_floats_and_interpolation(tmp_path):
    (tmp_path / "c.yaml").write_text("a: 1e-6\nb: 1.5\nc: '${a}'\nd:\n  e: ${b}\nf: 4096\n")
    assert load_yaml(tmp_path / "c.yaml") == {"a": 1e-6, "b": 1.5, "c": 1e-6, "d": {"e": 1.5}, "f": 4096}


def _pipe(env, tmp_path, change=None, store=None):
    cfg = tiny.sampling_yaml(env.files)
    if change:
        change(cfg)
    return sampling_pipeline(tiny.write_yaml(tmp_path / "c.yaml", cfg), store or Store())


@pytest.mark.parametrize("guidance, expected", [
    ({"method": "cfg", "scale": 1.0}, ("none", 1.0, 0.0, 1.0)),  # the released unguided config
    ({"method": "cfg", "scale": 0.5}, ("none", 1.0, 0.0, 1.0)),  # scale <= 1 is unguided in the reference
    ({"method": "cfg", "scale": 2.0, "t-min": 0.25, "t-max": 0.75}, ("cfg", 2.0, 0.25, 0.75)),
    ({"method": "cfg", "scale": 2.0, "t_min": 0.1, "t-min": 0.3}, ("cfg", 2.0, 0.1, 1.0)),  # t_min wins, as in ddp
    ({"method": "guided", "scale": 2.0}, ("cfg", 2.0, 0.0, 1.0)),  # not 'autoguidance' -> cfg, as in the reference
    ({"method": "cfg", "scale": 2.0, "t-min": 0.8, "t-max": 0.2}, ("none", 1.0, 0.0, 1.0)),  # empty interval
    ({}, ("none", 1.0, 0.0, 1.0)),
])
def test_guidance_semantics(env, tmp_path, guidance, expected):
    pipe = _pipe(env, tmp_path, lambda c: c.__setitem__("guidance", guidance))
    g = pipe.guidance
    assert (g.method, g.scale, g.t_min, g.t_max) == expected and pipe.guide is None


def test_sampler_semantics(env, tmp_path):
    pipe = _pipe(env, tmp_path, lambda c: c["sampler"]["params"].update(sampling_method="heun2", num_steps=17))
    assert (pipe.sampler.mode, pipe.sampler.method, pipe.sampler.num_steps) == ("ode", "heun", 17)
    pipe = _pipe(env, tmp_path, lambda c: c["sampler"].update(mode="sde", params={"sampling_method": "Euler",
                                                                                   "diffusion_form": "sigma"}))
    assert (pipe.sampler.mode, pipe.sampler.num_steps) == ("sde", 250) and any("SDE" in n for n in pipe.notes)


def test_shift_defaults_follow_sample_ddp(env, tmp_path):
    def no_dim(c):
        c["misc"].pop("time_dist_shift_dim")
        c["misc"]["time_dist_shift_base"] = 128

    pipe = _pipe(env, tmp_path, no_dim)
    assert pipe.shift == pytest.approx(2.0)  # sqrt(prod(latent_size) / base)
    assert "as the reference's sample_ddp.py does" in pipe.notes[0]
    assert _pipe(env, tmp_path).shift == pytest.approx(6**0.5)


def test_paths_relative_to_the_config_and_hub_references(env, tmp_path, monkeypatch):
    """Relative paths resolve beside the YAML (or above it); models/<path> and hf:// name hub files."""
    import shutil

    repo = tmp_path / "RAE"
    shutil.copytree(env.files["encoder"].parent, repo / "models")
    cfg = tiny.sampling_yaml(env.files)
    p = cfg["stage_1"]["params"]
    p["pretrained_decoder_path"] = "models/decoders/dinov2/wReg_base/ViTXL_n08/model.pt"  # local, repo-relative
    p["normalization_stat_path"] = "models/stats/dinov2/wReg_base/imagenet1k/stat.pt"
    p["encoder_config_path"] = p["encoder_params"]["dinov2_path"] = "facebook/dinov2-with-registers-base"  # hub id
    p["decoder_config_path"] = "configs/decoder/ViTXL"  # the reference repo's folder, not here: built in
    cfg["stage_2"]["ckpt"] = "nyu-visionx/RAE-collections/DiTs/Dinov2/wReg_base/ImageNet256/DiTDH-XL/stage2_model.pt"
    cfg["guidance"]["guidance_model"]["ckpt"] = "hf://nyu-visionx/RAE-collections/DiTs/Dinov2/wReg_base/ImageNet256/" \
                                                "DiTDH-S_ep14/stage2_model.pt"
    (repo / "configs/stage2/sampling").mkdir(parents=True)
    path = tiny.write_yaml(repo / "configs/stage2/sampling/x.yaml", cfg)
    monkeypatch.chdir(tmp_path)
    pipe = sampling_pipeline(path, Store())
    assert pipe.decoder.path == repo / p["pretrained_decoder_path"]
    assert pipe.dit.origin == cfg["stage_2"]["ckpt"] and str(env.cache) in str(pipe.dit.path)
    assert pipe.guide.origin.startswith("nyu-visionx/RAE-collections/") and pipe.guide.path.is_file()
    assert pipe.rae.decoder.hidden_size == 1152 and pipe.rae.decoder.num_layers == 28  # ViT-XL, built in
    assert pipe.rae.encoder.hidden_size == tiny.C and any("ViT-XL decoder" in n for n in pipe.notes)
    # models/<path> falls back to nyu-visionx/RAE-collections when the local file is not there
    shutil.rmtree(repo / "models/stats")
    assert str(env.cache) in str(sampling_pipeline(path, Store()).stats.path)


def test_lightningdit_target(env, tmp_path):
    def lightning(c):
        c["stage_2"]["target"] = "stage2.models.lightningDiT.LightningDiT"
        c["stage_2"]["params"] = {"input_size": 4, "in_channels": tiny.C, "hidden_size": 32, "depth": 1,
                                  "num_heads": 2, "use_gembed": True}
        c["guidance"] = {"method": "cfg", "scale": 1.0}

    from rae_spec.configs import LightningDiTConfig
    from rae_torch import CheckpointError, load_model

    pipe = _pipe(env, tmp_path, lightning)
    assert isinstance(pipe.dit.config, LightningDiTConfig) and pipe.dit.config.hidden_size == 32
    with pytest.raises(CheckpointError, match="LightningDiTConfig"):  # a DiT^DH file does not fit: a clear error
        load_model(pipe.dit.path, pipe.dit.config)


def test_released_encoder_hub_id_falls_back_to_its_preset(env, tmp_path, monkeypatch):
    """Sampling needs only the encoder's config; a released encoder's id works even when not downloaded."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    cfg = tiny.sampling_yaml(env.files, method="cfg", scale=1.0)
    p = cfg["stage_1"]["params"]
    p["encoder_config_path"] = p["encoder_params"]["dinov2_path"] = "facebook/dinov2-with-registers-base"
    with pytest.raises(UserError, match="the DiT works on latents"):  # the real DINOv2-B has 768 channels
        sampling_pipeline(tiny.write_yaml(tmp_path / "c.yaml", cfg), Store())
    from rae_apps.reference_yaml import Resolver, _encoder_config

    r = Resolver(tmp_path / "c.yaml", Store(), download=True)
    enc = _encoder_config(r, "facebook/dinov2-with-registers-base", "facebook/dinov2-with-registers-base", "x")
    assert enc.hidden_size == 768 and enc.image_mean == (0.485, 0.456, 0.406) and "built-in config" in r.notes[0]
    with pytest.raises(UserError, match="not in the Hugging Face cache"):
        _encoder_config(r, "someone/else", "someone/else", "dinov2_path")
