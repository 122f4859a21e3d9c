"""rae_spec.reference_yaml: the one reading of the reference's YAMLs (sampling, training, conversion)."""

import pytest

from rae_spec.configs import ConfigError, DiTDHConfig, LightningDiTConfig
from rae_spec.encoders import KINDS
from rae_spec.presets import RAE_REPO
from rae_spec.reference_yaml import ReferenceConfig, builtin_decoder_size, hub_file, load_yaml

DIT = {"target": "stage2.models.DDT.DiTwDDTHead",
       "params": {"input_size": 4, "in_channels": 8, "hidden_size": [32, 64], "depth": [1, 1], "num_heads": [2, 2],
                  "patch_size": [1, 1]}, "ckpt": "models/x.pt"}


def test_loader_is_safe_reads_omegaconf_floats_and_interpolates(tmp_path):
    (tmp_path / "a.yaml").write_text("a: 1e-6\nb: ${a}\nc: [2.0e-4, 3]\n")
    assert load_yaml(tmp_path / "a.yaml") == {"a": 1e-6, "b": 1e-6, "c": [2e-4, 3]}
    (tmp_path / "b.yaml").write_text("a: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(tmp_path / "b.yaml")
    (tmp_path / "c.yaml").write_text("a: ${nowhere.x}\n")
    with pytest.raises(ConfigError, match="missing key"):
        load_yaml(tmp_path / "c.yaml")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_stage1_reads_every_encoder_class_and_its_weights_param(kind):
    record = KINDS[kind]
    ref = ReferenceConfig({"stage_1": {"target": "stage1.RAE", "params": {
        "encoder_cls": record.reference_class, "encoder_config_path": "org/processor",
        "encoder_params": {record.reference_weights_param: "org/weights"},
        "decoder_config_path": "configs/decoder/ViTL", "encoder_input_size": 32}}})
    s1 = ref.stage1()
    assert s1.encoder is record and s1.encoder_weights == "org/weights" and s1.encoder_config_path == "org/processor"
    assert s1.noise_tau == 0.8 and s1.eps == 1e-5 and s1.decoder_weights is None
    assert builtin_decoder_size(s1.decoder_config_path) == "L"


@pytest.mark.parametrize("block, method, scale, interval, guided", [
    ({"method": "cfg", "scale": 1.0}, "cfg", 1.0, (0.0, 1.0), False),
    ({"method": "cfg", "scale": 0.5}, "cfg", 0.5, (0.0, 1.0), False),
    ({"method": "guided", "scale": 2.0, "t-min": 0.25, "t-max": 0.75}, "cfg", 2.0, (0.25, 0.75), True),
    ({"scale": 2.0, "t_min": 0.1, "t-min": 0.3}, "cfg", 2.0, (0.1, 1.0), True),
    ({"scale": 2.0, "t_min": 0.8, "t_max": 0.2}, "cfg", 2.0, (0.8, 0.2), False),
])
def test_guidance_spellings_and_when_the_reference_guides(block, method, scale, interval, guided):
    g = ReferenceConfig({"guidance": block}).guidance()
    assert (g.method, g.scale, (g.t_min, g.t_max), g.guided) == (method, scale, interval, guided)
    assert g.config().active == guided
    assert ReferenceConfig({"guidance": block}).guidance(scale=1.0).config().active is False  # cfg_scale override


def test_autoguidance_reads_the_guide_block_and_the_dits():
    ref = ReferenceConfig({"stage_2": DIT, "guidance": {
        "method": "autoguidance", "scale": 1.5,
        "guidance_model": {**DIT, "target": "stage2.models.lightningDiT.LightningDiT",
                           "params": {"input_size": 4, "in_channels": 8, "hidden_size": 32, "depth": 1,
                                      "num_heads": 2, "use_gembed": True}}}})
    dit = ref.stage2()
    assert isinstance(dit.config, DiTDHConfig) and dit.config.patch_size == 1 and dit.ckpt == "models/x.pt"
    g = ref.guidance()
    assert isinstance(g.guide.config, LightningDiTConfig) and g.guide.what == "guidance.guidance_model"
    with pytest.raises(ConfigError, match="guidance_model block"):
        ReferenceConfig({"guidance": {"method": "autoguidance", "scale": 2.0}}).guidance()


def test_transport_and_shift_defaults_follow_the_reference():
    ref = ReferenceConfig({"misc": {"latent_size": [8, 4, 4], "time_dist_shift_base": 32}})
    t = ref.transport((8, 4, 4))
    assert t.time_dist_type == "uniform" and t.time_dist_shift == pytest.approx(2.0)
    assert "prod(latent_size) = 128" in ref.notes[0]
    with pytest.raises(ConfigError, match="does not match the DiT's latents"):
        ref.transport((8, 2, 2))
    with pytest.raises(ConfigError, match="below 1"):
        ReferenceConfig({"misc": {"latent_size": [8, 4, 4]}}).shift((8, 4, 4))


def test_hub_file_references():
    assert hub_file("models/stats/x/stat.pt") == (RAE_REPO, "stats/x/stat.pt")
    assert hub_file("hf://org/repo/a/b.pt") == ("org/repo", "a/b.pt")
    assert hub_file("org/repo/file.pt") == ("org/repo", "file.pt")
    assert hub_file("./local/file.pt") is None and hub_file("file.pt") is None
