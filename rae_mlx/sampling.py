"""Samplers from noise (t = 1) to data (t ~ 0) and the guidance that shapes their velocity, in MLX.

A sampler only sees a velocity function v(x, t); `guided_velocity` builds one from a model, the labels
and a GuidanceConfig (the combination is rae_spec.guidance, shared with torch). The steps, their times and
noise scales come from rae_spec.samplers and the random numbers from a numpy Generator (rae_spec.noise),
so both backends step on identical times with identical noise. `Sampler.steps`
evaluates once per step (one `mx.eval`) and yields the state; `compile=True` runs each step as one
`mx.compile`d function.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import mlx.core as mx
import numpy as np

from rae_spec import guidance as shared
from rae_spec.configs import GuidanceConfig, SamplerConfig
from rae_spec.noise import step_noise
from rae_spec.samplers import SamplerBase, Step, rk_combine
from rae_spec.step_state import StepState

VelocityFn = Callable[[mx.array, mx.array], mx.array]


def interval_mask(t: mx.array, interval: tuple[float, float], ndim: int) -> mx.array:
    """t_min <= t <= t_max (both inclusive, compared in float32), shaped to broadcast over x."""
    lo, hi = (mx.array(v, dtype=mx.float32) for v in interval)
    tf = t.astype(mx.float32)
    return ((tf >= lo) & (tf <= hi)).reshape(-1, *([1] * (ndim - 1)))


# rae_spec.guidance.ArrayOps on MLX arrays
OPS = SimpleNamespace(cat=lambda a, b: mx.concatenate([a, b]), halves=lambda x: mx.split(x, 2),
                      fill_like=lambda labels, value: mx.full(labels.shape, value, dtype=labels.dtype),
                      where=mx.where, interval_mask=interval_mask)


def guided_velocity(model, labels, guidance: GuidanceConfig | None = None, guide=None) -> VelocityFn:
    """v(x, t) for class labels (B,), with classifier-free guidance or autoguidance (rae_spec.guidance)."""
    labels = labels if isinstance(labels, mx.array) else mx.array(np.asarray(labels))
    return shared.guided_velocity(model, labels, guidance, guide, OPS)


# Where `mx.compile` of the per-step function was measured (bench/bench_mlx_torch.py, "sampler 3 steps"
# rows): (platform, device) -> whether it was faster. The Linux CPU step is matmul-bound and compiling
# did not help there. Unmeasured places default to eager; RAE_MLX_COMPILE=1 / 0 overrides.
COMPILE_MEASURED_FASTER = {("linux", "cpu"): False}


def compile_by_default() -> bool:
    """Whether `Sampler(compile=None)` compiles: RAE_MLX_COMPILE if set, else only where measured faster."""
    env = os.environ.get("RAE_MLX_COMPILE")
    if env in ("0", "1"):
        return env == "1"
    device = "gpu" if mx.default_device() == mx.gpu else "cpu"
    return COMPILE_MEASURED_FASTER.get((sys.platform, device), False)


def _f32(v: float) -> mx.array:
    return mx.array(v, dtype=mx.float32)


class Sampler(SamplerBase):
    """Fixed-grid ODE (rae_spec.samplers' methods: Euler, Heun, Heun3, midpoint, RK4) and SDE
    (Euler-Maruyama) integration on the shifted time grid.

    `walk` yields a StepState per step (previews read its x0), `steps` the (evaluated) state after every
    step, so callers can show progress or stop early; `sample` returns the final state (optionally the
    whole trajectory, index 0 being the start). The state keeps the dtype of `x` (float32 noise),
    whatever the model's dtype.
    """

    stack = staticmethod(mx.stack)

    def __init__(self, config: SamplerConfig, shift: float, compile: bool | None = None):
        super().__init__(config, shift)
        self.compile = compile_by_default() if compile is None else bool(compile)

    def step_function(self, velocity: VelocityFn) -> Callable[..., tuple[mx.array, mx.array]]:
        """The per-step update as a function of arrays only (so it can be compiled), returning the new state
        and the velocity at the step's start: ODE (x, [stage times], dt) with the method's tableau, SDE
        (x, t, [t, 1 - t, D, h, sqrt(2 D h)], noise)."""
        if self.config.mode == "sde":
            def step(x, t, scalars, noise):
                t_s, one_minus_t, D, h, noise_scale = scalars
                v = velocity(x, t)
                score = -(x + one_minus_t * v) / t_s
                new = x - (v - D * score) * h
                return new + noise_scale * noise, v
        else:
            _, A, b = self.plan.method.tableau

            def step(x, times, dt):
                ks = []
                for t, a in zip(times, A, strict=True):
                    ks.append(velocity(rk_combine(x, dt, a, ks), t))
                return rk_combine(x, dt, b, ks), ks[0]
        return mx.compile(step) if self.compile else step

    def walk(self, x, velocity: VelocityFn, rng: np.random.Generator | None = None) -> Iterator[StepState]:
        """One evaluated StepState per step: the state it started from, the velocity there, the new state."""
        x = self.asarray(x)
        step_fn = self.step_function(velocity)
        B, total = x.shape[0], len(self.plan.steps)
        for step in self.plan.steps:
            if self.config.mode == "sde":
                t = mx.full((B,), step.t, dtype=mx.float32)
                new, v = step_fn(x, t, *self._sde_inputs(x, step, rng))
            else:
                times = [mx.full((B,), ti, dtype=mx.float32) for ti in step.stage_times]
                new, v = step_fn(x, times, _f32(step.dt))
            mx.eval(new, v)
            yield StepState(step.index + 1, total, step.t, step.t_next, x, v, new)
            x = new

    @staticmethod
    def asarray(x) -> mx.array:
        return x if isinstance(x, mx.array) else mx.array(np.asarray(x))

    @staticmethod
    def _sde_inputs(x: mx.array, step: Step, rng) -> tuple[list[mx.array], mx.array]:
        """The scalars of rae_spec.samplers.Step and the step's noise: from `rng`
        (rae_spec.noise.step_noise) when given, else from mx.random."""
        if step.noise_scale > 0:
            xi = mx.array(step_noise(rng, x.shape)) if rng is not None else mx.random.normal(x.shape)
            xi = xi.astype(x.dtype)
        else:
            xi = mx.zeros(x.shape, dtype=x.dtype)
        scalars = [_f32(step.t), _f32(1.0 - step.t), _f32(step.diffusion), _f32(step.h), _f32(step.noise_scale)]
        return scalars, xi
