"""TensorFlow GraphDef files (`.pb`) read and written without TensorFlow or protobuf: the wire format by hand.

Only what a frozen inference graph needs: nodes (name, op, inputs, attributes) and constant tensors.
Reading never runs code and never allocates more than the file holds: every length is checked against
the bytes that remain, and a tensor's payload must be exactly its shape times its item size. Writing
exists so tests and tools/verify_evaluator.py can build graphs with the layout of the 2015 Inception
graph (ADM's `classify_image_graph_def.pb`); TensorFlow reads what it writes.

Field numbers follow tensorflow/core/framework/{graph,node_def,attr_value,tensor,tensor_shape,types}.proto.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class GraphDefError(ValueError):
    """The file is not a GraphDef this reader understands."""


# DataType enum values (types.proto) -> numpy dtypes.
DTYPES: dict[int, np.dtype] = {1: np.dtype("<f4"), 2: np.dtype("<f8"), 3: np.dtype("<i4"), 4: np.dtype("u1"),
                               5: np.dtype("<i2"), 6: np.dtype("i1"), 9: np.dtype("<i8"), 10: np.dtype("?"),
                               19: np.dtype("<f2")}
DT_FLOAT, DT_INT32, DT_STRING = 1, 3, 7
# TensorProto's typed repeated fields: field number -> (numpy dtype, wire reading).
_TYPED_VALUES = {5: ("<f4", "f32"), 6: ("<f8", "f64"), 7: ("<i4", "varint"), 10: ("<i8", "varint"),
                 11: ("?", "varint"), 13: ("<f2", "varint")}
MAX_ELEMENTS = 1 << 31


# ---------------------------------------------------------------------------------------------- wire format


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise GraphDefError("truncated or malformed varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(buf: memoryview) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) for each field of a message: ints for varints, memoryviews for
    length-delimited fields, raw bytes for fixed 32/64-bit fields."""
    out = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1 or wire == 5:
            size = 8 if wire == 1 else 4
            if pos + size > len(buf):
                raise GraphDefError("truncated fixed-size field")
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise GraphDefError("a length-delimited field runs past the end of its message")
            value, pos = buf[pos:pos + size], pos + size
        else:
            raise GraphDefError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _packed_varints(view: memoryview) -> list[int]:
    values, pos = [], 0
    while pos < len(view):
        v, pos = _varint(view, pos)
        values.append(_signed(v))
    return values


# ---------------------------------------------------------------------------------------------- messages


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attr: dict[str, Any] = field(default_factory=dict)  # attribute name -> python value / numpy array


def _shape(view: memoryview) -> tuple[int, ...]:
    dims = []
    for number, _, value in _fields(view):
        if number == 2:
            size = next((_signed(v) for n, _, v in _fields(value) if n == 1), 0)
            dims.append(size)
        elif number == 3 and value:
            raise GraphDefError("a constant tensor of unknown rank")
    return tuple(dims)


def _tensor(view: memoryview) -> np.ndarray | list[bytes]:
    dtype_id, shape, content, values, strings = 0, (), None, [], []
    for number, wire, value in _fields(view):
        if number == 1:
            dtype_id = value
        elif number == 2:
            shape = _shape(value)
        elif number == 4:
            content = value
        elif number == 8:
            strings.append(bytes(value))
        elif number in _TYPED_VALUES:
            values.append((number, wire, value))
    if dtype_id == DT_STRING:
        return strings
    if dtype_id not in DTYPES:
        raise GraphDefError(f"unsupported tensor dtype {dtype_id}")
    dtype = DTYPES[dtype_id]
    if any(d < 0 for d in shape):
        raise GraphDefError(f"a constant tensor with unknown dimensions {shape}")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if count > MAX_ELEMENTS:
        raise GraphDefError(f"a constant tensor of {count} elements is too large")
    if content is not None:
        if len(content) != count * dtype.itemsize:
            raise GraphDefError(f"tensor_content holds {len(content)} bytes, its shape {shape} needs "
                                f"{count * dtype.itemsize}")
        return np.frombuffer(content, dtype=dtype).reshape(shape).copy()
    flat: list[Any] = []
    for number, wire, value in values:
        kind = _TYPED_VALUES[number][1]
        if wire == 2 and kind in ("f32", "f64"):
            flat += np.frombuffer(value, dtype=_TYPED_VALUES[number][0]).tolist()
        elif wire == 2:
            flat += _packed_varints(value)
        elif kind in ("f32", "f64"):
            flat.append(np.frombuffer(value, dtype=_TYPED_VALUES[number][0])[0])
        else:
            flat.append(_signed(value))
    if any(n == 13 for n, _, _ in values):  # half_val holds each value's raw 16 bits as an int
        flat = np.array(flat, dtype=np.uint16).view(np.float16).tolist()
    if len(flat) > count:
        raise GraphDefError(f"a tensor of shape {shape} lists {len(flat)} values")
    if count and not flat:
        return np.zeros(shape, dtype=dtype)
    if len(flat) < count:  # TensorFlow repeats the last value
        flat += [flat[-1]] * (count - len(flat))
    return np.array(flat, dtype=dtype).reshape(shape)


def _list_value(view: memoryview) -> list[Any]:
    out: list[Any] = []
    for number, wire, value in _fields(view):
        if number == 2:
            out.append(bytes(value))
        elif number in (3, 6):
            out += _packed_varints(value) if wire == 2 else [_signed(value)]
        elif number == 4:
            out += np.frombuffer(value, dtype="<f4").tolist()
        elif number == 5:
            out += [bool(v) for v in _packed_varints(value)] if wire == 2 else [bool(value)]
    return out


def _attr_value(view: memoryview) -> Any:
    for number, _, value in _fields(view):
        if number == 1:
            return _list_value(value)
        if number == 2:
            return bytes(value)
        if number == 3:
            return _signed(value)
        if number == 4:
            return float(np.frombuffer(value, dtype="<f4")[0])
        if number == 5:
            return bool(value)
        if number == 6:
            return ("type", value)
        if number == 7:
            return _shape(value)
        if number == 8:
            return _tensor(value)
    return None


def _node(view: memoryview) -> Node:
    node = Node("", "")
    for number, _, value in _fields(view):
        if number == 1:
            node.name = bytes(value).decode("utf-8", "replace")
        elif number == 2:
            node.op = bytes(value).decode("utf-8", "replace")
        elif number == 3:
            node.inputs.append(bytes(value).decode("utf-8", "replace"))
        elif number == 5:
            key, attr = "", None
            for n, _, v in _fields(value):
                if n == 1:
                    key = bytes(v).decode("utf-8", "replace")
                elif n == 2:
                    attr = _attr_value(v)
            node.attr[key] = attr
    return node


def parse(data: bytes) -> dict[str, Node]:
    """The nodes of a serialized GraphDef, by name (Const nodes carry their value in attr['value'])."""
    nodes: dict[str, Node] = {}
    for number, wire, value in _fields(memoryview(data)):
        if number == 1 and wire == 2:
            node = _node(value)
            nodes[node.name] = node
    if not nodes:
        raise GraphDefError("no nodes: not a TensorFlow GraphDef")
    return nodes


def constants(nodes: dict[str, Node]) -> dict[str, np.ndarray]:
    """name -> value of every numeric Const node."""
    return {n.name: n.attr["value"] for n in nodes.values()
            if n.op == "Const" and isinstance(n.attr.get("value"), np.ndarray)}


# ---------------------------------------------------------------------------------------------- writing


def _key(number: int, wire: int) -> bytes:
    return _encode_varint(number << 3 | wire)


def _encode_varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        if v:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _len(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _encode_varint(len(payload)) + payload


def _vint(number: int, v: int) -> bytes:
    return _key(number, 0) + _encode_varint(v)


def _shape_proto(shape: tuple[int, ...]) -> bytes:
    return b"".join(_len(2, _vint(1, d)) for d in shape)


def tensor_proto(value: np.ndarray) -> bytes:
    value = np.asarray(value)
    dtype_id = next((k for k, d in DTYPES.items() if d == value.dtype.newbyteorder("<")), None)
    if dtype_id is None:
        raise GraphDefError(f"cannot write dtype {value.dtype}")
    little = np.ascontiguousarray(value, dtype=DTYPES[dtype_id])
    return _vint(1, dtype_id) + _len(2, _shape_proto(value.shape)) + _len(4, little.tobytes())


def _attr(value: Any) -> bytes:
    if isinstance(value, bool):
        return _vint(5, int(value))
    if isinstance(value, int):
        return _vint(3, value)
    if isinstance(value, float):
        return _key(4, 5) + struct.pack("<f", value)
    if isinstance(value, (bytes, str)):
        return _len(2, value.encode() if isinstance(value, str) else value)
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "type":
        return _vint(6, value[1])
    if isinstance(value, list):  # a list of ints
        return _len(1, _len(3, b"".join(_encode_varint(v) for v in value)))
    if isinstance(value, np.ndarray):
        return _len(8, tensor_proto(value))
    raise GraphDefError(f"cannot write attribute value {value!r}")


def node_proto(node: Node) -> bytes:
    out = _len(1, node.name.encode()) + _len(2, node.op.encode())
    out += b"".join(_len(3, i.encode()) for i in node.inputs)
    for key in sorted(node.attr):
        out += _len(5, _len(1, key.encode()) + _len(2, _attr(node.attr[key])))
    return out


def serialize(nodes: list[Node], producer: int) -> bytes:
    """A GraphDef with these nodes and VersionDef.producer (old ops need an old producer version)."""
    return b"".join(_len(1, node_proto(n)) for n in nodes) + _len(4, _vint(1, producer))
