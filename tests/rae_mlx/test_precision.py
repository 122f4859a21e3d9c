"""Half precision and quantized inference on tiny models, against float32, with stated bounds.

Bounds (max abs error / max |float32 output|): float16 5e-3, bfloat16 5e-2, 8-bit 5e-2, 4-bit 3e-1 (measured
here: about 9e-4, 9e-3, 1.3e-2 and 2e-1 for the DiT; random weights of std 0.1). The full-size measurements
are in bench/precision.py and the README."""

import mlx.core as mx
import numpy as np
import pytest
from mlx import nn

from rae_mlx import build_model, cast_model, load_model, quantize_model, save_model
from rae_mlx.layers import LayerNorm, RMSNorm
from rae_spec import DecoderConfig, DiTDHConfig
from tests.twins import max_rel

DIT = DiTDHConfig(input_size=4, in_channels=64, hidden_size=(64, 128), depth=(2, 1), num_heads=(2, 2),
                  num_classes=5)
DEC = DecoderConfig(hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128, latent_dim=64, num_patches=16,
                    patch_size=4)


def random_mlx(config, seed=0, std=0.1):
    from mlx.utils import tree_flatten, tree_unflatten

    model = build_model(config)
    rng = np.random.default_rng(seed)
    params = [(k, mx.array(rng.standard_normal(v.shape, dtype=np.float32) * std))
              for k, v in tree_flatten(model.parameters())]
    model.update(tree_unflatten(params))
    return model


def run(model, config, seed=1):
    rng = np.random.default_rng(seed)
    if isinstance(config, DiTDHConfig):
        x = mx.array(rng.standard_normal((2, *config.latent_shape), dtype=np.float32))
        return model(x, mx.array([0.3, 0.9]), mx.array([1, 3]))
    tokens = mx.array(rng.standard_normal((2, config.num_patches, config.latent_dim), dtype=np.float32))
    return model(tokens).astype(mx.float32)


@pytest.mark.parametrize("config", [DIT, DEC], ids=["ditdh", "decoder"])
@pytest.mark.parametrize("dtype, bound", [("float16", 5e-3), ("bfloat16", 5e-2)])
def test_half_precision(config, dtype, bound):
    model = random_mlx(config)
    ref = np.asarray(run(model, config))
    half = cast_model(model, dtype)
    assert half.blocks[0].attn.qkv.weight.dtype == getattr(mx, dtype) if isinstance(config, DiTDHConfig) else True
    if isinstance(config, DiTDHConfig):
        assert half.enc_feat_rope.freqs_cos.dtype == mx.float32 and half.t_embedder.W.dtype == mx.float32
    out = run(half, config)
    assert out.dtype == mx.float32
    err = max_rel(out, ref)
    assert np.isfinite(np.asarray(out)).all() and 0 < err < bound


@pytest.mark.parametrize("config", [DIT, DEC], ids=["ditdh", "decoder"])
@pytest.mark.parametrize("bits, bound", [(8, 5e-2), (4, 3e-1)])
def test_quantized_save_and_reload(tmp_path, config, bits, bound):
    model = random_mlx(config)
    ref = np.asarray(run(model, config))
    layers = quantize_model(model, bits=bits, group_size=64)
    assert layers and all(isinstance(m, nn.QuantizedLinear) for p, m in model.named_modules() if p in layers)
    if isinstance(config, DiTDHConfig):
        assert "blocks.0.attn.qkv" in layers and "t_embedder.mlp.0" in layers
    out = np.asarray(run(model, config))
    assert 0 < max_rel(out, ref) < bound
    save_model(model, tmp_path / "q", config, {"source": "test"})
    again = load_model(tmp_path / "q")
    assert np.array_equal(np.asarray(run(again, config)), out)


def test_ineligible_layers_stay_in_floating_point():
    config = DiTDHConfig(input_size=4, in_channels=64, hidden_size=(64, 96), depth=(1, 1), num_heads=(2, 2),
                         num_classes=5)
    model = random_mlx(config)
    layers = quantize_model(model, bits=4, group_size=64)
    assert "blocks.1.attn.qkv" not in layers  # 96 inputs: not a multiple of 64
    assert isinstance(model.blocks[1].attn.qkv, nn.Linear) and not isinstance(model.blocks[1].attn.qkv,
                                                                              nn.QuantizedLinear)
    assert "blocks.1.mlp.w3" in layers  # int(2/3 * 384) = 256 inputs


def test_float16_norms_do_not_overflow():
    x = mx.full((2, 8), 3.0, dtype=mx.float16)  # zero variance: var + 1e-12 underflows in float16
    ln = cast_model(LayerNorm(8, eps=1e-12), "float16")
    assert np.isfinite(np.asarray(ln(x))).all()
    big = mx.full((2, 8), 3e4, dtype=mx.float16)  # x^2 overflows float16; statistics run in float32
    rms = cast_model(RMSNorm(8), "float16")
    out = rms(big)
    assert out.dtype == mx.float16 and np.allclose(np.asarray(out), 1.0)
