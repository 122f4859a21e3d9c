"""The training loop both stages share: setup, resume, optimizer steps over micro-batches, logging,
checkpoints (every N steps, at the end, and on SIGTERM), sample grids, export.

A stage subclasses `Trainer` and provides `build()` (models, optimizers, dataset), `train_step(batches)`
(one optimizer step over its micro-batches, returning detached metrics) and optionally `sample()`,
`extra_state()` / `load_extra_state()` and `export()`.
"""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rae_spec.configs import ConfigError
from rae_spec.files import write_text

from . import checkpoints as ckpt
from . import distributed, precision
from .config import RunConfig, dump_config
from .data import GlobalOrderSampler, advance, make_loader, steps_per_epoch
from .ema import EMA
from .optim import LRSchedule
from .randomness import rng_state, seed_everything, set_rng_state
from .tracking import Tracker, progress, setup_logging

log = logging.getLogger("rae.train")
RUN_CONFIG = "config.yaml"  # the resolved config, in the run folder
RUN_CONFIG_HEADER = "# rae train: the resolved config of this run (rewritten at every start)\n"

Callback = Callable[["Trainer", int], None]


class Trainer(abc.ABC):
    stage = "train"

    def __init__(self, config: Any, runtime: distributed.Runtime | None = None,
                 callbacks: list[Callback] | None = None):
        self.cfg = config
        self.run_cfg: RunConfig = config.train
        self.rt = runtime or distributed.init()
        self.out = Path(config.output_dir)
        self.callbacks = list(callbacks or [])
        setup_logging(self.out, self.rt.is_main)
        precision.configure(self.rt.device, self.run_cfg.tf32, self.run_cfg.deterministic)
        run = self.run_cfg
        denom = self.rt.world_size * run.grad_accum_steps
        if run.global_batch_size % denom:
            raise ConfigError(f"global_batch_size {run.global_batch_size} must be divisible by world size x "
                              f"grad_accum_steps = {self.rt.world_size} x {run.grad_accum_steps}")
        self.micro_batch = run.global_batch_size // denom
        self.step = 0
        self.epoch = 0
        self.position = 0
        # Set by build():
        self.model: nn.Module
        self.wrapped: nn.Module
        self.ema: EMA
        self.optimizer: torch.optim.Optimizer
        self.schedule: LRSchedule
        self.dataset: torch.utils.data.Dataset
        self.scaler = precision.grad_scaler(self.rt.device, run.precision)

    # ------------------------------------------------------------------------------- subclass hooks

    @abc.abstractmethod
    def build(self) -> None:
        """Create model, EMA, optimizer, schedule and dataset (the attributes listed in __init__)."""

    @abc.abstractmethod
    def train_step(self, batches: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """One optimizer step over the micro-batches of a global batch; returns the metrics to log."""

    def sample(self, tracker: Tracker) -> None:  # noqa: B027  (optional hook: no grid by default)
        """Write a sample grid (called on every rank every `sample_every` steps)."""

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:  # noqa: B027  (optional hook)
        """Restore what `extra_state` saved (nothing by default)."""

    def export(self) -> Path | None:
        return None

    # ------------------------------------------------------------------------------- helpers

    @property
    def num_samples(self) -> int:
        return len(self.dataset)

    @property
    def steps_per_epoch(self) -> int:
        return steps_per_epoch(self.num_samples, self.run_cfg.global_batch_size)

    @property
    def total_steps(self) -> int:
        run = self.run_cfg
        if run.max_steps is not None:
            return run.max_steps
        if run.epochs is not None:
            return max(int(run.epochs * self.steps_per_epoch), 1)
        raise ConfigError("set train.max_steps or train.epochs")

    @property
    def checkpoint_every(self) -> int:
        run = self.run_cfg
        if run.checkpoint_every_epochs is not None:
            return max(int(run.checkpoint_every_epochs * self.steps_per_epoch), 1)
        return run.checkpoint_every

    def autocast(self):
        return precision.autocast(self.rt.device, self.run_cfg.precision)

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def optimizer_step(self, optimizer: torch.optim.Optimizer, params: list[torch.Tensor],
                       clip: float | None) -> torch.Tensor | None:
        """Unscale (fp16), clip the global grad norm once, step, zero the grads. Returns the norm."""
        norm = None
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)
        if clip is not None and clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, clip)
            if type(norm).__name__ == "DTensor":
                norm = norm.full_tensor()
        if self.scaler is not None:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return norm

    def seed_model_init(self) -> None:
        """Same seed on every rank for weight init; call before building trainable modules."""
        seed_everything(self.run_cfg.seed)

    def seed_per_rank(self) -> None:
        """The reference's per-rank seed (global_seed * world_size + rank), after building."""
        seed_everything(self.run_cfg.seed * self.rt.world_size + self.rt.rank)

    def loader(self) -> Iterator[dict[str, torch.Tensor]]:
        sampler = GlobalOrderSampler(self.num_samples, self.run_cfg.global_batch_size, self.rt.rank,
                                     self.rt.world_size, self.run_cfg.seed, self.epoch, self.position)
        return iter(make_loader(self.dataset, sampler, self.micro_batch, self.cfg.data.num_workers,
                                pin_memory=self.rt.device.type == "cuda"))

    # ------------------------------------------------------------------------------- checkpoints

    def state(self) -> dict[str, Any] | None:
        """The checkpoint dict on rank 0 (None elsewhere); a collective under FSDP2."""
        model = ckpt.model_state(self.model)
        ema = self.ema.state_dict()
        opt = ckpt.optimizer_state(self.model, self.optimizer)
        extra = self.extra_state()
        rngs = distributed.all_gather_object(rng_state())
        if not self.rt.is_main:
            return None
        return {
            "format": ckpt.FORMAT, "stage": self.stage, "step": self.step, "epoch": self.epoch,
            "model": model, "ema": ema, "optimizer": opt, "scheduler": self.schedule.state_dict(),
            "data": {"epoch": self.epoch, "position": self.position, "num_samples": self.num_samples,
                     "global_batch_size": self.run_cfg.global_batch_size, "seed": self.run_cfg.seed},
            "rng": rngs, "world_size": self.rt.world_size, "config": dump_config(self.cfg),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            **extra,
        }

    def save(self) -> Path:
        state = self.state()
        path = ckpt.checkpoint_path(self.out, self.step)
        if self.rt.is_main:
            ckpt.atomic_torch_save(state, path)
            ckpt.prune(self.out, self.run_cfg.keep_checkpoints)
            log.info("saved %s", path)
        distributed.barrier()
        return path

    def resume(self) -> bool:
        """Continue from the newest checkpoint that loads. A corrupt, truncated or refused newer one is
        reported, renamed aside (`*.pt.corrupt`) and skipped; if none loads, the run stops with an error
        rather than start over. Temporary files of saves cut short by a crash are removed."""
        if self.rt.is_main:
            ckpt.remove_orphans(self.out)
        found = ckpt.list_checkpoints(self.out)
        bad: list[tuple[Any, str]] = []
        for _, path in reversed(found):
            try:
                state = ckpt.load(path)
                if state.get("stage") != self.stage:
                    raise ConfigError(f"{path} is a {state.get('stage')} checkpoint; this run is {self.stage}")
                self._restore(path, state)
            except ConfigError:
                raise
            except (ckpt.CheckpointError, KeyError, TypeError, ValueError, RuntimeError) as e:
                why = " ".join(str(e).split())[:300]
                log.warning("cannot resume from %s (%s: %s); trying the previous checkpoint", path,
                            type(e).__name__, why)
                bad.append((path, why))
                continue
            ckpt.set_aside(bad, self.rt.is_main)
            return True
        if bad:
            raise ckpt.CheckpointError(f"none of the {len(bad)} checkpoints in {ckpt.checkpoint_dir(self.out)} can "
                                       f"be resumed (newest: {bad[0][0].name}: {bad[0][1]}); move them away to "
                                       "start over")
        return False

    def _restore(self, path: Path, state: dict[str, Any]) -> None:
        ckpt.load_model_state(self.model, state["model"])
        self.ema.load_state_dict(state["ema"])
        ckpt.load_optimizer_state(self.model, self.optimizer, state["optimizer"])
        self.schedule.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.load_extra_state(state)
        self.step = int(state["step"])
        data = state["data"]
        self.epoch, self.position = int(data["epoch"]), int(data["position"])
        if data["num_samples"] != self.num_samples:
            log.warning("the dataset has %d samples, the checkpoint's had %d: the data order changes",
                        self.num_samples, data["num_samples"])
        rngs = state["rng"]
        if len(rngs) == self.rt.world_size:
            set_rng_state(rngs[self.rt.rank])
        else:
            log.warning("world size changed (%d -> %d): RNG states reseeded per rank; per-sample draws are "
                        "unaffected", len(rngs), self.rt.world_size)
            seed_everything(self.run_cfg.seed * self.rt.world_size + self.rt.rank + self.step)
        log.info("resumed from %s (step %d, epoch %d, position %d)", path, self.step, self.epoch, self.position)

    # ------------------------------------------------------------------------------- the loop

    def fit(self) -> dict[str, float]:
        """Train to the configured length (resuming when a checkpoint exists); returns the last logged
        metrics. Saves on SIGTERM and returns early."""
        self.build()
        resumed = self.resume()
        run = self.run_cfg
        total = self.total_steps
        if self.rt.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            write_text(self.out / RUN_CONFIG, RUN_CONFIG_HEADER + dump_config(self.cfg))
        if not resumed:
            log.info("%s: %d steps of global batch %d (%d ranks x %d micro-batches of %d), %d samples, "
                     "%d steps per epoch", self.stage, total, run.global_batch_size, self.rt.world_size,
                     run.grad_accum_steps, self.micro_batch, self.num_samples, self.steps_per_epoch)
        tracker = Tracker(self.out, self.rt.is_main, run.tensorboard, run.wandb, run.wandb_project)
        bar = progress(total, self.step, self.rt.is_main, run.progress, self.stage)
        last: dict[str, float] = {}
        sums: dict[str, torch.Tensor] = {}
        count = 0
        t0 = time.perf_counter()
        stopped = False
        it = self.loader() if self.step < total else None
        try:
            with ckpt.StopRequest() as stop:
                while self.step < total:
                    batches = [next(it) for _ in range(run.grad_accum_steps)]
                    metrics = self.train_step(batches)
                    self.step += 1
                    self.epoch, self.position = advance(self.epoch, self.position, run.global_batch_size,
                                                        self.num_samples)
                    for k, v in metrics.items():
                        sums[k] = sums.get(k, 0) + v.detach().float()
                    count += 1
                    bar.update(1)
                    if self.step % run.log_every == 0 or self.step == total:
                        last = {k: float(distributed.all_reduce_mean(v / count)) for k, v in sums.items()}
                        last["lr"] = self.schedule.lr()
                        dt = time.perf_counter() - t0
                        last["samples_per_s"] = count * run.global_batch_size / max(dt, 1e-9)
                        tracker.scalars(self.step, {f"train/{k}": v for k, v in last.items()})
                        bar.set_postfix({k: f"{v:.4g}" for k, v in last.items() if k in ("loss", "rec", "lr")})
                        log.info("step %d: %s", self.step, ", ".join(f"{k} {v:.5g}" for k, v in last.items()))
                        sums, count, t0 = {}, 0, time.perf_counter()
                    if run.sample_every > 0 and self.step % run.sample_every == 0:
                        self.sample(tracker)
                    for callback in self.callbacks:
                        callback(self, self.step)
                    every = 1 if not self.rt.distributed else max(run.stop_check_every, 1)
                    if self.step % every == 0 and distributed.any_rank(stop.requested, self.rt.device):
                        log.warning("stop requested (SIGTERM): saving step %d and exiting", self.step)
                        self.save()
                        stopped = True
                        break
                    if self.step % self.checkpoint_every == 0 and self.step < total:
                        self.save()
        finally:
            bar.close()
            del it
        if not stopped:
            if ckpt.latest_checkpoint(self.out) != ckpt.checkpoint_path(self.out, self.step):
                self.save()
            exported = self.export()
            if exported is not None:
                log.info("exported %s", exported)
        tracker.close()
        distributed.barrier()
        return last
