"""A tensor that stays in its file until it is needed: shape and dtype now, bytes on demand.

Converting or loading a 3.4 GB checkpoint one tensor at a time keeps the memory of one tensor, not of the
model: the readers (torch_pickle, safetensors_io) return LazyArrays, and a consumer reads each with
`np.asarray(a)` (or `a.read()`), converts it, writes or loads it, and drops it. Bytes are read with plain
file reads (no memory map), so nothing of the file stays resident afterwards. A file that changed size or
mtime since it was opened is refused rather than read half-old, half-new.

bfloat16 storages (numpy has no such type) read as float32, exactly, or as their raw uint16 bits.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

BFLOAT16 = "bfloat16"


class SourceChangedError(ValueError):
    """The file under a LazyArray was replaced or modified after it was opened."""


def _stamp(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def widen_bf16(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


class LazyArray:
    """`shape` elements of `stored` (a numpy dtype, or BFLOAT16) at byte `offset` of `path`, laid out with
    element `strides` (C order when None) starting `start` elements in; `axes` is a pending transpose."""

    __slots__ = ("path", "offset", "stored", "_shape", "strides", "start", "axes", "stamp")

    def __init__(self, path: str | Path, offset: int, stored, shape: tuple[int, ...],
                 strides: tuple[int, ...] | None = None, start: int = 0, axes: tuple[int, ...] | None = None,
                 stamp: tuple[int, int] | None = None):
        self.path = Path(path)
        self.offset, self.stored, self.start = int(offset), stored, int(start)
        self._shape = tuple(int(s) for s in shape)
        self.strides = strides if strides is None else tuple(int(s) for s in strides)
        self.axes = axes
        self.stamp = stamp if stamp is not None else _stamp(self.path)

    # numpy-like surface: enough for key matching, layout planning and np.asarray
    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape if self.axes is None else tuple(self._shape[a] for a in self.axes)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32) if self.stored == BFLOAT16 else np.dtype(self.stored)

    @property
    def stored_dtype(self) -> str:
        return BFLOAT16 if self.stored == BFLOAT16 else np.dtype(self.stored).name

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def size(self) -> int:
        return int(np.prod(self._shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def transpose(self, axes) -> LazyArray:
        axes = tuple(int(a) for a in axes)
        combined = axes if self.axes is None else tuple(self.axes[a] for a in axes)
        return LazyArray(self.path, self.offset, self.stored, self._shape, self.strides, self.start, combined,
                         self.stamp)

    def __repr__(self) -> str:
        return f"LazyArray({self.path.name}@{self.offset}, {self.stored_dtype}, {self.shape})"

    def read(self, bf16_bits: bool = False) -> np.ndarray:
        """The tensor as a new numpy array (bfloat16 as float32, or as uint16 bits with `bf16_bits`)."""
        item = 2 if self.stored == BFLOAT16 else np.dtype(self.stored).itemsize
        raw_dtype = np.dtype(np.uint16) if self.stored == BFLOAT16 else np.dtype(self.stored)
        n = self.size
        if n == 0:
            arr = np.zeros(self._shape, dtype=raw_dtype)
        elif self.strides is None:
            arr = self._bytes(self.start * item, n * item, raw_dtype).reshape(self._shape)
        else:
            last = sum((d - 1) * s for d, s in zip(self._shape, self.strides, strict=True))
            flat = self._bytes(self.start * item, (last + 1) * item, raw_dtype)
            arr = np.lib.stride_tricks.as_strided(flat, self._shape, tuple(s * item for s in self.strides)).copy()
        if self.axes is not None:
            arr = np.ascontiguousarray(arr.transpose(self.axes))
        if self.stored == BFLOAT16 and not bf16_bits:
            arr = widen_bf16(arr)
        return arr

    def _bytes(self, at: int, nbytes: int, dtype: np.dtype) -> np.ndarray:
        if _stamp(self.path) != self.stamp:
            raise SourceChangedError(f"{self.path} changed while it was being read; run again")
        buf = bytearray(nbytes)
        with open(self.path, "rb") as f:
            f.seek(self.offset + at)
            if f.readinto(buf) != nbytes:
                raise SourceChangedError(f"{self.path} is shorter than its header says; it is truncated")
        return np.frombuffer(buf, dtype=dtype)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        arr = self.read()
        return arr if dtype is None else arr.astype(dtype, copy=False)


def materialize(value):
    """A numpy array for a LazyArray; anything else unchanged."""
    return value.read() if isinstance(value, LazyArray) else value
