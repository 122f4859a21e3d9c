"""Samplers from noise (t = 1) to data (t ~ 0) and the guidance that shapes their velocity, in MLX.

A sampler only sees a velocity function v(x, t); `guided_velocity` builds one from a model, the labels
and a GuidanceConfig. The time grid comes from rae_spec and the random numbers from a numpy Generator
(rae_spec.noise), so both backends step on identical times with identical noise. `Sampler.steps`
evaluates once per step (one `mx.eval`) and yields the state; `compile=True` runs each step as one
`mx.compile`d function.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterator

import mlx.core as mx
import numpy as np

from rae_spec.configs import GuidanceConfig, SamplerConfig
from rae_spec.noise import step_noise
from rae_spec.schedule import ODE_TABLEAUS, rk_combine, sampling_grid, stage_times
from rae_spec.step_state import StepState

VelocityFn = Callable[[mx.array, mx.array], mx.array]


def interval_mask(t: mx.array, interval: tuple[float, float], ndim: int) -> mx.array:
    """t_min <= t <= t_max (both inclusive, compared in float32), shaped to broadcast over x."""
    lo, hi = (mx.array(v, dtype=mx.float32) for v in interval)
    tf = t.astype(mx.float32)
    return ((tf >= lo) & (tf <= hi)).reshape(-1, *([1] * (ndim - 1)))


def guided_velocity(model, labels, guidance: GuidanceConfig | None = None, guide=None) -> VelocityFn:
    """v(x, t) for class labels (B,), with classifier-free guidance or autoguidance.

    cfg runs the model once on [x; x] with [labels; null]. Autoguidance runs the main model and the
    guide on the conditional batch only: the reference doubles the batch and discards half, which
    gives the same result at twice the cost.
    """
    guidance = guidance or GuidanceConfig()
    labels = labels if isinstance(labels, mx.array) else mx.array(np.asarray(labels))
    if not guidance.active:
        return lambda x, t: model(x, t, labels)
    scale, interval = guidance.scale, guidance.interval
    if guidance.method == "cfg":
        null = model.config.null_label
        if null is None:
            raise ValueError("classifier-free guidance needs a model trained with label dropout (it has no null class)")
        y = mx.concatenate([labels, mx.full(labels.shape, null, dtype=labels.dtype)])

        def cfg(x: mx.array, t: mx.array) -> mx.array:
            cond, uncond = mx.split(model(mx.concatenate([x, x]), mx.concatenate([t, t]), y), 2)
            return mx.where(interval_mask(t, interval, x.ndim), uncond + scale * (cond - uncond), cond)

        return cfg
    if guide is None:
        raise ValueError("autoguidance needs a guide model (e.g. the DiT^DH-S preset)")

    def autoguided(x: mx.array, t: mx.array) -> mx.array:
        main, weak = model(x, t, labels), guide(x, t, labels)
        return mx.where(interval_mask(t, interval, x.ndim), weak + scale * (main - weak), main)

    return autoguided


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


class Sampler:
    """Fixed-grid ODE (Euler, Heun, Heun3, midpoint, RK4: rae_spec's tableaus) and SDE (Euler-Maruyama)
    integration on the shifted time grid.

    `walk` yields a StepState per step (previews read its x0), `steps` the (evaluated) state after every
    step, so callers can show progress or stop early; `sample` returns the final state (optionally the
    whole trajectory, index 0 being the start). The state keeps the dtype of `x` (float32 noise),
    whatever the model's dtype.
    """

    def __init__(self, config: SamplerConfig, shift: float, compile: bool | None = None):
        self.config = config
        self.grid = sampling_grid(config.num_steps, shift)
        self.compile = compile_by_default() if compile is None else bool(compile)

    @property
    def num_function_evals(self) -> int:
        n = len(self.grid) - 1
        return n if self.config.mode == "sde" else n * len(ODE_TABLEAUS[self.config.method][0])

    def diffusion(self, t: float) -> float:
        c = self.config
        return c.diffusion_norm * (t if c.diffusion_form == "sigma" else 1.0)

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
            _, A, b = ODE_TABLEAUS[self.config.method]

            def step(x, times, dt):
                ks = []
                for t, a in zip(times, A, strict=True):
                    ks.append(velocity(rk_combine(x, dt, a, ks), t))
                return rk_combine(x, dt, b, ks), ks[0]
        return mx.compile(step) if self.compile else step

    def walk(self, x, velocity: VelocityFn, rng: np.random.Generator | None = None) -> Iterator[StepState]:
        """One evaluated StepState per step: the state it started from, the velocity there, the new state."""
        x = x if isinstance(x, mx.array) else mx.array(np.asarray(x))
        step = self.step_function(velocity)
        grid = [float(v) for v in self.grid]
        B = x.shape[0]
        last = len(grid) - 2
        for k, (t_cur, t_next) in enumerate(zip(grid[:-1], grid[1:], strict=True)):
            dt = t_next - t_cur  # negative: time runs from noise to data
            if self.config.mode == "sde":
                t = mx.full((B,), t_cur, dtype=mx.float32)
                new, v = step(x, t, *self._sde_inputs(x, t_cur, -dt, noise=k < last, rng=rng))
            else:
                c = ODE_TABLEAUS[self.config.method][0]
                times = [mx.full((B,), ti, dtype=mx.float32) for ti in stage_times(t_cur, t_next, c)]
                new, v = step(x, times, _f32(dt))
            mx.eval(new, v)
            yield StepState(k + 1, last + 1, t_cur, t_next, x, v, new)
            x = new

    def steps(self, x, velocity: VelocityFn, rng: np.random.Generator | None = None) -> Iterator[mx.array]:
        """The (evaluated) state after every step."""
        for state in self.walk(x, velocity, rng):
            yield state.next

    def _sde_inputs(self, x: mx.array, t: float, h: float, noise: bool, rng) -> tuple[list[mx.array], mx.array]:
        """Reverse-time Euler-Maruyama for this time convention: with score = -(x + (1 - t) v) / t,
        x <- x - (v - D score) h + sqrt(2 D h) xi (the reference's SDE with D >= 0, so it never NaNs).
        The noise comes from `rng` (rae_spec.noise.step_noise) when given, else from mx.random."""
        D = self.diffusion(t)
        scale = math.sqrt(2.0 * D * h) if (noise and D > 0) else 0.0
        if scale > 0:
            xi = mx.array(step_noise(rng, x.shape)) if rng is not None else mx.random.normal(x.shape)
            xi = xi.astype(x.dtype)
        else:
            xi = mx.zeros(x.shape, dtype=x.dtype)
        return [_f32(t), _f32(1.0 - t), _f32(D), _f32(h), _f32(scale)], xi

    def sample(self, x, velocity: VelocityFn, rng: np.random.Generator | None = None,
               trajectory: bool = False) -> mx.array:
        x = x if isinstance(x, mx.array) else mx.array(np.asarray(x))
        states = [x]
        for state in self.steps(x, velocity, rng):
            states = states + [state] if trajectory else [state]
        return mx.stack(states) if trajectory else states[-1]
