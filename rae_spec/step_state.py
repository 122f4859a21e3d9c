"""What a sampler reports after each step, and how a caller stops it between steps.

The sampling loop (rae_spec.samplers.SamplerBase.run, on either backend's arrays) calls `on_step(StepState)`
after every step and then asks `cancel()`; a True answer raises `Cancelled` before the next step starts, so a
cancelled job never returns latents.
The state holds the backend's own arrays; `x0()` is the predicted clean latent x_t - t v (t = 1 is
noise, v = eps - x), which a preview decodes. Reading the state never changes the sampling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class Cancelled(Exception):
    """Raised by a sampling loop when its `cancel()` says so (between steps)."""


@dataclass(frozen=True)
class StepState:
    """After step `step` (1-based) of `total`: the state x at time t the step started from, the guided
    velocity v(x, t) it evaluated first, and the new state at t_next."""

    step: int
    total: int
    t: float
    t_next: float
    x: Any
    velocity: Any
    next: Any

    def x0(self, rows: int | None = None) -> Any:
        """The predicted clean latent x_t - t v (exact for the linear path's velocity), of the first `rows`
        images (all when None)."""
        x, v = (self.x, self.velocity) if rows is None else (self.x[:rows], self.velocity[:rows])
        return x - self.t * v


StepCallback = Callable[[StepState], None]
CancelCheck = Callable[[], bool]
