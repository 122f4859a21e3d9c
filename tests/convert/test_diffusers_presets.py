"""The six diffusers-format RAE repos at full size, from the layouts diffusers 0.42.1 itself writes for them
(tests/fixtures/diffusers_presets, built on the meta device): each is read as its preset, its parts match
expected_parameters and load into both backends' modules without allocating weights; config.json mismatches
are errors that name the fields; tiny folders of every variant load on both backends."""

import json

import numpy as np
import pytest
import torch
from rae_convert import CheckpointError, diffusers

from rae_spec.configs import DecoderConfig, EncoderConfig, RAEConfig, StatsConfig
from rae_spec.parameters import expected_parameters, model_parameters, unused_parameters
from rae_spec.presets import AUTOENCODERS, DIFFUSERS_RAES, MODELS, diffusers_rae
from tests import diffusers_format

LAYOUTS = diffusers_format.layouts()


def _fields(layout: dict) -> dict:
    shapes = {k: tuple(s) for k, (_, s) in layout["tensors"].items()}
    return {**diffusers.fields(layout["config"], shapes, {}), "has_latent_mean": shapes["_latents_mean"] != (1,)}


@pytest.mark.parametrize("name", list(DIFFUSERS_RAES))
def test_full_size_layout_is_read_as_the_preset(name):
    repo, _, _, has_mean, _ = DIFFUSERS_RAES[name]
    layout = LAYOUTS["repos"][repo]
    shapes = {k: tuple(s) for k, (_, s) in layout["tensors"].items()}
    rae = diffusers_rae(name)
    # The writer the tiny folders below use lays tensors out exactly as diffusers does.
    assert diffusers_format.shapes(rae, has_mean) == shapes
    f = _fields(layout)
    assert diffusers.rae_config(f, shapes) == rae
    parts = {p: MODELS[f"{name}.{p}"] for p in ("encoder", "decoder", "stats")}
    assert AUTOENCODERS[name].encoder == parts["encoder"].name and parts["encoder"].diffusers
    for preset in parts.values():
        assert preset.repo == repo and preset.files == ("config.json", "diffusion_pytorch_model.safetensors")
        assert diffusers.mismatches(f, preset.config) == []
    assert parts["stats"].config == StatsConfig(rae.encoder.hidden_size, rae.latent_grid, has_mean)

    meta = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    for prefix, config in (("encoder.", rae.encoder), ("decoder.", rae.decoder)):
        found = diffusers.official_tensors(meta, rae.encoder.kind, prefix)
        expected = expected_parameters(config)
        assert all(tuple(v.shape) == expected[k] for k, v in found.items())  # every stored tensor is expected
        absent = set(expected) - set(found)
        assert absent == (unused_parameters(config) - set(found) if prefix == "encoder." else {"decoder_pos_embed"})
        found = {k: v for k, v in found.items() if k in model_parameters(config)}
        if prefix == "decoder.":  # recomputed on load, as diffusers does
            found["decoder_pos_embed"] = torch.empty(expected["decoder_pos_embed"], device="meta")
        _loads_in_torch_on_meta(config, found)
        _fits_mlx(config, found)


def _loads_in_torch_on_meta(config, tensors):
    from rae_torch import build_model
    from rae_torch.checkpoint import match_state_dict

    with torch.device("meta"):
        module = build_model(config)
    module.load_state_dict(match_state_dict(tensors, config), strict=True, assign=True)


def _fits_mlx(config, tensors):
    """The MLX module (built lazily: nothing is allocated) has exactly these tensors, in MLX layout."""
    pytest.importorskip("mlx.core")
    from mlx.utils import tree_flatten
    from rae_convert.layout import layout_plan

    from rae_mlx.checkpoint import build_model

    plan = layout_plan(config)
    mlx_shapes = {k: tuple(v.shape) for k, v in tree_flatten(build_model(config).parameters())}
    assert mlx_shapes == {k: plan[k].mlx_shape for k in tensors}


def test_a_config_json_that_differs_names_every_field():
    """E.g. diffusers' conversion script builds 12 encoder layers unless told otherwise: a DINOv2-L repo saved that
    way holds a truncated encoder, and loading it as dinov2-l must say so."""
    layout = json.loads(json.dumps(LAYOUTS["repos"][DIFFUSERS_RAES["dinov2-l"][0]]))
    layout["config"].update(encoder_num_hidden_layers=12, encoder_input_size=252, encoder_norm_mean=[0.5] * 3)
    f = _fields(layout)
    bad = diffusers.mismatches(f, MODELS["dinov2-l.encoder"].config)
    assert bad == ["encoder_num_hidden_layers 12, expected 24", "encoder_norm_mean [0.5, 0.5, 0.5], expected "
                   "[0.485, 0.456, 0.406]"]
    assert diffusers.mismatches(f, MODELS["dinov2-l.stats"].config) == [
        "latent grid 18 x 18 (encoder_input_size 252 / encoder_patch_size 14), expected 16"]
    no_mean = _fields(LAYOUTS["repos"][DIFFUSERS_RAES["dinov2-b-diffusers"][0]])
    assert diffusers.mismatches({**no_mean, "has_latent_mean": True}, MODELS["dinov2-b-diffusers.stats"].config)


TINY_DINO = EncoderConfig(kind="dinov2", hidden_size=64, num_layers=1, num_heads=1, intermediate_size=256,
                          patch_size=14, image_size=518)
TINY_SIGLIP = EncoderConfig(kind="siglip2", hidden_size=64, num_layers=1, num_heads=1, intermediate_size=3072,
                            patch_size=16, image_size=256, num_register_tokens=0, hidden_act="gelu_tanh",
                            image_mean=(0.5, 0.5, 0.5), image_std=(0.5, 0.5, 0.5))
TINY_MAE = EncoderConfig(kind="mae", hidden_size=64, num_layers=1, num_heads=1, intermediate_size=3072, patch_size=16,
                         image_size=224, num_register_tokens=0, layer_norm_eps=1e-12)


def tiny_rae(encoder: EncoderConfig, grid: int = 4) -> RAEConfig:
    decoder = DecoderConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, latent_dim=64,
                            num_patches=grid * grid, patch_size=4)
    return RAEConfig(encoder=encoder, decoder=decoder, encoder_input_size=grid * encoder.patch_size)


@pytest.mark.parametrize("encoder, variant", [
    (TINY_DINO, dict(v5_names=True)),                              # transformers 5.x attention names
    (TINY_SIGLIP, dict(siglip_wrapper=False, stats_in_config=True)),  # transformers >= 5.6 SigLIP; stats in config
    (TINY_MAE, dict(v5_names=True, stats_in_config=False)),
], ids=["dinov2", "siglip2", "mae"])
def test_tiny_folders_of_every_variant_load_whole_and_in_parts(tmp_path, encoder, variant):
    import rae_mlx  # noqa: I001  (before mlx.core: the system OpenBLAS)
    import mlx.core as mx

    import rae_torch

    rae = tiny_rae(encoder)
    written = diffusers_format.write(tmp_path / "rae", rae, seed=3, has_mean=encoder.kind != "dinov2", **variant)
    weights = tmp_path / "rae" / "diffusion_pytorch_model.safetensors"
    torch_rae, mlx_rae = rae_torch.load_model(tmp_path / "rae"), rae_mlx.load_model(weights)
    assert torch_rae.config == mlx_rae.config == rae
    sd = torch_rae.state_dict()
    assert all(np.array_equal(sd[k].numpy(), v) for k, v in written.items() if k not in ("mean", "var"))
    for model in (torch_rae, mlx_rae):
        assert np.allclose(np.asarray(model.latent_var), written["var"], rtol=1e-5, atol=1e-6)
        assert (model.latent_mean is None) == ("mean" not in written)
    x = np.random.default_rng(0).random((1, 3, 24, 24), dtype=np.float32)
    with torch.no_grad():
        a = torch_rae(torch.from_numpy(x)).numpy()
    b = np.asarray(mlx_rae(mx.array(x)))
    assert a.shape == (1, 3, 16, 16) and np.allclose(a, b, atol=1e-4)
    # Parts: the encoder alone, the decoder alone, the statistics alone (each reads only its tensors).
    enc = rae_torch.load_model(weights, rae.encoder)
    assert all(torch.equal(enc.state_dict()[k], sd[f"encoder.{k}"]) for k in enc.state_dict())
    dec = rae_mlx.load_model(tmp_path / "rae", rae.decoder)
    assert dec.config == rae.decoder
    mean, var = rae_torch.load_stats(weights, rae.latent_shape)
    assert torch.allclose(var, torch.from_numpy(written["var"]), rtol=1e-5, atol=1e-6)
    wrong = RAEConfig(encoder=rae.encoder, decoder=DecoderConfig(**{**rae.decoder.__dict__, "num_layers": 3}),
                      encoder_input_size=rae.encoder_input_size)
    with pytest.raises(CheckpointError, match="decoder_num_hidden_layers 1, expected 3"):
        rae_mlx.load_model(weights, wrong)
    with pytest.raises(CheckpointError, match="decoder_num_hidden_layers 1, expected 3"):
        rae_torch.load_model(weights, wrong.decoder)
