"""Stage-2 training's objective in torch (the reference's `Transport.training_losses`): t from the shifted
time distribution (rae_spec.schedule.TimeDistribution, shared with MLX), x_t = (1 - t) x + t eps, and the
mean squared error of the predicted velocity against eps - x. Training calls `loss`."""

from __future__ import annotations

import torch

from rae_spec.schedule import TimeDistribution


class Transport(TimeDistribution):
    def time_from_uniform(self, U) -> torch.Tensor:
        """Uniform draws in [0, 1) (a tensor or numpy array) -> shifted training times, float32 on the CPU."""
        return torch.from_numpy(self.times(U.detach().cpu() if isinstance(U, torch.Tensor) else U))

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
