import dataclasses
import json
import subprocess
import sys

import pytest

from rae_spec import (
    MODELS,
    PIPELINES,
    ConfigError,
    DecoderConfig,
    DiTDHConfig,
    EncoderConfig,
    GuidanceConfig,
    LightningDiTConfig,
    RAEConfig,
    SamplerConfig,
    StatsConfig,
    TransportConfig,
    from_dict,
    from_json,
    to_json,
)

ALL = [EncoderConfig(), DecoderConfig(), RAEConfig(), DiTDHConfig(), LightningDiTConfig(), StatsConfig(),
       TransportConfig(), SamplerConfig(), GuidanceConfig("autoguidance", 1.42, 0.1, 0.9)]


@pytest.mark.parametrize("config", ALL, ids=lambda c: type(c).__name__)
def test_json_round_trip(config):
    text = to_json(config)
    assert from_json(text) == config
    assert from_json(text, type(config)) == config
    json.loads(text)  # plain JSON


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_preset_config_round_trips(name):
    cfg = MODELS[name].config
    assert from_json(to_json(cfg)) == cfg


def test_pipeline_presets_are_consistent():
    for p in PIPELINES.values():
        rae = p.rae_config()
        dit = MODELS[p.dit].config
        assert dit.latent_shape == rae.latent_shape
        assert p.transport.time_dist_shift_dim == dit.in_channels * dit.input_size**2
        assert MODELS[p.stats].config.shape == rae.latent_shape
        if p.guide:
            assert MODELS[p.guide].config.latent_shape == dit.latent_shape
    ag = PIPELINES["dit-dh-xl-256-ag"]
    assert (ag.guidance.method, ag.guidance.scale, ag.sampler.num_steps) == ("autoguidance", 1.42, 50)
    assert PIPELINES["dit-dh-xl-512-ag"].guidance.scale == 1.5


def test_reference_kwargs_build_configs():
    cfg = DiTDHConfig(**{"input_size": 16, "patch_size": 1, "in_channels": 768, "hidden_size": [1152, 2048],
                         "depth": [28, 2], "num_heads": 16, "mlp_ratio": 4, "class_dropout_prob": 0.1})
    assert cfg.num_heads == (16, 16) and cfg.hidden_size == (1152, 2048) and cfg.null_label == 1000
    assert DiTDHConfig(class_dropout_prob=0.0).null_label is None


@pytest.mark.parametrize("bad, match", [
    (lambda: DiTDHConfig(hidden_size=(100, 2048), num_heads=(16, 16)), "divisible"),
    (lambda: SamplerConfig(num_steps=1), "num_steps"),
    (lambda: SamplerConfig(mode="sde", method="heun"), "euler"),
    (lambda: GuidanceConfig("cfg", 2.0, 0.9, 0.1), "t_min < t_max"),
    (lambda: GuidanceConfig("free"), "guidance method"),
    (lambda: TransportConfig(time_dist_type="beta"), "time_dist_type"),
    (lambda: RAEConfig(encoder_input_size=225), "multiple"),
    (lambda: RAEConfig(encoder_input_size=448), "num_patches"),
    (lambda: EncoderConfig(kind="clip"), "dinov2, siglip2 or mae"),
])
def test_bad_configs_say_what_is_allowed(bad, match):
    with pytest.raises(ConfigError, match=match):
        bad()


def test_unknown_fields_are_rejected():
    d = json.loads(to_json(SamplerConfig()))
    d["num_step"] = 10
    with pytest.raises(ConfigError, match="num_step"):
        from_dict(d)


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SamplerConfig().num_steps = 3


def test_rae_spec_imports_without_torch_or_mlx():
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('torch', 'mlx'):\n"
            "            raise ImportError('blocked ' + name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "import rae_spec, rae_spec.presets, rae_spec.schedule, rae_spec.resample, rae_spec.hf, rae_spec.tables\n"
            "assert not any(m.split('.')[0] in ('torch', 'mlx') for m in sys.modules)\n")
    subprocess.run([sys.executable, "-c", code], check=True)
