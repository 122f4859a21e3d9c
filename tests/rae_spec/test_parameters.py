"""expected_parameters must equal the reference's key manifests for every full-size preset."""

import json

import pytest

from rae_spec import MODELS, expected_parameters, parameter_count

MANIFEST_PRESETS = {
    "ditdh_xl_dinov2b_256px": "dit-dh-xl-256",
    "ditdh_xl_dinov2b_512px": "dit-dh-xl-512",
    "ditdh_s_guidance_256px": "dit-dh-s-256-guidance",
    "ditdh_s_guidance_512px": "dit-dh-s-512-guidance",
    "decoder_vitxl_dinov2b_256px": "decoder-dinov2-b-xl-256",
    "decoder_vitxl_dinov2b_512px": "decoder-dinov2-b-xl-512",
    "dinov2_with_registers_base": "dinov2-b-reg",
}
ENCODER_PRESETS = {"siglip2-base-patch16-256": "siglip2-b", "vit-mae-base": "mae-b"}


@pytest.fixture(scope="module")
def manifest(reference_root):
    return json.loads((reference_root / "key_manifest.json").read_text())["models"]


@pytest.fixture(scope="module")
def encoder_manifest(reference_root):
    path = reference_root / "key_manifest_encoders.json"
    if not path.is_file():
        pytest.skip("no encoder manifest")
    return json.loads(path.read_text())["models"]


@pytest.mark.parametrize("entry, preset", sorted(MANIFEST_PRESETS.items()))
def test_matches_manifest(manifest, entry, preset):
    m = manifest[entry]
    cfg = MODELS[preset].config
    expected = [(k["key"], tuple(k["shape"])) for k in m["keys"]]
    assert list(expected_parameters(cfg).items()) == expected  # same keys, shapes and order
    assert parameter_count(cfg) == m["num_parameters_all"]
    assert parameter_count(cfg, trainable_only=True) == m["num_parameters_trainable"]


@pytest.mark.parametrize("entry, preset", sorted(ENCODER_PRESETS.items()))
def test_matches_encoder_manifest(encoder_manifest, entry, preset):
    m = encoder_manifest[entry]
    cfg = MODELS[preset].config
    assert expected_parameters(cfg) == {k: tuple(v) for k, v in m["keys"].items()}
    assert parameter_count(cfg) == m["num_parameters"]


def test_every_preset_has_a_manifest_of_its_kind():
    for p in MODELS.values():
        params = expected_parameters(p.config)
        assert params and all(all(s > 0 for s in shape) for shape in params.values()), p.name
