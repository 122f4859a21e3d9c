"""The rae_mlx backend of the parity runner (runner.py holds the case logic for both backends)."""

from __future__ import annotations

import contextlib

import mlx.core as mx
import numpy as np
from mlx import nn

import rae_mlx.checkpoint
import rae_mlx.rae
import rae_mlx.sampling
import rae_mlx.transport

from .runner import Runner, debug_module


class Tap(nn.Module):
    """Wraps a submodule and records its output: MLX's stand-in for a forward hook."""

    def __init__(self, inner: nn.Module, store: dict, key: str):
        super().__init__()
        self.inner = inner
        object.__setattr__(self, "_store", store)
        object.__setattr__(self, "_key", key)

    def __getattr__(self, key: str):
        if key in self:
            return self[key]
        if "inner" not in self:
            raise AttributeError(key)
        return getattr(self["inner"], key)

    def __call__(self, *args, **kwargs):
        out = self.inner(*args, **kwargs)
        self._store[self._key] = out
        return out


class MLXBackend:
    name = "mlx"
    checkpoint, rae, sampling, transport = rae_mlx.checkpoint, rae_mlx.rae, rae_mlx.sampling, rae_mlx.transport
    no_grad = staticmethod(contextlib.nullcontext)

    @staticmethod
    def array(a: np.ndarray) -> mx.array:
        return mx.array(np.ascontiguousarray(a))

    @staticmethod
    def numpy(a: mx.array) -> np.ndarray:
        return np.asarray(a.astype(mx.float32) if mx.issubdtype(a.dtype, mx.floating) else a)

    @staticmethod
    def cat(arrays: list[mx.array], axis: int = 0) -> mx.array:
        return mx.concatenate(arrays, axis=axis)

    @staticmethod
    def full_like(a: mx.array, value: int) -> mx.array:
        return mx.full(a.shape, value, dtype=a.dtype)

    @staticmethod
    def layer_norm(h, weight, bias, eps: float) -> mx.array:
        return mx.fast.layer_norm(h, weight, bias, eps)

    @staticmethod
    def forward_recording(model, keys: list[str], *args):
        """The recorded submodules wrapped in Taps for one call."""
        captured: dict[str, mx.array] = {}
        restore = []
        for key in keys:
            name, index = debug_module(key)
            if index is None:
                restore.append((name, None, getattr(model, name)))
                setattr(model, name, Tap(getattr(model, name), captured, key))
            else:
                restore.append((name, index, model.blocks[index]))
                model.blocks[index] = Tap(model.blocks[index], captured, key)
        try:
            return model(*args), captured
        finally:
            for name, index, inner in reversed(restore):
                if index is None:
                    setattr(model, name, inner)
                else:
                    model.blocks[index] = inner

    @staticmethod
    def torch_rng(c: dict, io, what: str, **kw):
        return "drawn from torch's global generator, which MLX cannot replay"


class MLXRunner(Runner):
    def __init__(self):
        super().__init__(MLXBackend())
