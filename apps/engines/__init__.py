"""Choosing and starting a backend engine. Backends are imported only here, only when needed.

auto: MLX on Apple silicon (when installed), else torch with CUDA where available, else torch on the
CPU (or MLX on the CPU when torch is missing).
"""

from __future__ import annotations

import importlib.util
import platform
import sys
from collections.abc import Callable

from ..errors import UserError
from .base import DTYPES, Engine

BACKENDS = ("auto", "mlx", "torch")


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def apple_silicon() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"


def has_mlx_engine() -> bool:
    return installed("mlx") and installed("rae_mlx") and installed(f"{__name__}.mlx_engine")


def choose_backend(requested: str = "auto") -> str:
    """The backend to use: the requested one if it is installed, else the auto rule."""
    if requested not in BACKENDS:
        raise UserError(f"--backend must be one of {', '.join(BACKENDS)}, got {requested!r}")
    if requested == "torch":
        if not installed("torch"):
            raise UserError("--backend torch needs PyTorch: pip install 'rae-mlx[torch]'")
        return "torch"
    if requested == "mlx":
        if not has_mlx_engine():
            raise UserError("--backend mlx needs MLX: pip install 'rae-mlx[mlx]'" if not installed("mlx") else
                            "--backend mlx needs rae_mlx, which this installation lacks: reinstall rae-mlx")
        return "mlx"
    if apple_silicon() and has_mlx_engine():
        return "mlx"
    if installed("torch"):
        return "torch"
    if has_mlx_engine():
        return "mlx"
    raise UserError("no backend is installed: pip install 'rae-mlx[mlx]' (Apple silicon) or 'rae-mlx[torch]'")


def auto_reason(backend: str, device: str) -> str:
    """Why `--backend auto` picked this backend, for the one-line notice."""
    if backend == "mlx":
        return "Apple silicon with MLX" if apple_silicon() else "torch is not installed"
    if device.startswith("cuda"):
        return "CUDA is available"
    return "no Apple silicon or CUDA here" if device == "cpu" else f"no Apple MLX or CUDA; using {device}"


def check_quantize(backend: str, quantize: int | None) -> None:
    """Quantized weights exist on the MLX backend only."""
    if quantize is not None and backend != "mlx":
        raise UserError("--quantize works with the MLX backend only (use --backend mlx)")


def make_engine(backend: str, dtype: str = "float32", quantize: int | None = None,
                log: Callable[[str], None] = lambda message: None) -> Engine:
    """A ready engine for a chosen backend ("torch" or "mlx"); `log` receives one-line notices (conversions)."""
    if dtype not in DTYPES:
        raise UserError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    check_quantize(backend, quantize)
    if backend == "torch":
        from .torch_engine import TorchEngine

        return TorchEngine(dtype=dtype)
    if backend == "mlx":
        from .mlx_engine import MLXEngine  # type: ignore[import-not-found]

        return MLXEngine(dtype=dtype, quantize=quantize, log=log)
    raise UserError(f"unknown backend {backend!r}")


__all__ = ["BACKENDS", "DTYPES", "Engine", "check_quantize", "choose_backend", "make_engine"]
