"""The flow-matching training objective (reference `Transport`) in MLX: draw t from the shifted
distribution, interpolate x_t = (1 - t) x + t eps, regress the velocity eps - x. The time transform is
rae_spec.schedule.time_from_uniform (numpy), so both backends map the same uniforms to the same times."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from rae_spec.configs import TransportConfig
from rae_spec.schedule import time_from_uniform

from .layers import as_array


class Transport:
    def __init__(self, config: TransportConfig, shift: float | None = None):
        """`shift` overrides sqrt(shift_dim / shift_base) when a caller knows alpha directly."""
        self.config = config
        self.shift = config.time_dist_shift if shift is None else float(shift)

    def time_from_uniform(self, U) -> mx.array:
        """Uniform draws in [0, 1) -> shifted training times (float32)."""
        return mx.array(time_from_uniform(np.asarray(U), self.config.time_dist_type, self.shift))

    def sample_time(self, batch: int, rng: np.random.Generator | None = None) -> mx.array:
        """Training times for a batch from numpy uniforms (`rng`, or a fresh generator)."""
        rng = rng if rng is not None else np.random.default_rng()
        return self.time_from_uniform(rng.random(batch, dtype=np.float32))

    @staticmethod
    def interpolate(t, noise, data) -> tuple[mx.array, mx.array]:
        """x_t = (1 - t) data + t noise, target u_t = noise - data."""
        t, noise, data = as_array(t), as_array(noise), as_array(data)
        tt = t.reshape(-1, *([1] * (data.ndim - 1))).astype(data.dtype)
        return (1 - tt) * data + tt * noise, noise - data

    def loss(self, model, data, labels, noise=None, uniforms=None, force_drop_ids=None) -> dict[str, mx.array]:
        """Per-sample MSE over (C, H, W), computed in float32. `noise` / `uniforms` inject the draws (else
        mx.random and a fresh numpy generator); `force_drop_ids` (1 = null label) reaches the label embedder."""
        data = as_array(data)
        noise = mx.random.normal(data.shape) if noise is None else as_array(noise)
        t = self.sample_time(data.shape[0]) if uniforms is None else self.time_from_uniform(uniforms)
        xt, ut = self.interpolate(t, noise, data)
        labels = as_array(labels)
        pred = model(xt, t, labels) if force_drop_ids is None else model(xt, t, labels,
                                                                         force_drop_ids=as_array(force_drop_ids))
        err = (pred.astype(mx.float32) - ut.astype(mx.float32)) ** 2
        loss = err.mean(axis=tuple(range(1, data.ndim)))
        return {"loss": loss, "pred": pred, "t": t, "xt": xt}
