"""Numerics of a run: autocast (bf16 / fp16 compute over float32 master weights), TF32 matmuls,
torch.compile, deterministic mode."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def configure(device: torch.device, tf32: bool, deterministic: bool = False) -> None:
    """TF32 for float32 matmuls and convolutions on CUDA; optional deterministic algorithms."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cudnn.benchmark = not deterministic
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def autocast(device: torch.device, precision: str):
    """Autocast to bf16 / fp16 (float32: a no-op). Parameters, optimizer state and the loss stay float32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = DTYPES[precision]
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("fp16 training needs CUDA (a GradScaler); use bf16 on this device")
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, precision: str):
    """A GradScaler for fp16 (which underflows without one); None otherwise."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(device.type)


def maybe_compile(module: nn.Module, enabled: bool, mode: str | None = None, backend: str = "inductor") -> nn.Module:
    """Compile `module.forward` in place, so the module, its state-dict keys (no `_orig_mod.`) and any
    DDP / FSDP wrapper around it are unchanged. Compilation happens at the first call."""
    if enabled:
        module.forward = torch.compile(module.forward, mode=mode, backend=backend)
    return module
