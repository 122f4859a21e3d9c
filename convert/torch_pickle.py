"""Read torch's zip checkpoints (`torch.save`, torch >= 1.6) without torch, safely, into numpy arrays.

A `.pt` file is a zip archive: `<name>/data.pkl` pickles the object tree, and each tensor's storage is a
raw little-endian file `<name>/data/<key>` referenced by a pickle "persistent id". The unpickler here
resolves only the globals a tensor state dict needs (the tensor / parameter rebuild functions, storage
types, dtypes, OrderedDict, torch.Size) and refuses everything else with an error naming the global, so
reading a file never runs code from it. Tensors come back as numpy arrays honouring storage offsets,
strides and shared storages; bfloat16 (which numpy lacks) becomes float32, exactly (bf16 is the top half
of a float32). Storages are memory-mapped, so a 3 GB file is not read twice.
"""

from __future__ import annotations

import _compat_pickle
import collections
import mmap
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np


class TorchPickleError(ValueError):
    """The file is not a torch zip checkpoint we can read, or it needs code (a global) we refuse."""


class UnsafeGlobalError(TorchPickleError):
    """The pickle references a global outside the tensor allow-list."""

    def __init__(self, path: str, module: str, name: str):
        self.global_name = f"{module}.{name}"
        super().__init__(f"refusing to load {path}: it references the global {self.global_name}, which is not part "
                         "of a tensor state dict (reading it would run code from the file). Only tensors, dicts, "
                         "lists, numbers, strings and None can be read without torch.")


BFLOAT16 = "bfloat16"  # marker: numpy has no bfloat16; stored as uint16 and widened to float32

# Storage classes and dtypes by the names torch pickles them under.
STORAGE_DTYPES: dict[str, Any] = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16, "BFloat16Storage": BFLOAT16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_, "ComplexFloatStorage": np.complex64,
    "ComplexDoubleStorage": np.complex128, "UntypedStorage": np.uint8,
}
TORCH_DTYPES: dict[str, Any] = {
    "float32": np.float32, "float": np.float32, "float64": np.float64, "double": np.float64,
    "float16": np.float16, "half": np.float16, "bfloat16": BFLOAT16, "int64": np.int64, "long": np.int64,
    "int32": np.int32, "int": np.int32, "int16": np.int16, "short": np.int16, "int8": np.int8, "uint8": np.uint8,
    "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64, "bool": np.bool_,
    "complex64": np.complex64, "complex128": np.complex128,
}


class _Storage:
    """A storage's raw bytes (a view into the mapped file) and its element type."""

    __slots__ = ("data", "dtype")

    def __init__(self, data: memoryview, dtype: Any):
        self.data, self.dtype = data, dtype


class _Tensor:
    """Placeholder for a rebuilt tensor; becomes a numpy array after unpickling. It refuses pickle's
    BUILD opcode (__setstate__), so a crafted file cannot poke state into it."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array

    def __setstate__(self, state):
        raise TorchPickleError("unexpected object state attached to a tensor")


def _widen_bf16(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _view(storage: _Storage, offset: int, size, stride, dtype=None) -> np.ndarray:
    dtype = storage.dtype if dtype is None else dtype
    np_dtype = np.dtype(np.uint16) if dtype == BFLOAT16 else np.dtype(dtype)
    item = np_dtype.itemsize
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride):
        raise TorchPickleError(f"tensor with size {size} and stride {stride}")
    nbytes = len(storage.data)
    if any(s == 0 for s in size):
        arr = np.zeros(size, dtype=np_dtype)
    else:
        last = offset + sum((n - 1) * st for n, st in zip(size, stride, strict=True))
        if offset < 0 or min(stride, default=0) < 0 or (last + 1) * item > nbytes:
            raise TorchPickleError(f"tensor view (offset {offset}, size {size}, stride {stride}) lies outside its "
                                   f"storage of {nbytes // item} elements; the file is corrupt")
        flat = np.frombuffer(storage.data, dtype=np_dtype, count=nbytes // item)
        arr = np.lib.stride_tricks.as_strided(flat[offset:], shape=size, strides=tuple(s * item for s in stride))
        arr = np.array(arr)  # own the memory (the file mapping closes after loading)
    return _widen_bf16(arr) if dtype == BFLOAT16 else arr


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    if not isinstance(storage, _Storage):
        raise TorchPickleError("tensor without a storage")
    return _Tensor(_view(storage, int(storage_offset), size, stride))


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None):
    if not isinstance(storage, _Storage) or not isinstance(dtype, _DType):
        raise TorchPickleError("malformed tensor record")
    return _Tensor(_view(storage, int(storage_offset), size, stride, dtype.np))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    if not isinstance(data, _Tensor):
        raise TorchPickleError("parameter without tensor data")
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    if new_type not in (_TENSOR_TYPE, _PARAMETER_TYPE) or state:
        raise TorchPickleError("tensor subclass with extra state")
    return func(*args)


class _DType:
    __slots__ = ("np",)

    def __init__(self, np_dtype):
        self.np = np_dtype


class _StorageType:
    __slots__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = dtype


_TENSOR_TYPE, _PARAMETER_TYPE = object(), object()


def _size(*args):
    return tuple(*args) if args else ()


def _latin1(text: str, encoding: str = "latin1") -> bytes:
    if encoding not in ("latin1", "latin-1"):
        raise TorchPickleError(f"unexpected encoding {encoding!r}")
    return text.encode("latin1")


ALLOWED: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Tensor"): _TENSOR_TYPE,
    ("torch.nn.parameter", "Parameter"): _PARAMETER_TYPE,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch", "Size"): _size,
    ("_codecs", "encode"): _latin1,
    **{("torch", name): _StorageType(dt) for name, dt in STORAGE_DTYPES.items()},
    **{("torch", name): _DType(dt) for name, dt in TORCH_DTYPES.items()},
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, path: str, storage_reader):
        super().__init__(file)
        self._path = path
        self._read_storage = storage_reader
        self._storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str):
        # Protocol-2 pickles (torch's default) spell some modules the Python 2 way (__builtin__, copy_reg).
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise UnsafeGlobalError(self._path, module, name) from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"):
            raise TorchPickleError(f"{self._path}: unsupported persistent id {pid!r:.80}")
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise TorchPickleError(f"{self._path}: unsupported storage type {storage_type!r:.80}")
        if key not in self._storages:  # shared storages (views) resolve to one buffer
            self._storages[key] = _Storage(self._read_storage(key), storage_type.dtype)
        return self._storages[key]


def _to_numpy(obj: Any) -> Any:
    if isinstance(obj, _Tensor):
        return obj.array
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, collections.OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _to_numpy(v)
        return out
    if isinstance(obj, list):
        return [_to_numpy(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_to_numpy(v) for v in obj)
    if isinstance(obj, (_Storage, _StorageType, _DType)) or obj in (_TENSOR_TYPE, _PARAMETER_TYPE):
        raise TorchPickleError("the file holds a bare storage or type object, not a tensor")
    return obj


def _data_offset(raw: mmap.mmap, info: zipfile.ZipInfo) -> int:
    """Where a stored (uncompressed) member's bytes start: after its local header."""
    header = raw[info.header_offset: info.header_offset + 30]
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise TorchPickleError(f"bad zip local header for {info.filename}")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len


def load(path: str | Path) -> Any:
    """The object a torch zip checkpoint holds, with tensors as numpy arrays (bfloat16 -> float32)."""
    path = Path(path)
    if not path.is_file():
        raise TorchPickleError(f"{path} does not exist")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(2)
        if head == b"PK":
            raise TorchPickleError(f"{path} is truncated or corrupt (its zip directory is missing)")
        kind = "a legacy (pre-1.6) torch file or a plain pickle" if head[:1] == b"\x80" else "not a torch zip file"
        raise TorchPickleError(f"{path} is {kind}; it cannot be read without torch (re-save it with torch.save "
                               "from torch >= 1.6, or convert it where torch is installed)")
    with open(path, "rb") as f, zipfile.ZipFile(f) as zf:
        names = zf.namelist()
        pkl = next((n for n in names if n == "data.pkl" or n.endswith("/data.pkl")), None)
        if pkl is None:
            raise TorchPickleError(f"{path} is a zip archive without data.pkl: not a torch checkpoint")
        prefix = pkl[: -len("data.pkl")]
        order = zf.read(prefix + "byteorder").decode().strip() if prefix + "byteorder" in names else "little"
        if order != "little":
            raise TorchPickleError(f"{path} stores {order}-endian tensors; only little-endian files are supported")
        raw = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            def read_storage(key: str):
                name = f"{prefix}data/{key}"
                try:
                    info = zf.getinfo(name)
                except KeyError:
                    raise TorchPickleError(f"{path} is missing tensor data {name}; the file is truncated") from None
                if info.compress_type == zipfile.ZIP_STORED:
                    start = _data_offset(raw, info)
                    if start + info.file_size > len(raw):
                        raise TorchPickleError(f"{path} is truncated (tensor data {name} is cut off)")
                    return memoryview(raw)[start: start + info.file_size]
                return memoryview(zf.read(name))

            try:
                obj = _Unpickler(zf.open(pkl), str(path), read_storage).load()
                return _to_numpy(obj)
            except TorchPickleError:
                raise
            except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError, IndexError) as e:
                raise TorchPickleError(f"{path} is truncated or corrupt: {e}") from e
        finally:
            import gc

            gc.collect()  # drop views into the mapping before closing it
            try:
                raw.close()
            except BufferError:
                pass  # a caller-held view keeps the mapping alive; it closes when that view goes
