"""Samplers on a problem with a known answer: Gaussian data, whose exact velocity is analytic (tests/twins.py),
guidance arithmetic, and each fixed-grid method's order of convergence."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rae_spec import GuidanceConfig, SamplerConfig  # noqa: E402
from rae_torch.sampling import Sampler, guided_velocity  # noqa: E402
from tests.twins import GAUSSIAN_CASES, gaussian_target, gaussian_velocity  # noqa: E402


def exact_velocity(x, t):
    return gaussian_velocity(x, t.view(-1, *([1] * (x.dim() - 1))).double()).to(x.dtype)


@pytest.mark.parametrize("cfg, tol", GAUSSIAN_CASES)
def test_reaches_the_gaussian_marginal(cfg, tol):
    sampler = Sampler(cfg, shift=3.0)
    rng = np.random.default_rng(0)
    x0 = torch.from_numpy(rng.standard_normal((20000, 4), dtype=np.float32)).double()
    out = sampler.sample(x0, exact_velocity, rng=rng)
    mean, std = gaussian_target(float(sampler.grid[-1]))
    assert torch.isfinite(out).all()
    assert abs(out.mean().item() - mean) < tol and abs(out.std().item() - std) < tol


def test_ode_is_deterministic_and_sde_follows_its_generator():
    x = torch.randn(8, 3)
    ode = Sampler(SamplerConfig(num_steps=10), 2.0)
    assert torch.equal(ode.sample(x, exact_velocity), ode.sample(x, exact_velocity))
    sde = Sampler(SamplerConfig(mode="sde", num_steps=10), 2.0)
    a = sde.sample(x, exact_velocity, rng=np.random.default_rng(3))
    b = sde.sample(x, exact_velocity, rng=np.random.default_rng(3))
    c = sde.sample(x, exact_velocity, rng=np.random.default_rng(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_heun_uses_two_evaluations_per_step_and_steps_yield_each_state():
    calls = []

    def v(x, t):
        calls.append(float(t[0]))
        return exact_velocity(x, t)

    sampler = Sampler(SamplerConfig(method="heun", num_steps=6), 1.0)
    states = list(sampler.steps(torch.zeros(2, 2), v))
    assert len(states) == 5 and len(calls) == 10 == sampler.num_function_evals


class Linear(torch.nn.Module):
    """v = a[y] * x: enough structure to check how guidance combines predictions."""

    def __init__(self, scales, null_label=None):
        super().__init__()
        self.scales = torch.tensor(scales)
        self.config = type("C", (), {"null_label": null_label})()
        self.calls = 0

    def forward(self, x, t, y):
        self.calls += 1
        return self.scales[y].view(-1, 1) * x


def test_guidance_combinations_and_interval():
    main, guide = Linear([1.0, 2.0, 0.0], null_label=2), Linear([0.5, 0.5, 0.5])
    x, y = torch.ones(2, 1), torch.tensor([0, 1])
    t_in, t_out = torch.full((2,), 0.5), torch.full((2,), 0.95)
    cfg = guided_velocity(main, y, GuidanceConfig("cfg", 3.0, 0.0, 0.9))
    assert torch.allclose(cfg(x, t_in), torch.tensor([[3.0], [6.0]]))  # 0 + 3 (c - 0)
    assert torch.allclose(cfg(x, t_out), torch.tensor([[1.0], [2.0]]))  # outside: conditional only
    ag = guided_velocity(main, y, GuidanceConfig("autoguidance", 2.0, 0.0, 1.0), guide)
    main.calls = 0
    assert torch.allclose(ag(x, t_in), torch.tensor([[1.5], [3.5]]))  # g + 2 (m - g)
    assert main.calls == 1 and guide.calls == 1  # conditional batch only, no doubling
    with pytest.raises(ValueError, match="guide model"):
        guided_velocity(main, y, GuidanceConfig("autoguidance", 2.0))
    with pytest.raises(ValueError, match="null class"):
        guided_velocity(Linear([1.0]), y, GuidanceConfig("cfg", 2.0))


@pytest.mark.parametrize("method, order", [("euler", 1), ("heun", 2), ("midpoint", 2), ("heun3", 3), ("rk4", 4)])
def test_fixed_grid_methods_converge_at_their_order(method, order):
    """Halving the step divides the error at the grid's end by about 2^order (the reference's methods are
    torchdiffeq's fixed-grid solvers, whose tableaus rae_spec.samplers.METHODS holds)."""
    x0 = torch.linspace(-2, 2, 9, dtype=torch.float64).view(-1, 1)

    def end_state(points):
        return Sampler(SamplerConfig(method=method, num_steps=points), shift=1.0).sample(x0, exact_velocity)

    # no shift: grids with 2k - 1 points refine those with k points, so all end at the same time
    reference = Sampler(SamplerConfig(method="rk4", num_steps=641), shift=1.0).sample(x0, exact_velocity)
    points = (6, 11, 21) if order == 4 else (11, 21, 41)  # RK4 reaches float32 time-grid rounding sooner
    errors = [(end_state(n) - reference).abs().max().item() for n in points]
    rates = [np.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert all(r > order - 0.5 for r in rates), (errors, rates)
    assert Sampler(SamplerConfig(method=method, num_steps=11), 1.0).num_function_evals == 10 * {1: 1, 2: 2, 3: 3,
                                                                                                4: 4}[order]
