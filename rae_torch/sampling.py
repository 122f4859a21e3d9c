"""Samplers from noise (t = 1) to data (t ~ 0) and the guidance that shapes their velocity.

A sampler only sees a velocity function v(x, t); `guided_velocity` builds one from a model, the labels
and a GuidanceConfig. The time grid comes from rae_spec, so both backends step on identical times, and
with a numpy Generator (rae_spec.noise) they also draw identical noise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from rae_spec.configs import GuidanceConfig, SamplerConfig
from rae_spec.noise import step_noise
from rae_spec.schedule import ODE_TABLEAUS, rk_combine, sampling_grid, stage_times
from rae_spec.step_state import StepState

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def interval_mask(t: torch.Tensor, interval: tuple[float, float], ndim: int) -> torch.Tensor:
    """t_min <= t <= t_max (both inclusive, compared in float32), shaped to broadcast over x."""
    lo, hi = (torch.tensor(v, dtype=torch.float32, device=t.device) for v in interval)
    tf = t.float()
    return ((tf >= lo) & (tf <= hi)).view(-1, *([1] * (ndim - 1)))


def guided_velocity(model: torch.nn.Module, labels: torch.Tensor, guidance: GuidanceConfig | None = None,
                    guide: torch.nn.Module | None = None) -> VelocityFn:
    """v(x, t) for class labels (B,), with classifier-free guidance or autoguidance.

    cfg runs the model once on [x; x] with [labels; null]. Autoguidance runs the main model and the
    guide on the conditional batch only: the reference doubles the batch and discards half, which
    gives the same result at twice the cost.
    """
    guidance = guidance or GuidanceConfig()
    if not guidance.active:
        return lambda x, t: model(x, t, labels)
    scale, interval = guidance.scale, guidance.interval
    if guidance.method == "cfg":
        null = model.config.null_label
        if null is None:
            raise ValueError("classifier-free guidance needs a model trained with label dropout (it has no null class)")
        y = torch.cat([labels, torch.full_like(labels, null)])

        def cfg(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            cond, uncond = model(torch.cat([x, x]), torch.cat([t, t]), y).chunk(2)
            return torch.where(interval_mask(t, interval, x.dim()), uncond + scale * (cond - uncond), cond)

        return cfg
    if guide is None:
        raise ValueError("autoguidance needs a guide model (e.g. the DiT^DH-S preset)")

    def autoguided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        main, weak = model(x, t, labels), guide(x, t, labels)
        return torch.where(interval_mask(t, interval, x.dim()), weak + scale * (main - weak), main)

    return autoguided


class Sampler:
    """Fixed-grid ODE (Euler, Heun, Heun3, midpoint, RK4: rae_spec's tableaus) and SDE (Euler-Maruyama)
    integration on the shifted time grid.

    `walk` yields a StepState per step (previews read its x0), `steps` the state after every step, so
    callers can show progress or stop early; `sample` returns the final state (optionally the whole
    trajectory, index 0 being the start).
    """

    def __init__(self, config: SamplerConfig, shift: float):
        self.config = config
        self.grid = sampling_grid(config.num_steps, shift)

    @property
    def num_function_evals(self) -> int:
        n = len(self.grid) - 1
        return n if self.config.mode == "sde" else n * len(ODE_TABLEAUS[self.config.method][0])

    def diffusion(self, t: float) -> float:
        c = self.config
        return c.diffusion_norm * (t if c.diffusion_form == "sigma" else 1.0)

    def walk(self, x: torch.Tensor, velocity: VelocityFn, rng: np.random.Generator | None = None,
             ) -> Iterator[StepState]:
        """One StepState per step: the state it started from, the velocity there, and the new state."""
        grid = [float(v) for v in self.grid]
        B = x.shape[0]
        last = len(grid) - 2
        for k, (t_cur, t_next) in enumerate(zip(grid[:-1], grid[1:], strict=True)):
            dt = t_next - t_cur  # negative: time runs from noise to data
            if self.config.mode == "sde":
                t = torch.full((B,), t_cur, dtype=torch.float32, device=x.device)
                v = velocity(x, t)
                new = self._sde_step(x, v, t_cur, -dt, noise=k < last, rng=rng)
            else:
                c, A, b = ODE_TABLEAUS[self.config.method]
                ks = []
                for ti, a in zip(stage_times(t_cur, t_next, c), A, strict=True):
                    t = torch.full((B,), ti, dtype=torch.float32, device=x.device)
                    ks.append(velocity(rk_combine(x, dt, a, ks), t))
                v, new = ks[0], rk_combine(x, dt, b, ks)
            yield StepState(k + 1, last + 1, t_cur, t_next, x, v, new)
            x = new

    def steps(self, x: torch.Tensor, velocity: VelocityFn, rng: np.random.Generator | None = None,
              ) -> Iterator[torch.Tensor]:
        """The state after every step."""
        for state in self.walk(x, velocity, rng):
            yield state.next

    def _sde_step(self, x, v, t: float, h: float, noise: bool, rng) -> torch.Tensor:
        """Reverse-time Euler-Maruyama for this time convention: with score = -(x + (1 - t) v) / t,
        x <- x - (v - D score) h + sqrt(2 D h) xi. D >= 0, so unlike the reference it never NaNs."""
        D = self.diffusion(t)
        score = -(x + (1.0 - t) * v) / t
        x = x - (v - D * score) * h
        if noise and D > 0:
            if rng is not None:
                xi = torch.from_numpy(step_noise(rng, tuple(x.shape))).to(x.device, x.dtype)
            else:
                xi = torch.randn_like(x)
            x = x + (2.0 * D * h) ** 0.5 * xi
        return x

    def sample(self, x: torch.Tensor, velocity: VelocityFn, rng: np.random.Generator | None = None,
               trajectory: bool = False):
        states = [x]
        for state in self.steps(x, velocity, rng):
            states = states + [state] if trajectory else [state]
        return torch.stack(states) if trajectory else states[-1]
