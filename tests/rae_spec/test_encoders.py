"""rae_spec.encoders: one record per encoder kind, read by configs, manifests, conversion and loaders."""

import importlib.util

import pytest

from rae_spec.configs import ConfigError, EncoderConfig
from rae_spec.encoders import KINDS, canonical_key, encoder_kind
from rae_spec.hf import encoder_config_from_hf
from rae_spec.parameters import expected_parameters, model_parameters

SMALL = dict(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32, patch_size=4, image_size=16)


def small(kind: str) -> EncoderConfig:
    record = KINDS[kind]
    return EncoderConfig(kind=kind, **SMALL, num_register_tokens=4 if record.registers else 0,
                         image_mean=record.image_mean, image_std=record.image_std)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_record_facts_agree_with_the_manifest(kind):
    record, config = KINDS[kind], small(kind)
    keys = expected_parameters(config)
    assert len(keys[record.patch_conv]) == 4  # the one convolution: MLX re-lays it out
    assert all(k.startswith(record.weight_prefix) for k in keys)
    for unused in record.unused:
        assert any(k == unused or (unused.endswith(".") and k.startswith(unused)) for k in keys)
    assert set(model_parameters(config)) < set(keys)
    assert config.num_leading_tokens == int(record.cls_token) + (4 if record.registers else 0)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_hf_config_round_trip_and_aliases(kind):
    record = KINDS[kind]
    hf = {"model_type": record.hf_model_types[0], "hidden_size": 16, "num_hidden_layers": 1,
          "num_attention_heads": 2, "intermediate_size": 32, "mlp_ratio": 2, "patch_size": 4, "image_size": 16}
    if record.hf_vision_config:
        hf = {"model_type": hf["model_type"], record.hf_vision_config: hf}
    config = encoder_config_from_hf(hf)
    assert config.kind == kind and config.image_mean == record.image_mean and config.intermediate_size == 32
    for alias in record.aliases:
        assert encoder_kind(alias) is record and EncoderConfig(kind=alias, **SMALL, num_register_tokens=0).kind == kind
    for new, old in record.key_aliases:
        assert canonical_key(f"a{new}weight", kind) == f"a{old}weight"


@pytest.mark.parametrize("backend", ["rae_torch", "rae_mlx"])
def test_every_kind_has_its_model_class_in_both_backends(backend):
    if importlib.util.find_spec(backend.replace("rae_", "")) is None:
        pytest.skip(f"{backend} is not installed")
    for record in KINDS.values():
        cls = record.module_class(backend)
        assert cls.__name__ == record.class_name and cls.__module__ == f"{backend}.encoders.{record.module}"


def test_unknown_kinds_are_config_errors():
    with pytest.raises(ConfigError, match="encoder kind must be dinov2, siglip2 or mae"):
        EncoderConfig(kind="dinov3")
    with pytest.raises(ConfigError, match="unsupported encoder model_type"):
        encoder_config_from_hf({"model_type": "clip"})
