"""The reference's `Transport` objective on MLX arrays, for training or checking a model in MLX: the shared
time distribution (rae_spec.schedule.TimeDistribution, so torch and MLX map the same uniforms to the same
times), the linear interpolant and the velocity loss. Random draws come from numpy unless injected."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from rae_spec.schedule import TimeDistribution

from .layers import as_array


class Transport(TimeDistribution):
    def time_from_uniform(self, U) -> mx.array:
        """Uniform draws in [0, 1) -> shifted training times (float32)."""
        return mx.array(self.times(U))

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
