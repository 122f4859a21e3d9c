"""Read torch's zip checkpoints (`torch.save`, torch >= 1.6) without torch, safely, into numpy arrays.

A `.pt` file is a zip archive: `<name>/data.pkl` pickles the object tree, and each tensor's storage is a
raw little-endian file `<name>/data/<key>` referenced by a pickle "persistent id". Tensors come back as
numpy arrays honouring storage offsets, strides and shared storages; bfloat16 (which numpy lacks) becomes
float32, exactly (bf16 is the top half of a float32). Storages are memory-mapped, so a 3 GB file is not
read twice. With `lazy=True` tensors come back as rae_convert.lazy_array.LazyArray (shape and dtype now,
bytes read when needed), so a converter or loader holds one tensor at a time instead of the whole model.

The file is untrusted, so the unpickler is an allow-list in three ways:
- globals: only what a tensor state dict needs (the tensor / parameter rebuild functions, storage types,
  dtypes, OrderedDict, torch.Size); anything else is refused with an error naming the global, so reading a
  file never runs code from it. The dtype and storage-type records are immutable and made afresh for each
  load, so nothing a file does can change how a later file is read.
- opcodes: only the ones torch.save emits (and their plain-data relatives). Opcodes that mutate objects
  (BUILD, SETITEM(S), APPEND(S), ADDITEMS) apply only to containers this load created, of the expected
  type: dicts, lists, sets, and the `_metadata` attribute torch attaches to an OrderedDict. REDUCE calls
  only the allow-listed functions.
- sizes: members are checked against the file before they are read (declared sizes, decompression
  ratio), tensor views against their storage, the arrays a load materializes against the file's size, and
  nesting depth; shared references in the object tree stay shared instead of being expanded.
Anything else is a TorchPickleError that says what is wrong.
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import math
import mmap
import pickle
import pickletools
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .lazy_array import LazyArray


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

# Limits on what a file may ask for. A real data.pkl is kilobytes to a few megabytes (the tensors live in
# their own members); real state dicts nest a handful of levels; deflate cannot exceed about 1032:1.
MAX_PICKLE_BYTES = 256 << 20
MAX_DEPTH = 100
MAX_NDIM = 64
MAX_RATIO = 1100
MATERIALIZE_SLACK = 64 << 20  # arrays a load may create beyond twice the file's size (zero-stride expansion)


class _Region:
    """Where a storage's bytes lie in the file (lazy loads): read only when a tensor is needed."""

    __slots__ = ("path", "offset", "nbytes")

    def __init__(self, path: Path, offset: int, nbytes: int):
        self.path, self.offset, self.nbytes = path, offset, nbytes

    def __len__(self) -> int:
        return self.nbytes


class _Storage:
    """A storage's raw bytes (a view into the mapped file, or a _Region) and its element type."""

    __slots__ = ("data", "dtype")

    def __init__(self, data: memoryview, dtype: Any):
        self.data, self.dtype = data, dtype


class _Tensor:
    """Placeholder for a rebuilt tensor; becomes a numpy array after unpickling."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array


class _Frozen:
    """An immutable record (dtype or storage type): attributes are set once, in __init__."""

    __slots__ = ()

    def __setattr__(self, name, value):
        raise TorchPickleError("a file tried to modify a dtype or storage-type record")

    __delattr__ = __setattr__


class _DType(_Frozen):
    __slots__ = ("np",)

    def __init__(self, np_dtype):
        object.__setattr__(self, "np", np_dtype)


class _StorageType(_Frozen):
    __slots__ = ("dtype",)

    def __init__(self, dtype):
        object.__setattr__(self, "dtype", dtype)


_TENSOR_TYPE, _PARAMETER_TYPE = object(), object()


def _widen_bf16(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _shape(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or len(value) > MAX_NDIM:
        raise TorchPickleError(f"malformed tensor {what} {value!r:.80}")
    out = []
    for v in value:
        if type(v) is not int or v < 0 or v >= 1 << 48:
            raise TorchPickleError(f"malformed tensor {what} {value!r:.80}")
        out.append(v)
    return tuple(out)


def _rebuild_functions(budget: list[int]):
    """The tensor rebuild functions of one load; `budget` holds the bytes it may still materialize."""

    def view(storage: Any, offset: Any, size: Any, stride: Any, dtype: Any = None) -> _Tensor:
        if not isinstance(storage, _Storage):
            raise TorchPickleError("tensor without a storage")
        if type(offset) is not int or offset < 0:
            raise TorchPickleError(f"malformed tensor offset {offset!r:.40}")
        size, stride = _shape(size, "size"), _shape(stride, "stride")
        if len(size) != len(stride):
            raise TorchPickleError(f"tensor with size {size} and stride {stride}")
        dtype = storage.dtype if dtype is None else dtype
        np_dtype = np.dtype(np.uint16) if dtype == BFLOAT16 else np.dtype(dtype)
        item, nbytes, count = np_dtype.itemsize, len(storage.data), math.prod(size)
        if count and (offset + sum((n - 1) * st for n, st in zip(size, stride, strict=True)) + 1) * item > nbytes:
            raise TorchPickleError(f"tensor view (offset {offset}, size {size}, stride {stride}) lies outside its "
                                   f"storage of {nbytes // item} elements; the file is corrupt")
        out_bytes = count * (4 if dtype == BFLOAT16 else item)
        budget[0] -= out_bytes
        if budget[0] < 0:
            raise TorchPickleError(f"the file's tensors expand to more memory than the file holds (a tensor of "
                                   f"size {size} over a storage of {nbytes} bytes); refusing to allocate it")
        if count and isinstance(storage.data, _Region):
            region = storage.data
            contiguous = stride == tuple(math.prod(size[i + 1:]) for i in range(len(size)))
            return _Tensor(LazyArray(region.path, region.offset, dtype if dtype == BFLOAT16 else np_dtype, size,
                                     None if contiguous else stride, offset))
        if count == 0:
            arr = np.zeros(size, dtype=np_dtype)
        else:
            flat = np.frombuffer(storage.data, dtype=np_dtype, count=nbytes // item)
            arr = np.lib.stride_tricks.as_strided(flat[offset:], shape=size, strides=tuple(s * item for s in stride))
            arr = np.array(arr)  # own the memory (the file mapping closes after loading)
        return _Tensor(_widen_bf16(arr) if dtype == BFLOAT16 else arr)

    def rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                          metadata=None):
        return view(storage, storage_offset, size, stride)

    def rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                          metadata=None):
        if not isinstance(dtype, _DType):
            raise TorchPickleError("malformed tensor record")
        return view(storage, storage_offset, size, stride, dtype.np)

    def rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
        if not isinstance(data, _Tensor):
            raise TorchPickleError("parameter without tensor data")
        return data

    def rebuild_from_type_v2(func, new_type, args, state):
        if func not in (rebuild_tensor_v2, rebuild_tensor_v3, rebuild_parameter) or \
                new_type not in (_TENSOR_TYPE, _PARAMETER_TYPE) or state or not isinstance(args, tuple):
            raise TorchPickleError("tensor subclass with extra state")
        return func(*args)

    return rebuild_tensor_v2, rebuild_tensor_v3, rebuild_parameter, rebuild_from_type_v2


def _size(*args):
    if len(args) != 1 or not isinstance(args[0], (tuple, list)):
        raise TorchPickleError("malformed torch.Size")
    return tuple(args[0])


def _latin1(text: Any = "", encoding: str = "latin1") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise TorchPickleError(f"unexpected encoding {encoding!r:.40}")
    return text.encode("latin1")


def _allowed_globals(budget: list[int]) -> dict[tuple[str, str], Any]:
    """The allow-list of one load: fresh dtype and storage-type records and fresh rebuild functions, so
    nothing one file does can reach another file's load."""
    v2, v3, parameter, from_type = _rebuild_functions(budget)
    return {
        ("torch._utils", "_rebuild_tensor_v2"): v2,
        ("torch._utils", "_rebuild_tensor_v3"): v3,
        ("torch._utils", "_rebuild_parameter"): parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): parameter,
        ("torch._tensor", "_rebuild_from_type_v2"): from_type,
        ("torch", "Tensor"): _TENSOR_TYPE,
        ("torch.nn.parameter", "Parameter"): _PARAMETER_TYPE,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch", "Size"): _size,
        ("_codecs", "encode"): _latin1,
        **{("torch", name): _StorageType(dt) for name, dt in STORAGE_DTYPES.items()},
        **{("torch", name): _DType(dt) for name, dt in TORCH_DTYPES.items()},
    }


# Opcodes torch.save emits, and their plain-data relatives (protocols 0-5). Everything else (INST, OBJ,
# NEWOBJ, EXT*, out-of-band buffers, text PERSID, bytearrays) is refused.
_SAFE_OPCODES = {
    "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "DUP", "NONE", "NEWTRUE", "NEWFALSE",
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
    "STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
    "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8",
    "EMPTY_LIST", "LIST", "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "EMPTY_DICT", "DICT",
    "EMPTY_SET", "FROZENSET", "GET", "BINGET", "LONG_BINGET", "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE",
    "GLOBAL", "STACK_GLOBAL", "BINPERSID",
}
_OPCODES = {op.code.encode("latin1")[0]: op.name for op in pickletools.opcodes}


class _Dispatch(dict):
    def __missing__(self, code: int):
        name = _OPCODES.get(code)
        raise TorchPickleError(f"the pickle uses the opcode {name or hex(code)}, which a tensor state dict never "
                               "needs" if name else f"the pickle holds an invalid opcode {hex(code)}")


class _Unpickler(pickle._Unpickler):  # the pure-Python unpickler: its opcodes can be replaced one by one
    dispatch = _Dispatch({code: fn for code, fn in pickle._Unpickler.dispatch.items()
                          if _OPCODES.get(code) in _SAFE_OPCODES})

    def __init__(self, data: bytes, path: str, storage_reader, budget: int):
        super().__init__(io.BytesIO(data))
        self._path = path
        self._read_storage = storage_reader
        self._storages: dict[str, _Storage] = {}
        self._budget = [budget]
        self._globals = _allowed_globals(self._budget)
        self._callables = [v for v in self._globals.values() if callable(v)]

    def release(self) -> None:
        """Drop every object of the load (the storages view the file mapping)."""
        self._storages.clear()
        for name in ("memo", "stack", "metastack"):
            getattr(self, name, {}).clear()

    def find_class(self, module: str, name: str):
        # Protocol-2 pickles (torch's default) spell some modules the Python 2 way (__builtin__, copy_reg).
        if not isinstance(module, str) or not isinstance(name, str):
            raise TorchPickleError("malformed global reference")
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        try:
            return self._globals[(module, name)]
        except KeyError:
            raise UnsafeGlobalError(self._path, module, name) from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"):
            raise TorchPickleError(f"{self._path}: unsupported persistent id {pid!r:.80}")
        storage_type, key = pid[1], pid[2]
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str):
            raise TorchPickleError(f"{self._path}: unsupported storage reference {pid!r:.80}")
        if key not in self._storages:  # shared storages (views) resolve to one buffer
            self._storages[key] = _Storage(self._read_storage(key), storage_type.dtype)
        return self._storages[key]

    # The opcodes that change an existing object, restricted to containers this load made.

    def _target(self, kinds: tuple[type, ...], opcode: str):
        target = self.stack[-1] if self.stack else None
        if type(target) not in kinds:
            raise TorchPickleError(f"the pickle applies {opcode} to a {type(target).__name__}, which a tensor "
                                   "state dict never does")
        return target

    def load_append(self):
        value = self.stack.pop()
        self._target((list,), "APPEND").append(value)

    def load_appends(self):
        items = self.pop_mark()
        self._target((list,), "APPENDS").extend(items)

    def load_setitem(self):
        value = self.stack.pop()
        key = self.stack.pop()
        self._target((dict, collections.OrderedDict), "SETITEM")[key] = value

    def load_setitems(self):
        items = self.pop_mark()
        target = self._target((dict, collections.OrderedDict), "SETITEMS")
        for i in range(0, len(items) - 1, 2):
            target[items[i]] = items[i + 1]

    def load_additems(self):
        items = self.pop_mark()
        self._target((set,), "ADDITEMS").update(items)

    def load_build(self):
        state = self.stack.pop()
        self._target((collections.OrderedDict,), "BUILD")
        # torch attaches the module versions as `_metadata`; we have no use for it, and keep nothing else.
        if not (isinstance(state, dict) and set(state) <= {"_metadata"}):
            raise TorchPickleError("the pickle attaches unexpected state to a dict")

    def load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if not any(func is f for f in self._callables) or not isinstance(args, tuple):
            raise TorchPickleError(f"the pickle calls {type(func).__name__} {func!r:.60}, which is not a tensor "
                                   "rebuild function")
        self.stack[-1] = func(*args)



_CODES = {name: code for code, name in _OPCODES.items()}
for _name, _fn in (("APPEND", _Unpickler.load_append), ("APPENDS", _Unpickler.load_appends),
                   ("SETITEM", _Unpickler.load_setitem), ("SETITEMS", _Unpickler.load_setitems),
                   ("ADDITEMS", _Unpickler.load_additems), ("BUILD", _Unpickler.load_build),
                   ("REDUCE", _Unpickler.load_reduce)):
    _Unpickler.dispatch[_CODES[_name]] = _fn


def _to_numpy(obj: Any, memo: dict[int, Any], depth: int = 0) -> Any:
    """The object tree with tensors as numpy arrays. Shared sub-objects stay shared (a file of shared
    references must not expand into a huge tree) and cycles are kept as cycles."""
    if depth > MAX_DEPTH:
        raise TorchPickleError(f"the object tree nests deeper than {MAX_DEPTH} levels; not a state dict")
    if isinstance(obj, _Tensor):
        return obj.array
    if isinstance(obj, (_Storage, _Frozen)) or callable(obj) or obj is _TENSOR_TYPE or obj is _PARAMETER_TYPE:
        raise TorchPickleError("the file holds a bare storage, type or function object, not a tensor")
    if not isinstance(obj, (dict, list, tuple, set, frozenset)):
        return obj
    if id(obj) in memo:
        return memo[id(obj)]
    if isinstance(obj, dict):
        out = memo[id(obj)] = collections.OrderedDict() if isinstance(obj, collections.OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _to_numpy(v, memo, depth + 1)
        return out
    if isinstance(obj, list):
        out = memo[id(obj)] = []
        out.extend(_to_numpy(v, memo, depth + 1) for v in obj)
        return out
    items = [_to_numpy(v, memo, depth + 1) for v in obj]
    out = memo[id(obj)] = type(obj)(items)
    return out


def _data_offset(raw: mmap.mmap, info: zipfile.ZipInfo) -> int:
    """Where a stored (uncompressed) member's bytes start: after its local header."""
    header = raw[info.header_offset: info.header_offset + 30]
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise TorchPickleError(f"bad zip local header for {info.filename}")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len


def _check_member(path: Path, info: zipfile.ZipInfo, file_size: int, limit: int | None = None) -> None:
    """A member's declared size, checked before it is read: it must fit the file (stored members) or a
    plausible decompression ratio (compressed ones), and `limit`."""
    if limit is not None and info.file_size > limit:
        raise TorchPickleError(f"{path}: {info.filename} declares {info.file_size} bytes (more than {limit}); "
                               "not a torch checkpoint")
    if info.compress_type == zipfile.ZIP_STORED:
        if info.file_size > file_size:
            raise TorchPickleError(f"{path} is truncated or corrupt ({info.filename} declares {info.file_size} "
                                   f"bytes in a {file_size}-byte file)")
    elif info.file_size > MAX_RATIO * info.compress_size + (64 << 10):
        raise TorchPickleError(f"{path}: {info.filename} would decompress from {info.compress_size} to "
                               f"{info.file_size} bytes, far beyond any real compression; refusing to read it")


def load(path: str | Path, lazy: bool = False) -> Any:
    """The object a torch zip checkpoint holds, with tensors as numpy arrays (bfloat16 -> float32), or as
    LazyArrays read on demand with `lazy` (stored members only; compressed ones are read now)."""
    path = Path(path)
    if not path.is_file():
        raise TorchPickleError(f"{path} does not exist")
    try:
        return _load(path, lazy)
    except UnsafeGlobalError:
        raise
    except TorchPickleError as e:
        if str(path) in str(e):
            raise
        raise TorchPickleError(f"{path}: {e}") from e
    except RecursionError as e:
        raise TorchPickleError(f"{path} is corrupt: its object tree nests too deeply") from e
    except Exception as e:  # noqa: BLE001 - a parser of untrusted bytes: any failure means a bad file
        detail = " ".join(str(e).split())[:200] or type(e).__name__
        raise TorchPickleError(f"{path} is truncated or corrupt: {detail}") from e


def _load(path: Path, lazy: bool = False) -> Any:
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(2)
        if head == b"PK":
            raise TorchPickleError(f"{path} is truncated or corrupt (its zip directory is missing)")
        kind = "a legacy (pre-1.6) torch file or a plain pickle" if head[:1] == b"\x80" else "not a torch zip file"
        raise TorchPickleError(f"{path} is {kind}; it cannot be read without torch (re-save it with torch.save "
                               "from torch >= 1.6, or convert it where torch is installed)")
    file_size = path.stat().st_size
    with open(path, "rb") as f, zipfile.ZipFile(f) as zf:
        names = zf.namelist()
        pkl = next((n for n in names if n == "data.pkl" or n.endswith("/data.pkl")), None)
        if pkl is None:
            raise TorchPickleError(f"{path} is a zip archive without data.pkl: not a torch checkpoint")
        prefix = pkl[: -len("data.pkl")]
        if prefix + "byteorder" in names:
            info = zf.getinfo(prefix + "byteorder")
            _check_member(path, info, file_size, limit=64)
            order = zf.read(info).decode("ascii", "replace").strip()
            if order != "little":
                raise TorchPickleError(f"{path} stores {order[:20]!r}-endian tensors; only little-endian files are "
                                       "supported")
        info = zf.getinfo(pkl)
        _check_member(path, info, file_size, limit=MAX_PICKLE_BYTES)
        data = zf.read(info)
        raw = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            def read_storage(key: str):
                name = f"{prefix}data/{key}"
                try:
                    info = zf.getinfo(name)
                except KeyError:
                    raise TorchPickleError(f"{path} is missing tensor data {name[:200]}; the file is truncated") \
                        from None
                _check_member(path, info, file_size)
                if info.compress_type == zipfile.ZIP_STORED:
                    start = _data_offset(raw, info)
                    if start + info.file_size > len(raw):
                        raise TorchPickleError(f"{path} is truncated (tensor data {name} is cut off)")
                    if lazy:
                        return _Region(path, start, info.file_size)
                    return memoryview(raw)[start: start + info.file_size]
                return memoryview(zf.read(name))

            unpickler = _Unpickler(data, str(path), read_storage, 2 * file_size + MATERIALIZE_SLACK)
            try:
                return _to_numpy(unpickler.load(), {})
            finally:
                unpickler.release()
        finally:
            _close(raw)


def _close(raw: mmap.mmap) -> None:
    """Close the file mapping now if nothing views it; otherwise (a failed load whose traceback still
    holds a storage view) it is unmapped when the last view goes. No gc.collect(): in a large process that
    costs far more than the load."""
    try:
        raw.close()
    except BufferError:
        pass
