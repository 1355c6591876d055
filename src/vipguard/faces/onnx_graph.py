"""Patch an ONNX model in memory (:mod:`vipguard.infra.protowire`): free fixed input/output dimensions.

YuNet's export fixes its input at 1×3×640×640, although the network is fully convolutional (its reshapes use -1);
:func:`free_dims` names chosen axes symbolically instead, so that onnxruntime runs it at any size (320×320 for small
photos). The file on disk stays the verified one.

Field numbers follow onnx/onnx.proto: ModelProto.graph = 7; GraphProto.input = 11, output = 12, value_info = 13;
ValueInfoProto.name = 1, type = 2; TypeProto.tensor_type = 1; TypeProto.Tensor.shape = 2; TensorShapeProto.dim = 1;
Dimension.dim_value = 1, dim_param = 2.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..infra.protowire import LENGTH, edit, encode, fields, first

MODEL_GRAPH = 7
GRAPH_INPUT, GRAPH_OUTPUT, GRAPH_VALUE_INFO = 11, 12, 13


class OnnxGraphError(ValueError):
    """The bytes are not an ONNX model shaped as expected (a named input/output or axis is missing)."""


def _name(value_info: bytes) -> str:
    return (first(fields(value_info), 1) or b"").decode()


def _free_axes(value_info: bytes, axes: Mapping[int, str]) -> bytes:
    """A ValueInfoProto whose tensor shape has the dimensions at ``axes`` named (dim_param) instead of fixed."""
    found = set()

    def shape(content: bytes) -> bytes:
        message = fields(content)
        dims = [i for i, f in enumerate(message) if f[0] == 1 and f[1] == LENGTH]
        for axis, param in axes.items():
            if axis >= len(dims):
                raise OnnxGraphError(f"{_name(value_info)!r} has no axis {axis}")
            message[dims[axis]] = (1, LENGTH, encode([(2, LENGTH, param.encode())]))
            found.add(axis)
        return encode(message)

    out = edit(value_info, 2, lambda t: edit(t, 1, lambda tensor: edit(tensor, 2, shape)))
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
        content = edit(content, GRAPH_INPUT, value_info)
        content = edit(content, GRAPH_OUTPUT, value_info)
        return edit(content, GRAPH_VALUE_INFO, lambda _: None)

    out = edit(model, MODEL_GRAPH, graph)
    missing = set(dims) - seen
    if missing:
        raise OnnxGraphError(f"the graph has no input or output named {', '.join(sorted(missing))}")
    return out
