"""Exponential moving average of a model's weights.

As the reference's update_ema: every named parameter, trainable or not (so the DiT's fixed pos_embed
and t_embedder.W are averaged too and drift by rounding, as in the released checkpoints), updated
after every optimizer step as ema = decay * ema + (1 - decay) * param, two rounded operations in that
order. Buffers (the RoPE tables) are copied from the model. Under FSDP2 each rank averages its own
shards, and the full weights are gathered only to save or sample.
"""

from __future__ import annotations

import torch
from torch import nn


def _is_dtensor(t: torch.Tensor) -> bool:
    return type(t).__name__ == "DTensor"


def _local(t: torch.Tensor) -> torch.Tensor:
    return t.to_local() if _is_dtensor(t) else t


class EMA:
    def __init__(self, model: nn.Module, decay: float):
        self.model = model
        self.decay = decay
        self.names: list[str] = []
        self.params: list[torch.Tensor] = []
        for name, p in model.named_parameters():
            self.names.append(name)
            self.params.append(p)
        self.shadow = [_local(p).detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        live = [_local(p).detach() for p in self.params]
        torch._foreach_mul_(self.shadow, self.decay)
        torch._foreach_add_(self.shadow, live, alpha=1.0 - self.decay)

    def _full(self, i: int) -> torch.Tensor:
        p, s = self.params[i], self.shadow[i]
        if _is_dtensor(p):
            from torch.distributed.tensor import DTensor

            return DTensor.from_local(s, p.device_mesh, p.placements, shape=p.shape, stride=p.stride()).full_tensor()
        return s

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Full EMA weights on the CPU, keyed like model.state_dict() (buffers from the model). Under
        FSDP2 every rank must call this (it gathers shards)."""
        ema = {name: self._full(i).detach().cpu().clone() for i, name in enumerate(self.names)}
        out = {}
        for name, t in self.model.state_dict().items():
            out[name] = ema[name] if name in ema else _local(t).detach().cpu().clone()
        return out

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = [n for n in self.names if n not in state]
        if missing:
            raise KeyError(f"EMA state lacks {len(missing)} parameters (first: {missing[:3]})")
        for i, name in enumerate(self.names):
            full, p = state[name], self.params[i]
            if _is_dtensor(p):
                from torch.distributed.tensor import distribute_tensor

                full = distribute_tensor(full.to(p.device), p.device_mesh, p.placements).to_local()
            self.shadow[i].copy_(full.to(self.shadow[i].device, self.shadow[i].dtype))
