"""The sampler registry: one table that configs, the CLI, both YAML readers and the docs derive from."""

from pathlib import Path

import numpy as np
import pytest

from rae_spec import samplers
from rae_spec.configs import ConfigError, SamplerConfig
from rae_spec.reference_yaml import ReferenceConfig

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("m", samplers.METHODS, ids=lambda m: f"{m.mode}-{m.name}")
def test_tableaus_are_consistent_explicit_runge_kutta(m):
    c, A, b = m.tableau
    assert len(c) == len(A) == len(b) == m.stages
    assert all(len(row) <= i for i, row in enumerate(A))  # explicit: stage i reads only earlier stages
    assert sum(b) == pytest.approx(1.0)  # consistent (first order at least)
    for ci, row in zip(c, A, strict=True):
        assert sum(row) == pytest.approx(ci)


def test_every_spelling_names_one_method_everywhere():
    spellings = samplers.spellings("ode")
    assert len(spellings) == len(set(spellings)) and "heun2" in spellings
    choices = samplers.cli_choices()
    assert set(choices) == {*spellings, "sde"}
    for spelling in spellings:
        name = samplers.method(spelling).name
        assert SamplerConfig(method=spelling).method == name == SamplerConfig(method=spelling.upper()).method
        assert choices[spelling] == ("ode", name)
        ref = ReferenceConfig({"sampler": {"mode": "ODE", "params": {"sampling_method": spelling}}})
        assert ref.sampler().method == name
    with pytest.raises(ConfigError, match="an adaptive solver"):
        SamplerConfig(method="dopri5")
    with pytest.raises(ConfigError, match="euler"):
        SamplerConfig(mode="sde", method="heun")


def test_the_readme_and_the_help_name_every_method():
    text = " ".join(README.read_text().split())
    assert samplers.describe() in text
    for spelling in samplers.spellings("ode"):
        assert f"{spelling}" in samplers.describe()


def test_plan_walks_the_grid_with_the_stage_times_and_a_noiseless_last_sde_step():
    ode = samplers.plan(SamplerConfig(method="rk4", num_steps=5), 2.0)
    assert len(ode.steps) == 4 and ode.num_function_evals == 16
    for step, (t, t_next) in zip(ode.steps, zip(ode.grid[:-1], ode.grid[1:], strict=True), strict=True):
        assert (step.t, step.t_next, step.stage_times[0], step.stage_times[-1]) == (t, t_next, t, t_next)
        assert step.stage_times[1] == np.float32(np.float32(t) + np.float32(np.float32(t_next - t) / np.float32(3)))
    sde = samplers.plan(SamplerConfig(mode="sde", num_steps=5, diffusion_form="constant", diffusion_norm=0.5), 2.0)
    assert [s.noise_scale > 0 for s in sde.steps] == [True, True, True, False]
    assert sde.steps[0].noise_scale == pytest.approx((2 * 0.5 * sde.steps[0].h) ** 0.5)
