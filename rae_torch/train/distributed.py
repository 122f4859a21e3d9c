"""Process groups and model wrapping: one process, or torchrun (NCCL on CUDA, gloo on CPU), with DDP or
FSDP2 `fully_shard`. Helpers are no-ops without a process group, so the trainers read the same either way.
"""

from __future__ import annotations

import contextlib
import datetime
import inspect
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Runtime:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return dist.is_available() and dist.is_initialized()


def init(device: str | None = None) -> Runtime:
    """Join the torchrun process group when launched by torchrun (RANK / WORLD_SIZE set), else run as a
    single process. Device: cuda:LOCAL_RANK when CUDA is available (or `device` when given)."""
    launched = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device is None:
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if launched and not (dist.is_available() and dist.is_initialized()):
        backend = "nccl" if dev.type == "cuda" else "gloo"
        kwargs: dict[str, Any] = {"backend": backend, "timeout": datetime.timedelta(minutes=30)}
        if dev.type == "cuda":
            kwargs["device_id"] = dev
        dist.init_process_group(**kwargs)
    if dist.is_available() and dist.is_initialized():
        return Runtime(dist.get_rank(), dist.get_world_size(), local_rank, dev)
    return Runtime(0, 1, 0, dev)


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    """The mean of `t` over ranks (a new tensor); `t` itself without a process group."""
    if not is_distributed():
        return t
    out = t.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / dist.get_world_size()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when `flag` is true on any rank."""
    if not is_distributed():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def all_gather_object(obj: Any) -> list[Any]:
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def _shard_units(model: nn.Module) -> list[nn.Module]:
    """The repeated blocks FSDP2 shards one by one (DiT blocks, decoder layers), else none."""
    for name in ("blocks", "decoder_layers"):
        units = getattr(model, name, None)
        if isinstance(units, nn.ModuleList):
            return list(units)
    return []


def wrap(model: nn.Module, runtime: Runtime, parallel: str = "ddp") -> nn.Module:
    """The module to call in training: DDP(model), or `model` sharded in place with FSDP2 (each block,
    then the root), or `model` itself in a single process. Parameters stay float32 (master weights);
    bf16 compute comes from autocast."""
    if not is_distributed():
        return model
    if parallel == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for unit in _shard_units(model):
            fully_shard(unit)
        fully_shard(model)
        return model
    if parallel != "ddp":
        raise ValueError(f"parallel must be 'ddp' or 'fsdp', got {parallel!r}")
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [runtime.device.index] if runtime.device.type == "cuda" else None
    # Buffers (RoPE tables, spectral-norm vectors) are synced once at construction, never per forward.
    sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(DDP).parameters
            else {"broadcast_buffers": False})
    return DDP(model, device_ids=ids, find_unused_parameters=False, gradient_as_bucket_view=True, **sync)


def is_fsdp(model: nn.Module) -> bool:
    return any(type(t).__name__ == "DTensor" for t in model.parameters())


@contextlib.contextmanager
def gradient_sync(wrapped: nn.Module, enabled: bool):
    """Skip the gradient all-reduce on non-final micro-batches (DDP no_sync / FSDP2 sync flag)."""
    if enabled or not is_distributed():
        yield
        return
    if hasattr(wrapped, "no_sync"):
        with wrapped.no_sync():
            yield
        return
    if hasattr(wrapped, "set_requires_gradient_sync"):
        wrapped.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            wrapped.set_requires_gradient_sync(True)
        return
    yield
