"""MLX samplers on a problem with a known answer (Gaussian data, analytic velocity: tests/twins.py),
guidance arithmetic, one evaluation per step, and compiled steps equal to eager ones."""

import mlx.core as mx
import numpy as np
import pytest

from rae_mlx.sampling import Sampler, guided_velocity
from rae_spec import GuidanceConfig, SamplerConfig
from tests.twins import GAUSSIAN_CASES, gaussian_target, gaussian_velocity


def exact_velocity(x, t):
    return gaussian_velocity(x, t.reshape(-1, *([1] * (x.ndim - 1))))


@pytest.mark.parametrize("cfg, tol", GAUSSIAN_CASES)
def test_reaches_the_gaussian_marginal(cfg, tol):
    sampler = Sampler(cfg, shift=3.0)
    rng = np.random.default_rng(0)
    x0 = mx.array(rng.standard_normal((20000, 4), dtype=np.float32))
    out = np.asarray(sampler.sample(x0, exact_velocity, rng=rng))
    mean, std = gaussian_target(float(sampler.grid[-1]))
    assert np.isfinite(out).all()
    assert abs(out.mean() - mean) < tol and abs(out.std() - std) < tol


def test_ode_is_deterministic_and_sde_follows_its_generator():
    x = mx.random.normal((8, 3))
    ode = Sampler(SamplerConfig(num_steps=10), 2.0)
    assert mx.array_equal(ode.sample(x, exact_velocity), ode.sample(x, exact_velocity))
    sde = Sampler(SamplerConfig(mode="sde", num_steps=10), 2.0)
    a = sde.sample(x, exact_velocity, rng=np.random.default_rng(3))
    b = sde.sample(x, exact_velocity, rng=np.random.default_rng(3))
    c = sde.sample(x, exact_velocity, rng=np.random.default_rng(4))
    assert mx.array_equal(a, b) and not mx.array_equal(a, c)


def test_heun_uses_two_evaluations_per_step_and_steps_yield_each_state():
    calls = []

    def v(x, t):
        calls.append(t)
        return exact_velocity(x, t)

    sampler = Sampler(SamplerConfig(method="heun", num_steps=6), 1.0, compile=False)
    states = list(sampler.steps(mx.zeros((2, 2)), v))
    assert len(states) == 5 and len(calls) == 10 == sampler.num_function_evals


def test_one_evaluation_per_step(monkeypatch):
    import rae_mlx.sampling as sampling

    evals = []
    real = mx.eval
    monkeypatch.setattr(sampling.mx, "eval", lambda *a: (evals.append(1), real(*a)))
    sampler = Sampler(SamplerConfig(num_steps=8), 2.0)
    for i, _ in enumerate(sampler.steps(mx.zeros((2, 3)), exact_velocity), start=1):
        assert len(evals) == i


@pytest.mark.parametrize("cfg", [SamplerConfig(num_steps=6), SamplerConfig(method="heun", num_steps=6),
                                 SamplerConfig(method="rk4", num_steps=6), SamplerConfig(mode="sde", num_steps=6)],
                         ids=["euler", "heun", "rk4", "sde"])
def test_compiled_steps_equal_eager_steps(cfg):
    x = mx.random.normal((4, 3), key=mx.random.key(0))
    eager = Sampler(cfg, 2.0, compile=False).sample(x, exact_velocity, rng=np.random.default_rng(0))
    compiled = Sampler(cfg, 2.0, compile=True).sample(x, exact_velocity, rng=np.random.default_rng(0))
    assert np.allclose(np.asarray(eager), np.asarray(compiled), atol=1e-6)


class Linear:
    """v = a[y] * x: enough structure to check how guidance combines predictions."""

    def __init__(self, scales, null_label=None):
        self.scales = mx.array(scales)
        self.config = type("C", (), {"null_label": null_label})()
        self.calls = 0

    def __call__(self, x, t, y):
        self.calls += 1
        return self.scales[y].reshape(-1, 1) * x


def test_guidance_combinations_and_interval():
    main, guide = Linear([1.0, 2.0, 0.0], null_label=2), Linear([0.5, 0.5, 0.5])
    x, y = mx.ones((2, 1)), mx.array([0, 1])
    t_in, t_out = mx.full((2,), 0.5), mx.full((2,), 0.95)
    cfg = guided_velocity(main, y, GuidanceConfig("cfg", 3.0, 0.0, 0.9))
    assert np.allclose(np.asarray(cfg(x, t_in)), [[3.0], [6.0]])  # 0 + 3 (c - 0)
    assert np.allclose(np.asarray(cfg(x, t_out)), [[1.0], [2.0]])  # outside: conditional only
    ag = guided_velocity(main, y, GuidanceConfig("autoguidance", 2.0, 0.0, 1.0), guide)
    main.calls = 0
    assert np.allclose(np.asarray(ag(x, t_in)), [[1.5], [3.5]])  # g + 2 (m - g)
    assert main.calls == 1 and guide.calls == 1  # conditional batch only, no doubling
    with pytest.raises(ValueError, match="guide model"):
        guided_velocity(main, y, GuidanceConfig("autoguidance", 2.0))
    with pytest.raises(ValueError, match="null class"):
        guided_velocity(Linear([1.0]), y, GuidanceConfig("cfg", 2.0))


@pytest.mark.parametrize("method", ["euler", "heun", "heun3", "midpoint", "rk4"])
def test_every_ode_method_matches_the_torch_twin(method):
    torch = pytest.importorskip("torch")
    from rae_torch.sampling import Sampler as TorchSampler

    x0 = np.random.default_rng(1).standard_normal((5, 4), dtype=np.float32)
    cfg = SamplerConfig(method=method, num_steps=9)

    def v_mlx(x, t):
        return x * (0.5 - t.reshape(-1, 1)) + t.reshape(-1, 1) ** 2

    def v_torch(x, t):
        return x * (0.5 - t.view(-1, 1)) + t.view(-1, 1) ** 2

    ours = np.asarray(Sampler(cfg, 3.0).sample(mx.array(x0), v_mlx))
    twin = TorchSampler(cfg, 3.0).sample(torch.from_numpy(x0), v_torch).numpy()
    assert np.allclose(ours, twin, atol=2e-6, rtol=1e-6)
