"""The flow-matching training objective (reference `Transport`): draw t from the shifted
distribution, interpolate x_t = (1 - t) x + t eps, regress the velocity eps - x. The time transform is
rae_spec.schedule.time_from_uniform (numpy), so both backends map the same uniforms to the same times."""

from __future__ import annotations

import numpy as np
import torch

from rae_spec.configs import TransportConfig
from rae_spec.schedule import time_from_uniform


class Transport:
    def __init__(self, config: TransportConfig, shift: float | None = None):
        """`shift` overrides sqrt(shift_dim / shift_base) when a caller knows alpha directly."""
        self.config = config
        self.shift = config.time_dist_shift if shift is None else float(shift)

    def time_from_uniform(self, U) -> torch.Tensor:
        """Uniform draws in [0, 1) (a tensor or numpy array) -> shifted training times, float32 on the CPU."""
        U = U.detach().cpu().numpy() if isinstance(U, torch.Tensor) else np.asarray(U)
        return torch.from_numpy(time_from_uniform(U, self.config.time_dist_type, self.shift))

    @staticmethod
    def interpolate(t: torch.Tensor, noise: torch.Tensor, data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x_t = (1 - t) data + t noise, target u_t = noise - data."""
        tt = t.view(-1, *([1] * (data.dim() - 1))).to(data.dtype)
        return (1 - tt) * data + tt * noise, noise - data

    def loss(self, model, data: torch.Tensor, labels: torch.Tensor, noise: torch.Tensor | None = None,
             uniforms=None, force_drop_ids: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Per-sample MSE over (C, H, W), computed in float32.

        `noise` and `uniforms` inject the draws (training passes per-sample seeded ones); left out, they
        come from torch's global generator in the reference's order (noise, then uniforms on the CPU).
        `force_drop_ids` (1 = replace the label by the null class) reaches the model's label embedder, so
        label dropout can follow per-sample draws too."""
        if noise is None:
            noise = torch.randn_like(data)
        if uniforms is None:
            uniforms = torch.rand((data.shape[0],))
        t = self.time_from_uniform(uniforms).to(data.device)
        xt, ut = self.interpolate(t, noise, data)
        pred = model(xt, t, labels) if force_drop_ids is None else model(xt, t, labels, force_drop_ids=force_drop_ids)
        loss = ((pred.float() - ut.float()) ** 2).mean(dim=tuple(range(1, data.dim())))
        return {"loss": loss, "pred": pred, "t": t, "xt": xt}
