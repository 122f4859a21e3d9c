"""Training checkpoints: everything a run needs to continue bit for bit, written atomically.

A checkpoint `<output_dir>/checkpoints/step-0001000.pt` holds the model and EMA state dicts (plain
key names, so `rae_torch.load_model(path, config)` reads the EMA weights), the optimizer (keyed by
parameter name, the same under DDP and FSDP2), the LR schedule, the step, the data position, every
rank's RNG states and the run config. It is read with torch.load(weights_only=True). A run resumes
from the newest one automatically; SIGTERM makes the loop save at the next step boundary and exit.
"""

from __future__ import annotations

import logging
import re
import signal
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rae_spec.files import atomic_write

from ..checkpoint import CheckpointError, read_checkpoint
from . import distributed
from .distributed import is_fsdp

log = logging.getLogger("rae.train")

FORMAT = "rae-train/1"
_NAME = re.compile(r"^step-(\d+)\.pt$")


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def checkpoint_dir(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def checkpoint_path(output_dir: str | Path, step: int) -> Path:
    return checkpoint_dir(output_dir) / f"step-{step:07d}.pt"


def list_checkpoints(output_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of every step-N.pt in the run's checkpoint folder, oldest first (other files ignored)."""
    folder = checkpoint_dir(output_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    found = list_checkpoints(output_dir)
    return found[-1][1] if found else None


_ORPHAN = re.compile(r"^\.step-\d+\.pt\..+\.tmp$")  # rae_spec.files.atomic_path's temporary names


def remove_orphans(output_dir: str | Path) -> list[Path]:
    """Delete the temporary files of checkpoint saves that a crash (kill -9, power loss) cut short. They
    are never read: only complete `step-N.pt` files count."""
    folder = checkpoint_dir(output_dir)
    removed = [p for p in folder.iterdir() if _ORPHAN.match(p.name)] if folder.is_dir() else []
    for p in removed:
        p.unlink(missing_ok=True)
        log.warning("removed %s, left by an interrupted save", p)
    return removed


def set_aside(bad: list[tuple[Path, str]], is_main: bool) -> None:
    """Rename checkpoints that could not be resumed to `<name>.corrupt`, so neither a later resume nor
    pruning mistakes them for the newest state (the file is kept for inspection)."""
    distributed.barrier()  # every rank has finished reading them
    if is_main:
        for path, _ in bad:
            path.replace(path.with_name(path.name + ".corrupt"))
            log.warning("set aside %s as %s.corrupt", path, path.name)


def prune(output_dir: str | Path, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints (keep <= 0 keeps everything)."""
    if keep <= 0:
        return
    for _, path in list_checkpoints(output_dir)[:-keep]:
        path.unlink(missing_ok=True)


def load(path: str | Path) -> dict[str, Any]:
    obj = read_checkpoint(path)
    if not isinstance(obj, dict) or "model" not in obj or "step" not in obj:
        raise CheckpointError(f"{path} is not a training checkpoint (it lacks 'model' and 'step')")
    return obj


# ---------------------------------------------------------------------------------- model / optimizer


def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Full CPU state dict of `model` (gathered under FSDP2: call on every rank)."""
    if is_fsdp(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def load_model_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    if is_fsdp(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True))
        return
    model.load_state_dict(state, strict=True)


def optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Optimizer state keyed by parameter name (portable across DDP / FSDP2 and world sizes)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=is_fsdp(model))
    state = get_optimizer_state_dict(model, optimizer, options=options)
    return _to_cpu(state)


def load_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True))


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_cpu(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_to_cpu(v) for v in obj)
    return obj


# ---------------------------------------------------------------------------------- SIGTERM


class StopRequest:
    """Turns SIGTERM into a flag the training loop polls at step boundaries (then saves and exits)."""

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM,)):
        self.signals = signals
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handler(self, signum, frame) -> None:
        self.requested = True

    def __enter__(self) -> StopRequest:
        for s in self.signals:
            try:
                self._previous[s] = signal.signal(s, self._handler)
            except ValueError:  # not the main thread: signals cannot be caught here
                pass
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous.clear()
