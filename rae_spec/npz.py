"""Sample batches in ADM's `.npz` format, streamed: read in batches and written from parts, never whole.

A batch file is a zip of `.npy` files: `arr_0` the images (N, H, W, 3) uint8, optionally `arr_1` the class
labels (ADM's class-conditional samplers write them; its super-resolution sampler reads them), and for a
reference batch `mu`, `sigma`, `mu_s`, `sigma_s` (precomputed statistics). 50,000 images at 512 px are
39 GB, so `NpzArray` reads `arr_0` batch by batch from the zip member (as ADM's evaluator does), and
`write_npz` writes members from iterators of parts. `write_npz` is deterministic: stored (uncompressed)
members with fixed timestamps, so the same arrays always give the same bytes.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from .files import atomic_path

EPOCH = (1980, 1, 1, 0, 0, 0)  # the zip format's earliest date: a fixed timestamp for reproducible bytes


class NpzError(ValueError):
    """Not a readable .npz batch (missing member, object dtype, truncated data)."""


def members(path: str | Path) -> list[str]:
    """The array names in an .npz file."""
    try:
        with zipfile.ZipFile(path) as z:
            return [n[:-4] for n in z.namelist() if n.endswith(".npy")]
    except (zipfile.BadZipFile, OSError) as e:
        raise NpzError(f"{path} is not an .npz file ({e})") from e


@dataclass
class NpzArray:
    """One member of an .npz, opened for streaming: `shape`, `dtype`, `batches(size)`."""

    file: IO[bytes]
    shape: tuple[int, ...]
    dtype: np.dtype

    def batches(self, size: int, start: int = 0) -> Iterator[np.ndarray]:
        """Consecutive batches of up to `size` rows, from row `start` on (rows are read once, in order)."""
        row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        if start:
            self.file.read(start * row_bytes)
        for lo in range(start, self.shape[0], size):
            n = min(size, self.shape[0] - lo)
            data = self.file.read(n * row_bytes)
            if len(data) != n * row_bytes:
                raise NpzError(f"truncated array data: row {lo} onwards is missing")
            yield np.frombuffer(data, dtype=self.dtype).reshape((n, *self.shape[1:]))


@contextmanager
def open_array(path: str | Path, name: str = "arr_0") -> Iterator[NpzArray]:
    """Open `name` in an .npz for streaming. Object arrays and Fortran order are refused (no pickles)."""
    try:
        with zipfile.ZipFile(path) as z:
            if f"{name}.npy" not in z.namelist():
                raise NpzError(f"{path} has no array {name!r} (it has {', '.join(members(path)) or 'none'})")
            with z.open(f"{name}.npy") as f:
                try:
                    version = np.lib.format.read_magic(f)
                    if version not in ((1, 0), (2, 0)):
                        raise ValueError(f"unsupported .npy format version {version}")
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0) else
                                   np.lib.format.read_array_header_2_0)
                    shape, fortran, dtype = read_header(f)
                except ValueError as e:
                    raise NpzError(f"{path}: {name} is not a .npy array ({e})") from e
                if dtype.hasobject or fortran:
                    raise NpzError(f"{path}: {name} holds Python objects or Fortran-ordered data; "
                                   "only plain numeric arrays are read")
                yield NpzArray(f, tuple(shape), dtype)
    except (zipfile.BadZipFile, OSError) as e:
        raise NpzError(f"{path} is not a readable .npz file ({e})") from e


def load_small(path: str | Path, name: str) -> np.ndarray:
    """A small member (labels, statistics) read whole, without pickles."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return z[name]
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as e:
        raise NpzError(f"{path}: cannot read {name} ({e})") from e


@dataclass(frozen=True)
class Member:
    """An array to write from parts: its full shape and dtype, and an iterable of C-ordered parts whose rows
    add up to shape[0]."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    parts: Iterable[np.ndarray]


def _write_member(z: zipfile.ZipFile, member: Member) -> None:
    info = zipfile.ZipInfo(f"{member.name}.npy", date_time=EPOCH)
    info.compress_type = zipfile.ZIP_STORED
    dtype = np.dtype(member.dtype)
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(member.shape)}
    rows = 0
    scalar = len(member.shape) == 0
    with z.open(info, "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(f, header)
        for part in member.parts:
            part = np.asarray(part)
            if part.dtype != dtype or (part.shape if scalar else part.shape[1:]) != tuple(member.shape[1:]):
                raise NpzError(f"{member.name}: a part of shape {part.shape}, {part.dtype} does not fit "
                               f"{member.shape}, {dtype}")
            f.write(np.ascontiguousarray(part).tobytes())
            rows += 1 if scalar else part.shape[0]
    if rows != (1 if scalar else member.shape[0]):
        raise NpzError(f"{member.name}: the parts hold {rows} rows, the header says {member.shape}")


def write_npz(path: str | Path, arrays: list[Member]) -> Path:
    """Write an .npz from streamed members, atomically (a reader never sees a partial file)."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for member in arrays:
            _write_member(z, member)
    return Path(path)


def whole(name: str, array: np.ndarray) -> Member:
    """A member written from one in-memory array."""
    array = np.asarray(array)
    return Member(name, array.shape, array.dtype, [array])
