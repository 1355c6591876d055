"""Patch an ONNX model in memory: just enough of the protobuf wire format to free fixed input/output dimensions.

YuNet's export fixes its input at 1×3×640×640, although the network is fully convolutional (its reshapes use -1);
:func:`free_dims` names chosen axes symbolically instead, so that onnxruntime runs it at any size (320×320 for small
photos). The file on disk stays the verified one.

Field numbers follow onnx/onnx.proto: ModelProto.graph = 7; GraphProto.input = 11, output = 12, value_info = 13;
ValueInfoProto.name = 1, type = 2; TypeProto.tensor_type = 1; TypeProto.Tensor.shape = 2; TensorShapeProto.dim = 1;
Dimension.dim_value = 1, dim_param = 2.
"""

from __future__ import annotations

from collections.abc import Mapping

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
MODEL_GRAPH = 7
GRAPH_INPUT, GRAPH_OUTPUT, GRAPH_VALUE_INFO = 11, 12, 13


class OnnxGraphError(ValueError):
    """The bytes are not an ONNX model shaped as expected (a named input/output or axis is missing)."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise OnnxGraphError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(buf: bytes) -> list[tuple[int, int, bytes]]:
    """(field number, wire type, raw payload) of each field of one message, in order (payload of a varint field:
    its encoded bytes; of a length-delimited one: its content)."""
    out, pos = [], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            _, end = _varint(buf, pos)
            out.append((number, wire, buf[pos:end]))
            pos = end
        elif wire == LENGTH:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise OnnxGraphError("truncated field")
            out.append((number, wire, buf[pos:pos + size]))
            pos += size
        elif wire in (FIXED64, FIXED32):
            size = 8 if wire == FIXED64 else 4
            out.append((number, wire, buf[pos:pos + size]))
            pos += size
        else:
            raise OnnxGraphError(f"unsupported wire type {wire}")
    return out


def _encode(fields: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray()
    for number, wire, payload in fields:
        out += _encode_varint(number << 3 | wire)
        if wire == LENGTH:
            out += _encode_varint(len(payload))
        out += payload
    return bytes(out)


def _edit(buf: bytes, number: int, edit) -> bytes:
    """``buf`` with each length-delimited field ``number`` replaced by ``edit(content)`` (None drops it)."""
    out = []
    for field in _fields(buf):
        if field[0] == number and field[1] == LENGTH:
            content = edit(field[2])
            if content is not None:
                out.append((number, LENGTH, content))
        else:
            out.append(field)
    return _encode(out)


def _name(value_info: bytes) -> str:
    return next((p.decode() for n, w, p in _fields(value_info) if n == 1 and w == LENGTH), "")


def _free_axes(value_info: bytes, axes: Mapping[int, str]) -> bytes:
    """A ValueInfoProto whose tensor shape has the dimensions at ``axes`` named (dim_param) instead of fixed."""
    found = set()

    def shape(content: bytes) -> bytes:
        fields = _fields(content)
        dims = [i for i, f in enumerate(fields) if f[0] == 1 and f[1] == LENGTH]
        for axis, param in axes.items():
            if axis >= len(dims):
                raise OnnxGraphError(f"{_name(value_info)!r} has no axis {axis}")
            fields[dims[axis]] = (1, LENGTH, _encode([(2, LENGTH, param.encode())]))
            found.add(axis)
        return _encode(fields)

    out = _edit(value_info, 2, lambda t: _edit(t, 1, lambda tensor: _edit(tensor, 2, shape)))
    if found != set(axes):
        raise OnnxGraphError(f"{_name(value_info)!r} has no tensor shape")
    return out


def free_dims(model: bytes, dims: Mapping[str, Mapping[int, str]]) -> bytes:
    """``model`` with the graph inputs/outputs named in ``dims`` given symbolic dimensions (``{name: {axis:
    symbol}}``), and the graph's recorded intermediate shapes (value_info, now possibly stale) dropped."""
    seen = set()

    def value_info(content: bytes) -> bytes:
        name = _name(content)
        if name not in dims:
            return content
        seen.add(name)
        return _free_axes(content, dims[name])

    def graph(content: bytes) -> bytes:
        content = _edit(content, GRAPH_INPUT, value_info)
        content = _edit(content, GRAPH_OUTPUT, value_info)
        return _edit(content, GRAPH_VALUE_INFO, lambda _: None)

    out = _edit(model, MODEL_GRAPH, graph)
    missing = set(dims) - seen
    if missing:
        raise OnnxGraphError(f"the graph has no input or output named {', '.join(sorted(missing))}")
    return out
