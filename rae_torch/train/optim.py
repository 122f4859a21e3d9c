"""AdamW and the learning-rate schedules of the reference recipes (reference-spec 6.1, 6.2)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from .config import OptimConfig, ScheduleConfig
from .data import epochs_to_steps


def build_adamw(params: Iterable[torch.nn.Parameter], cfg: OptimConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; fused kernels on CUDA unless `fused` says otherwise."""
    params = [p for p in params if p.requires_grad]
    fused = cfg.fused if cfg.fused is not None else device.type == "cuda"
    kwargs = {"fused": True} if fused else {"foreach": True}
    return torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay,
                             eps=cfg.eps, **kwargs)


class LRSchedule:
    """lr(step) = base * f(step), set on the optimizer before every optimizer step.

    f: during warmup (step < W) (step + 1) / W when warming up from zero, else 1; then for 'linear'
    1 - (1 - r) p, for 'cosine' r + (1 - r) (1 + cos(pi p)) / 2, with p = (step - W) / (E - W) and
    r = final / base; r from the decay end E on; 'constant' stays 1 after warmup. The state is the step
    count, so a resumed run continues the same curve.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, steps_per_epoch: int,
                 base_lr: float):
        self.optimizer = optimizer
        self.kind = cfg.type
        self.base = cfg.base_lr if cfg.base_lr is not None else base_lr
        final = cfg.final_lr if cfg.final_lr is not None else self.base
        self.ratio = final / self.base if self.base > 0 else 1.0
        self.warmup = max(epochs_to_steps(cfg.warmup_epochs, cfg.warmup_steps, steps_per_epoch) or 0, 0)
        end = epochs_to_steps(cfg.decay_end_epoch, cfg.decay_end_steps, steps_per_epoch)
        self.decay_end = max(end if end is not None else self.warmup, self.warmup)
        self.from_zero = cfg.warmup_from_zero
        self.count = 0
        self.apply()

    def factor(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup if self.from_zero else 1.0
        if self.kind == "constant":
            return 1.0
        if step >= self.decay_end:
            return self.ratio
        p = (step - self.warmup) / max(self.decay_end - self.warmup, 1)
        if self.kind == "linear":
            return 1.0 - (1.0 - self.ratio) * p
        return self.ratio + (1.0 - self.ratio) * 0.5 * (1.0 + math.cos(math.pi * p))

    def lr(self, step: int | None = None) -> float:
        return self.base * self.factor(self.count if step is None else step)

    def apply(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr()

    def step(self) -> None:
        self.count += 1
        self.apply()

    def state_dict(self) -> dict:
        return {"count": self.count, "kind": self.kind, "base": self.base, "warmup": self.warmup,
                "decay_end": self.decay_end}

    def load_state_dict(self, state: dict) -> None:
        self.count = int(state["count"])
        self.apply()
