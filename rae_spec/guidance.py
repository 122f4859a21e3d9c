"""Guidance, written once for both backends: how classifier-free guidance and autoguidance combine
model predictions into the velocity a sampler integrates.

The backends pass their array operations (`ArrayOps`); everything else (when guidance applies, which
batch each model sees, the combination itself) is here, so rae_torch and rae_mlx cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from .configs import GuidanceConfig


class ArrayOps(Protocol):
    """The few array operations guidance needs, for one backend's arrays."""

    def cat(self, a: Any, b: Any) -> Any: ...  # along the batch axis

    def halves(self, x: Any) -> tuple[Any, Any]: ...  # split the batch axis in two

    def fill_like(self, labels: Any, value: int) -> Any: ...

    def interval_mask(self, t: Any, interval: tuple[float, float], ndim: int) -> Any:
        """t_min <= t <= t_max (both inclusive, compared in float32), shaped to broadcast over x."""

    def where(self, mask: Any, a: Any, b: Any) -> Any: ...


def combine(ops: ArrayOps, t: Any, strong: Any, weak: Any, scale: float, interval: tuple[float, float]) -> Any:
    """weak + scale (strong - weak) where t lies in the interval, else strong (the conditional / main
    model alone). cfg: strong = conditional, weak = unconditional; autoguidance: main and guide."""
    return ops.where(ops.interval_mask(t, interval, strong.ndim), weak + scale * (strong - weak), strong)


def guided_velocity(model: Any, labels: Any, guidance: GuidanceConfig | None, guide: Any,
                    ops: ArrayOps) -> Callable[[Any, Any], Any]:
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
        y = ops.cat(labels, ops.fill_like(labels, null))

        def cfg(x: Any, t: Any) -> Any:
            cond, uncond = ops.halves(model(ops.cat(x, x), ops.cat(t, t), y))
            return combine(ops, t, cond, uncond, scale, interval)

        return cfg
    if guide is None:
        raise ValueError("autoguidance needs a guide model (e.g. the DiT^DH-S preset)")
    return lambda x, t: combine(ops, t, model(x, t, labels), guide(x, t, labels), scale, interval)
