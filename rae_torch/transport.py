"""The flow-matching training objective (reference `Transport`): draw t from the shifted
distribution, interpolate x_t = (1 - t) x + t eps, regress the velocity eps - x."""

from __future__ import annotations

import math

import torch

from rae_spec.configs import TransportConfig, parse_time_dist
from rae_spec.schedule import T_MAX


class Transport:
    def __init__(self, config: TransportConfig, shift: float | None = None):
        """`shift` overrides sqrt(shift_dim / shift_base) when a caller knows alpha directly."""
        self.config = config
        self.shift = config.time_dist_shift if shift is None else float(shift)
        self.kind, self.mu, self.sigma = parse_time_dist(config.time_dist_type)

    def shift_time(self, u: torch.Tensor) -> torch.Tensor:
        return self.shift * u / (1 + (self.shift - 1) * u)

    def time_from_uniform(self, U: torch.Tensor) -> torch.Tensor:
        """Uniform draws in [0, 1) -> shifted training times, float32 as the reference computes them."""
        U = U.float()
        if self.kind == "uniform":
            u = U * T_MAX
        else:
            # Truncated logit-normal by inverse CDF: U' in [Phi(-inf), Phi((logit t_max - mu) / sigma)].
            hi = 0.5 * (1 + math.erf((math.log(T_MAX / (1 - T_MAX)) - self.mu) / self.sigma / math.sqrt(2)))
            hi = torch.tensor(hi, dtype=torch.float32)
            p = hi * U.clamp(0, 1)
            z = self.mu + self.sigma * torch.special.erfinv(2 * p - 1) * math.sqrt(2)
            u = torch.sigmoid(z).clamp(0.0, T_MAX)
        return self.shift_time(u)

    def sample_time(self, batch: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draws on the CPU generator (as the reference does), then moves to `device`."""
        U = torch.rand((batch,), generator=generator)
        return self.time_from_uniform(U).to(device)

    @staticmethod
    def interpolate(t: torch.Tensor, noise: torch.Tensor, data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x_t = (1 - t) data + t noise, target u_t = noise - data."""
        tt = t.view(-1, *([1] * (data.dim() - 1))).to(data.dtype)
        return (1 - tt) * data + tt * noise, noise - data

    def loss(self, model, data: torch.Tensor, labels: torch.Tensor, noise: torch.Tensor | None = None,
             uniforms: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Per-sample MSE over (C, H, W). Draw order (noise, then uniforms) matches the reference."""
        if noise is None:
            noise = torch.randn_like(data)
        if uniforms is None:
            uniforms = torch.rand((data.shape[0],))
        t = self.time_from_uniform(uniforms).to(data.device)
        xt, ut = self.interpolate(t, noise, data)
        pred = model(xt, t, labels)
        loss = ((pred.float() - ut.float()) ** 2).mean(dim=tuple(range(1, data.dim())))
        return {"loss": loss, "pred": pred, "t": t, "xt": xt}
