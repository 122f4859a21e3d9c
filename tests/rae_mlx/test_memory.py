"""Bounded-memory decoding and the per-phase peak-memory report."""

import mlx.core as mx
import numpy as np

from rae_mlx import RAE, MemoryMonitor
from tests.twins import TINY_RAE

CONFIG = TINY_RAE


def test_micro_batched_decode_equals_one_batch():
    rae = RAE(CONFIG, var=np.full(CONFIG.latent_shape, 2.0, np.float32))
    z = mx.random.normal((5, *CONFIG.latent_shape), key=mx.random.key(0))
    whole = rae.decode(z)
    parts = rae.decode(z, batch_size=2)
    assert whole.shape == (5, 3, 32, 32) and np.allclose(np.asarray(whole), np.asarray(parts), atol=1e-5)


def test_monitor_records_each_phase():
    monitor = MemoryMonitor()
    with monitor.phase("small"):
        mx.eval(mx.zeros((256, 256)))
    with monitor.phase("large"):
        mx.eval(mx.zeros((2048, 2048)) + 1)
    assert monitor.phases["large"]["peak_bytes"] >= 2048 * 2048 * 4 > monitor.phases["small"]["peak_bytes"]
    assert "large: peak" in monitor.summary()


def test_generate_frees_the_dit_before_decoding_and_never_needs_an_encoder():
    from rae_mlx import build_model
    from rae_mlx.pipeline import generate
    from rae_mlx.sampling import Sampler, guided_velocity
    from rae_spec import DiTDHConfig, GuidanceConfig, SamplerConfig
    from rae_spec.noise import initial_noise

    dit_cfg = DiTDHConfig(input_size=4, in_channels=16, hidden_size=(32, 48), depth=(1, 1), num_heads=(2, 3),
                          num_classes=5)
    dit = build_model(dit_cfg)
    for block in dit.blocks:  # non-zero modulation so the velocity is not trivially zero
        block.adaLN_modulation[1].weight = mx.random.normal(block.adaLN_modulation[1].weight.shape) * 0.05
    dit.final_layer.linear.weight = mx.random.normal(dit.final_layer.linear.weight.shape) * 0.05
    decoder = RAE(CONFIG).decoder
    calls = []

    def load_dit():
        calls.append("dit")
        return dit

    sampler, guidance = SamplerConfig(num_steps=5), GuidanceConfig("cfg", 2.0)
    var = np.full(CONFIG.latent_shape, 2.0, np.float32)
    out = generate(load_dit, lambda: calls.append("decoder") or decoder, [1, 3, 2], seed=3, sampler=sampler,
                   shift=2.0, guidance=guidance, stats=(None, var), decode_batch_size=2)
    assert calls == ["dit", "decoder"] and set(out.memory.phases) == {"load", "sample", "decode"}
    assert out.images.shape == (3, 3, 32, 32) and out.latents.shape == (3, 16, 4, 4)
    rng = np.random.default_rng(3)
    want = Sampler(sampler, 2.0).sample(mx.array(initial_noise(rng, 3, dit_cfg.latent_shape)),
                                        guided_velocity(dit, mx.array([1, 3, 2]), guidance), rng=rng)
    assert np.allclose(np.asarray(out.latents), np.asarray(want), atol=1e-6)
    freed = generate(lambda: build_model(dit_cfg), None, [0], seed=0, sampler=sampler, shift=2.0)
    assert freed.images is None and freed.memory.phases["sample"]["dit_freed"] == 1.0  # no reference left


def test_estimated_weight_bytes_are_those_of_the_mlx_models():
    """rae_spec.memory counts bytes from the manifest; MLX's modules (lazily built, cast and quantized) agree
    exactly for every released sampling model and setting."""
    import math

    from rae_mlx.quantize import planned_parameters
    from rae_spec import get_model
    from rae_spec.memory import Precision, weight_bytes

    size = {"float32": 4, "bfloat16": 2, "float16": 2, "uint32": 4}
    for name in ("dit-dh-xl-256", "dit-dh-s-256-guidance", "decoder-dinov2-b-xl-256"):
        config = get_model(name).config
        for p in (Precision(), Precision("bfloat16"), Precision("float32", 4), Precision("float16", 8)):
            _, planned = planned_parameters(config, p.dtype, p.bits)
            assert weight_bytes(config, p) == sum(math.prod(s) * size[d] for s, d in planned.values()), (name, p)
