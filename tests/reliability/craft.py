"""Hostile files, made from scratch: torch zip checkpoints with hand-written pickles, zip bombs, YAML bombs,
safetensors with crafted headers, PNGs with crafted chunks. Each maker takes a numpy Generator, so tests and
the catalogue (tests/reliability/catalogue.py) draw as many variants of a kind as they want."""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

# ---------------------------------------------------------------------------------------------- pickles

PROTO = b"\x80\x02"
MARK, STOP, TUPLE, EMPTY_TUPLE, EMPTY_DICT, EMPTY_LIST = b"(", b".", b"t", b")", b"}", b"]"
SETITEM, SETITEMS, APPEND, APPENDS, REDUCE, BUILD, POP = b"s", b"u", b"a", b"e", b"R", b"b", b"0"
NONE, NEWFALSE, BINPERSID, TUPLE2, DUP = b"N", b"\x89", b"Q", b"\x86", b"2"

STORAGES = ("FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage", "LongStorage", "IntStorage",
            "ByteStorage", "BoolStorage")
DTYPES = ("float32", "float16", "bfloat16", "int64", "uint8", "float", "half")
FUNCTIONS = (("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor_v3"),
             ("torch._utils", "_rebuild_parameter"), ("torch", "Size"), ("collections", "OrderedDict"),
             ("_codecs", "encode"), ("torch._tensor", "_rebuild_from_type_v2"))


def glob(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def text(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def integer(n: int) -> bytes:
    return b"K" + bytes([n]) if 0 <= n < 256 else b"J" + struct.pack("<i", n)


def put(i: int) -> bytes:
    return b"r" + struct.pack("<I", i)


def get(i: int) -> bytes:
    return b"j" + struct.pack("<I", i)


def tensor(key: str, numel: int, size: tuple[int, ...], stride: tuple[int, ...], storage: str = "FloatStorage",
           offset: int = 0) -> bytes:
    """The opcodes torch.save writes for one tensor over storage `key`."""
    pid = MARK + text("storage") + glob("torch", storage) + text(key) + text("cpu") + integer(numel) + TUPLE
    shape = MARK + b"".join(integer(s) for s in size) + TUPLE
    strides = MARK + b"".join(integer(s) for s in stride) + TUPLE
    hooks = glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
    return (glob("torch._utils", "_rebuild_tensor_v2") + MARK + pid + BINPERSID + integer(offset) + shape + strides
            + NEWFALSE + hooks + TUPLE + REDUCE)


def state_dict(tensors: dict[str, bytes]) -> bytes:
    """A pickle of {name: tensor opcodes}."""
    body = EMPTY_DICT + MARK + b"".join(text(k) + v for k, v in tensors.items()) + SETITEMS
    return PROTO + body + STOP


def torch_zip(path: Path, pickle: bytes, storages: dict[str, bytes], compress: int = zipfile.ZIP_STORED,
              pickle_compress: int | None = None) -> Path:
    """A torch.save-style zip: archive/data.pkl, archive/byteorder, archive/data/<key>, archive/version."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("archive/data.pkl"), pickle,
                   compress_type=compress if pickle_compress is None else pickle_compress)
        z.writestr("archive/byteorder", "little")
        for key, data in storages.items():
            z.writestr(zipfile.ZipInfo(f"archive/data/{key}"), data, compress_type=compress)
        z.writestr("archive/version", "3\n")
    return path


def with_prefix(clean: Path, out: Path, prefix: bytes) -> Path:
    """`clean` (a torch.save zip) with `prefix` opcodes run before its own pickle (after PROTO)."""
    zin = zipfile.ZipFile(clean)
    with zipfile.ZipFile(out, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name.endswith("data.pkl"):
                data = data[:2] + prefix + data[2:]
            zout.writestr(name, data)
    return out


def poison(rng: np.random.Generator) -> tuple[str, bytes]:
    """(what, opcodes) that try to change something shared through a global: BUILD with dict or slot state,
    SETITEM(S) / APPEND(S) onto a global, REDUCE of a non-function, each leaving the stack as it was."""
    kind = rng.choice(["storage", "dtype", "function"])
    if kind == "storage":
        target = glob("torch", str(rng.choice(STORAGES)))
    elif kind == "dtype":
        target = glob("torch", str(rng.choice(DTYPES)))
    else:
        target = glob(*FUNCTIONS[int(rng.integers(len(FUNCTIONS)))])
    field = str(rng.choice(["dtype", "np", "__defaults__", "__kwdefaults__", "data", "__code__"]))
    value = text(str(rng.choice(["uint8", "bfloat16", "int64", "float16"])))
    op = str(rng.choice(["build-dict", "build-slots", "setitem", "setitems", "append", "appends", "reduce"]))
    body = {
        "build-dict": EMPTY_DICT + text(field) + value + SETITEM + BUILD,
        "build-slots": NONE + EMPTY_DICT + text(field) + value + SETITEM + TUPLE2 + BUILD,
        "setitem": text(field) + value + SETITEM,
        "setitems": MARK + text(field) + value + SETITEMS,
        "append": value + APPEND,
        "appends": MARK + value + value + APPENDS,
        "reduce": MARK + value + TUPLE + REDUCE,
    }[op]
    return f"{op} on {kind} {field}", target + body + POP


def shared_expansion(rng: np.random.Generator) -> bytes:
    """A few hundred bytes of pickle whose shared references describe fan_out ** depth leaves."""
    fan_out, depth = int(rng.integers(2, 12)), int(rng.integers(20, 40))
    out = PROTO + EMPTY_LIST + text("x") + APPEND + put(0)
    for i in range(1, depth):
        out += EMPTY_LIST + MARK + get(i - 1) * fan_out + APPENDS + put(i)
    return out + POP + EMPTY_DICT + text("w") + get(depth - 1) + SETITEM + STOP


def deep_nesting(rng: np.random.Generator) -> bytes:
    depth = int(rng.integers(2_000, 50_000))
    return PROTO + EMPTY_DICT + text("w") + EMPTY_LIST * depth + APPEND * (depth - 1) + SETITEM + STOP


# ---------------------------------------------------------------------------------------------- YAML


def alias_bomb(rng: np.random.Generator) -> str:
    fan_out = int(rng.integers(3, 12))
    depth = int(np.ceil(7 / np.log10(fan_out))) + int(rng.integers(0, 4))  # >= 10^7 values
    lines = [f"l0: &l0 [{', '.join(['lol'] * fan_out)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan_out)}]" for i in range(1, depth)]
    return "\n".join(lines) + f"\nstage_1: {{target: stage1.RAE, params: {{encoder_params: *l{depth - 1}}}}}\n"


def interpolation_cycle(rng: np.random.Generator) -> str:
    n = int(rng.integers(1, 6))
    keys = [f"k{i}" for i in range(n)]
    return "\n".join(f"{k}: ${{{keys[(i + 1) % n]}}}" for i, k in enumerate(keys)) + \
        "\nsampler:\n  params:\n    num_steps: ${k0}\n"


def interpolation_doubling(rng: np.random.Generator) -> str:
    depth = int(rng.integers(25, 60))
    lines = ["d0: [1, 2]"] + [f"d{i}:\n- ${{d{i - 1}}}\n- ${{d{i - 1}}}" for i in range(1, depth)]
    return "\n".join(lines) + f"\nmisc:\n  latent_size: ${{d{depth - 1}}}\n"


def deep_yaml(rng: np.random.Generator) -> str:
    n = int(rng.integers(1_000, 200_000))
    return str(rng.choice(["[", "{a: ", "- "])) * n


# ---------------------------------------------------------------------------------------------- safetensors


def safetensors_bytes(header: object, data: bytes = b"") -> bytes:
    text_ = json.dumps(header).encode()
    return struct.pack("<Q", len(text_)) + text_ + data


def bad_header(rng: np.random.Generator) -> tuple[str, bytes]:
    """(what is wrong, file bytes) for one malformed safetensors header."""
    kind = str(rng.choice(["list", "no-offsets", "fp8", "f64-shape", "offsets-out", "negative", "metadata",
                           "shape-type", "dtype-type", "count-mismatch"]))
    n = int(rng.integers(1, 9))
    data = bytes(4 * n)
    good = {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}
    header = {
        "list": [good],
        "no-offsets": {"w": {"dtype": "F32", "shape": [n]}},
        "fp8": {"w": {"dtype": str(rng.choice(["F8_E4M3", "F8_E5M2"])), "shape": [n], "data_offsets": [0, n]}},
        "f64-shape": {"w": {"dtype": "F64", "shape": [n, 2 ** 40], "data_offsets": [0, 8 * n]}},
        "offsets-out": {"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n + 10 ** 9]}},
        "negative": {"w": {"dtype": "F32", "shape": [-n], "data_offsets": [0, 4 * n]}},
        "metadata": {"__metadata__": {"layout": ["mlx"]}, "w": good},
        "shape-type": {"w": {"dtype": "F32", "shape": "n", "data_offsets": [0, 4 * n]}},
        "dtype-type": {"w": {"dtype": 7, "shape": [n], "data_offsets": [0, 4 * n]}},
        "count-mismatch": {"w": {"dtype": "F32", "shape": [n + 1], "data_offsets": [0, 4 * n]}},
    }[kind]
    return kind, safetensors_bytes(header, data)


# ---------------------------------------------------------------------------------------------- PNG


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, bit_depth: int, color: int, raw_rows: bytes) -> bytes:
    """A PNG from filtered scanlines (each row starts with its filter byte)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw_rows))
            + _chunk(b"IEND", b""))


def png16_gray(values: np.ndarray) -> bytes:
    h, w = values.shape
    rows = b"".join(b"\x00" + values[y].astype(">u2").tobytes() for y in range(h))
    return png(w, h, 16, 0, rows)


def png_bomb(rng: np.random.Generator) -> bytes:
    """A tiny PNG declaring a huge canvas (beyond Pillow's decompression-bomb limit)."""
    side = int(rng.integers(20_000, 65_000))
    return png(side, side, 8, int(rng.choice([0, 2])), b"\x00" * 8)
