"""Samplers from noise (t = 1) to data (t ~ 0) and the guidance that shapes their velocity.

A sampler only sees a velocity function v(x, t); `guided_velocity` builds one from a model, the labels
and a GuidanceConfig (the combination is rae_spec.guidance, shared with MLX). The steps, their times and
noise scales come from rae_spec.samplers, so both backends walk identical grids, and with a numpy
Generator (rae_spec.noise) they also draw identical noise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace

import numpy as np
import torch

from rae_spec import guidance as shared
from rae_spec.configs import GuidanceConfig
from rae_spec.noise import step_noise
from rae_spec.samplers import SamplerBase, Step, rk_combine
from rae_spec.step_state import StepState

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def interval_mask(t: torch.Tensor, interval: tuple[float, float], ndim: int) -> torch.Tensor:
    """t_min <= t <= t_max (both inclusive, compared in float32), shaped to broadcast over x."""
    lo, hi = (torch.tensor(v, dtype=torch.float32, device=t.device) for v in interval)
    tf = t.float()
    return ((tf >= lo) & (tf <= hi)).view(-1, *([1] * (ndim - 1)))


# rae_spec.guidance.ArrayOps on torch tensors
OPS = SimpleNamespace(cat=lambda a, b: torch.cat([a, b]), halves=lambda x: x.chunk(2), fill_like=torch.full_like,
                      where=torch.where, interval_mask=interval_mask)


def guided_velocity(model: torch.nn.Module, labels: torch.Tensor, guidance: GuidanceConfig | None = None,
                    guide: torch.nn.Module | None = None) -> VelocityFn:
    """v(x, t) for class labels (B,), with classifier-free guidance or autoguidance (rae_spec.guidance)."""
    return shared.guided_velocity(model, labels, guidance, guide, OPS)


class Sampler(SamplerBase):
    """Fixed-grid ODE (rae_spec.samplers' methods: Euler, Heun, Heun3, midpoint, RK4) and SDE
    (Euler-Maruyama) integration on the shifted time grid.

    `walk` yields a StepState per step (previews read its x0), `steps` the state after every step, so
    callers can show progress or stop early; `sample` returns the final state (optionally the whole
    trajectory, index 0 being the start).
    """

    stack = staticmethod(torch.stack)

    def walk(self, x: torch.Tensor, velocity: VelocityFn, rng: np.random.Generator | None = None,
             ) -> Iterator[StepState]:
        """One StepState per step: the state it started from, the velocity there, and the new state."""
        _, A, b = self.plan.method.tableau
        total = len(self.plan.steps)

        def time(value: float) -> torch.Tensor:
            return torch.full((x.shape[0],), value, dtype=torch.float32, device=x.device)

        for step in self.plan.steps:
            if self.config.mode == "sde":
                v = velocity(x, time(step.t))
                new = self._sde_step(x, v, step, rng)
            else:
                ks = []
                for ti, a in zip(step.stage_times, A, strict=True):
                    ks.append(velocity(rk_combine(x, step.dt, a, ks), time(ti)))
                v, new = ks[0], rk_combine(x, step.dt, b, ks)
            yield StepState(step.index + 1, total, step.t, step.t_next, x, v, new)
            x = new

    @staticmethod
    def _sde_step(x: torch.Tensor, v: torch.Tensor, step: Step, rng) -> torch.Tensor:
        """x <- x - (v - D score) h + sqrt(2 D h) xi with score = -(x + (1 - t) v) / t (rae_spec.samplers.Step)."""
        t, D, h = step.t, step.diffusion, step.h
        score = -(x + (1.0 - t) * v) / t
        x = x - (v - D * score) * h
        if step.noise_scale > 0:
            if rng is not None:
                xi = torch.from_numpy(step_noise(rng, tuple(x.shape))).to(x.device, x.dtype)
            else:
                xi = torch.randn_like(x)
            x = x + step.noise_scale * xi
        return x
