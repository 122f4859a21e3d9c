"""safetensors in numpy, bfloat16 included, and atomic writes.

`safetensors.numpy` cannot hold bfloat16 (numpy has no such type), yet released and converted files use it.
Here bf16 tensors are read as float32 (exact) and written from float32 by round-to-nearest-even, the
rounding torch's `.to(torch.bfloat16)` does. The format is the documented one: an 8-byte little-endian
header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the
raw little-endian bytes. Every write goes to a temp file in the target folder and is renamed over the
target (os.replace), so a crash never leaves a half-written file under the final name.
"""

from __future__ import annotations

import hashlib
import json
import math
import mmap
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rae_spec.files import atomic_write

from .lazy_array import BFLOAT16, LazyArray

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
          "I16": np.int16, "I8": np.int8, "U8": np.uint8, "U16": np.uint16, "U32": np.uint32, "U64": np.uint64,
          "BOOL": np.bool_}
NAMES = {np.dtype(v): k for k, v in DTYPES.items()}


class SafetensorsError(ValueError):
    """A file is not valid safetensors (truncated, corrupt header, offsets out of range)."""


def bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(x: np.ndarray, chunk: int = 1 << 18) -> np.ndarray:
    """float32 -> bfloat16 bits (uint16), round to nearest even; NaN stays NaN. Works through `chunk` values
    at a time, so rounding a large tensor needs little more memory than its result."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    u = x.reshape(-1).view(np.uint32)
    out = np.empty(u.shape, dtype=np.uint16)
    for i in range(0, u.size, chunk):
        c = u[i:i + chunk]
        r = (c >> 16) & np.uint32(1)
        r += np.uint32(0x7FFF)
        r += c
        r >>= 16
        nan = np.isnan(c.view(np.float32))
        r[nan] = (c[nan] >> 16) | np.uint32(0x40)
        out[i:i + chunk] = r
    return out.reshape(x.shape)


# dtypes the safetensors format defines that numpy (and so this reader) cannot hold.
UNSUPPORTED = ("F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64", "C128", "I4", "U4")
ITEMSIZE = {**{k: np.dtype(v).itemsize for k, v in DTYPES.items()}, "BF16": 2}
MAX_HEADER = 100_000_000  # the format's own limit


def _entry(path: Path, name: str, entry: Any) -> tuple[int, int]:
    """Check one tensor entry of the header; return its (start, end) byte offsets."""
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
        raise SafetensorsError(f"{path} is corrupt: tensor {name!r:.80} lacks dtype, shape or data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str):
        raise SafetensorsError(f"{path} is corrupt: tensor {name!r:.80} has dtype {dtype!r:.40}")
    if dtype not in ITEMSIZE:
        known = "a format" + (" numpy has no type for" if dtype in UNSUPPORTED else " rae does not know")
        raise SafetensorsError(f"{path}: tensor {name!r:.80} has unsupported dtype {dtype[:20]} ({known}); "
                               "rae reads F32, F16, BF16 and integer tensors")
    if not (isinstance(shape, list) and len(shape) <= 64 and all(type(d) is int and 0 <= d < 1 << 48 for d in shape)):
        raise SafetensorsError(f"{path} is corrupt: tensor {name!r:.80} has shape {shape!r:.80}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
            and 0 <= offsets[0] <= offsets[1]):
        raise SafetensorsError(f"{path} is corrupt: tensor {name!r:.80} has data_offsets {offsets!r:.80}")
    nbytes = math.prod(shape) * ITEMSIZE[dtype]
    if offsets[1] - offsets[0] != nbytes:
        raise SafetensorsError(f"{path} is corrupt: tensor {name!r:.80} has {offsets[1] - offsets[0]} bytes for "
                               f"shape {tuple(shape)} of {dtype}")
    return offsets[0], offsets[1]


def read_header(path: str | Path) -> tuple[dict[str, Any], dict[str, str], int]:
    """(tensor entries, metadata, data start offset) of a safetensors file, every entry checked against the
    format (dtype, shape, offsets, sizes) and the file's size before any tensor is read."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise SafetensorsError(f"{path} is truncated or corrupt (no header)")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > MAX_HEADER:
            raise SafetensorsError(f"{path} is truncated or corrupt (header of {n} bytes in a {size}-byte file)")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise SafetensorsError(f"{path} is truncated or corrupt (unreadable header: "
                                   f"{' '.join(str(e).split())[:120]})") from e
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path} is corrupt: its header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SafetensorsError(f"{path} is corrupt: __metadata__ must map strings to strings")
    end = 0
    for name, entry in header.items():
        end = max(end, _entry(path, name, entry)[1])
    if 8 + n + end > size:
        raise SafetensorsError(f"{path} is truncated or corrupt (tensor data ends at {8 + n + end}, file has {size})")
    return header, metadata, 8 + n


def read(path: str | Path, keep_bf16_bits: bool = False, select: Callable[[str], bool] | None = None,
         lazy: bool = False) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata). bf16 tensors become float32, or stay uint16 bits with `keep_bf16_bits`. `select`
    picks the tensors to read by name (the others are not touched: reading a part of a large file is cheap).
    With `lazy` they are LazyArrays, read when needed (see rae_convert.lazy_array)."""
    header, metadata, start = read_header(path)
    out: dict[str, np.ndarray] = {}
    if lazy:
        for name, entry in header.items():
            if select is not None and not select(name):
                continue
            lo, hi = entry["data_offsets"]
            bf16 = entry["dtype"] == "BF16"
            stored = BFLOAT16 if bf16 else np.dtype(DTYPES[entry["dtype"]])
            shape = tuple(entry["shape"])
            itemsize = 2 if bf16 else stored.itemsize
            if int(np.prod(shape, dtype=np.int64)) * itemsize != hi - lo:
                raise SafetensorsError(f"{path}: tensor {name} has {hi - lo} bytes for shape {shape}")
            out[name] = LazyArray(path, start + lo, stored, shape)
        return out, metadata
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as raw:
        for name, entry in header.items():
            if select is not None and not select(name):
                continue
            lo, hi = entry["data_offsets"]
            bf16 = entry["dtype"] == "BF16"
            dtype = np.dtype(np.uint16) if bf16 else np.dtype(DTYPES[entry["dtype"]])
            shape = tuple(entry["shape"])
            count = int(np.prod(shape, dtype=np.int64))
            if count * dtype.itemsize != hi - lo:
                raise SafetensorsError(f"{path}: tensor {name} has {hi - lo} bytes for shape {shape}")
            arr = np.frombuffer(raw, dtype=dtype, count=count, offset=start + lo).reshape(shape).copy()
            out[name] = bf16_to_f32(arr) if (bf16 and not keep_bf16_bits) else arr
    return out, metadata


@dataclass(frozen=True)
class Spec:
    """One tensor of a file to be written: its name, safetensors dtype ("F32", "BF16", "U32", ...) and shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        item = 2 if self.dtype == "BF16" else np.dtype(DTYPES[self.dtype]).itemsize
        return int(np.prod(self.shape, dtype=np.int64)) * item


def _encode(spec: Spec, arr: np.ndarray) -> np.ndarray:
    """The little-endian bytes of `arr` for `spec` (BF16 from float32 by rounding, or from uint16 bits)."""
    arr = np.asarray(arr)
    if tuple(arr.shape) != tuple(spec.shape):
        raise SafetensorsError(f"{spec.name}: produced shape {arr.shape}, planned {spec.shape}")
    if spec.dtype == "BF16":
        bits = arr if arr.dtype == np.uint16 else f32_to_bf16(arr)
        return np.ascontiguousarray(bits).astype("<u2", copy=False)
    want = np.dtype(DTYPES[spec.dtype])
    if arr.dtype != want:
        raise SafetensorsError(f"{spec.name}: produced {arr.dtype}, planned {spec.dtype}")
    return np.ascontiguousarray(arr).astype(want.newbyteorder("<"), copy=False)


def write_stream(path: str | Path, specs: list[Spec], produce: Callable[[Spec], np.ndarray],
                 metadata: dict[str, str] | None = None) -> str:
    """Write a safetensors file one tensor at a time, atomically: the header comes from `specs` (in file order),
    then produce(spec) supplies each tensor, which is written and dropped before the next is asked for, so
    the memory held is that of one tensor. Returns the sha256 of the file written."""
    header: dict[str, Any] = {}
    offset = 0
    for spec in specs:
        if spec.dtype not in DTYPES and spec.dtype != "BF16":
            raise SafetensorsError(f"cannot store {spec.name} as {spec.dtype} in safetensors")
        header[spec.name] = {"dtype": spec.dtype, "shape": list(spec.shape),
                             "data_offsets": [offset, offset + spec.nbytes]}
        offset += spec.nbytes
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    digest = hashlib.sha256()

    def _write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            for chunk in (struct.pack("<Q", len(text)), text):
                f.write(chunk)
                digest.update(chunk)
            for spec in specs:
                data = _encode(spec, produce(spec))
                if data.nbytes:
                    view = memoryview(data).cast("B")
                    f.write(view)
                    digest.update(view)
                del data

    atomic_write(path, _write)
    return digest.hexdigest()


def write(path: str | Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None,
          bf16: Iterable[str] = ()) -> Path:
    """Write numpy tensors atomically. Names in `bf16` are stored as BF16 (from float32, or from uint16 bits)."""
    bf16 = set(bf16)
    specs = []
    for name, arr in tensors.items():
        if name in bf16:
            specs.append(Spec(name, "BF16", tuple(arr.shape)))
        elif np.dtype(arr.dtype) in NAMES:
            specs.append(Spec(name, NAMES[np.dtype(arr.dtype)], tuple(arr.shape)))
        else:
            raise SafetensorsError(f"cannot store {name} of dtype {arr.dtype} in safetensors")
    write_stream(path, specs, lambda spec: np.asarray(tensors[spec.name]), metadata)
    return Path(path)
