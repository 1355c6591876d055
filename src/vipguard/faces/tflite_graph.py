"""Read and patch a TFLite flatbuffer in memory: just enough of the schema to expose MobileFaceNet's last feature map.

MobileFaceNet ends ``7×7×512 map → GDC (7×7 depthwise conv) → 1×1 conv → 1×1 conv → RESHAPE [2, 192]``, all linear
after the map (batch norms folded). :func:`split_head` rewrites the graph's output to be that map (one int32 written
in place) and the RESHAPE's constant shape to ``[-1, 192]`` (so the batch is free), and returns the head's weights,
so that the whole-face embedding and region-pooled embeddings come from one pass (:class:`LinearHead`).

Field numbers follow tensorflow/lite/schema/schema.fbs (Model, SubGraph, Tensor, Operator, OperatorCode, Buffer).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

CONV_2D, DEPTHWISE_CONV_2D, RESHAPE = 3, 4, 22
FLOAT32, INT32 = 0, 2


class GraphError(ValueError):
    """The model is not shaped as this module expects (a different network, or a different export)."""


class _Table:
    """A flatbuffer table at ``pos`` in ``buf``."""

    def __init__(self, buf: bytes, pos: int):
        self.buf, self.pos = buf, pos
        vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self._vt, self._vt_size = vtable, struct.unpack_from("<H", buf, vtable)[0]

    def _field(self, slot: int) -> int | None:
        offset = 4 + 2 * slot
        if offset >= self._vt_size:
            return None
        rel = struct.unpack_from("<H", self.buf, self._vt + offset)[0]
        return self.pos + rel if rel else None

    def scalar(self, slot: int, fmt: str, default: int = 0) -> int:
        at = self._field(slot)
        return default if at is None else struct.unpack_from("<" + fmt, self.buf, at)[0]

    def _target(self, slot: int) -> int | None:
        at = self._field(slot)
        return None if at is None else at + struct.unpack_from("<I", self.buf, at)[0]

    def table(self, slot: int) -> _Table | None:
        at = self._target(slot)
        return None if at is None else _Table(self.buf, at)

    def vector(self, slot: int) -> tuple[int, int]:
        """(position of the first element, length) of a vector field; (0, 0) when absent."""
        at = self._target(slot)
        return (0, 0) if at is None else (at + 4, struct.unpack_from("<I", self.buf, at)[0])

    def ints(self, slot: int) -> list[int]:
        start, n = self.vector(slot)
        return list(struct.unpack_from(f"<{n}i", self.buf, start)) if n else []

    def tables(self, slot: int) -> list[_Table]:
        start, n = self.vector(slot)
        return [_Table(self.buf, start + 4 * i + struct.unpack_from("<I", self.buf, start + 4 * i)[0])
                for i in range(n)]


@dataclass(frozen=True)
class LinearHead:
    """The linear layers after the last feature map: ``gdc`` (7, 7, C) depthwise weights and bias, then 1×1 convs
    as matrices. ``embed`` pools maps (N, 7, 7, C), optionally under spatial weights (N, 7, 7)."""

    gdc: np.ndarray
    gdc_bias: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]  # (weight (out, in), bias (out,)) applied in order

    def embed(self, maps: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Unnormalised embeddings (N, D). With ``weights`` the depthwise sum runs over the weighted cells,
        rescaled by the weights' mean so that the bias keeps its share (all-ones weights = the network's output)."""
        maps = np.asarray(maps, np.float32)
        kernel = self.gdc[None]
        if weights is not None:
            w = np.asarray(weights, np.float32)
            kernel = kernel * (w / np.maximum(w.mean(axis=(1, 2), keepdims=True), 1e-6))[..., None]
        x = (maps * kernel).sum(axis=(1, 2)) + self.gdc_bias
        for weight, bias in self.layers:
            x = x @ weight.T + bias
        return x


def _tensor_array(model: _Table, tensors: list[_Table], index: int) -> np.ndarray:
    tensor = tensors[index]
    dtype = {FLOAT32: np.float32, INT32: np.int32}.get(tensor.scalar(1, "b"))
    buffer = model.tables(4)[tensor.scalar(2, "I")]
    start, n = buffer.vector(0)
    if dtype is None or not n:
        raise GraphError(f"tensor {index} is not a constant float32/int32 tensor")
    return np.frombuffer(model.buf, dtype, n // np.dtype(dtype).itemsize, start).reshape(tensor.ints(0)).copy()


def read_graph(model_bytes: bytes) -> tuple[_Table, list[int], _Table]:
    """The model's root table, its builtin operator codes and its one subgraph (:class:`GraphError` otherwise)."""
    model = _Table(bytes(model_bytes), struct.unpack_from("<I", model_bytes, 0)[0])
    codes = [max(c.scalar(0, "b"), c.scalar(3, "i")) for c in model.tables(1)]
    graphs = model.tables(2)
    if len(graphs) != 1:
        raise GraphError(f"expected one subgraph, found {len(graphs)}")
    return model, codes, graphs[0]


def split_head(model_bytes: bytes) -> tuple[bytes, LinearHead]:
    """(patched model whose output is the last feature map with a free batch, the head that maps it to the
    embedding). Raises :class:`GraphError` if the graph does not end map → GDC → conv → conv → reshape."""
    buf = bytearray(model_bytes)
    model, codes, graph = read_graph(bytes(buf))
    tensors, ops = graph.tables(0), graph.tables(3)
    outputs = graph.ints(2)
    if len(outputs) != 1:
        raise GraphError(f"expected one graph output, found {len(outputs)}")
    producer = {out: op for op in ops for out in op.ints(2)}

    def op_making(tensor: int, code: int) -> _Table:
        op = producer.get(tensor)
        if op is None or codes[op.scalar(0, "I")] != code:
            raise GraphError(f"tensor {tensor} is not made by builtin op {code}")
        return op

    reshape = op_making(outputs[0], RESHAPE)
    layers = []
    tensor = reshape.ints(1)[0]
    for _ in range(2):  # the two 1×1 convolutions, last first
        conv = op_making(tensor, CONV_2D)
        options = conv.table(4)
        if options is not None and options.scalar(3, "b") != 0:
            raise GraphError("a 1×1 convolution of the head has a fused activation")
        x, w, b = conv.ints(1)
        weight = _tensor_array(model, tensors, w)
        layers.append((weight.reshape(weight.shape[0], -1), _tensor_array(model, tensors, b)))
        tensor = x
    gdc = op_making(tensor, DEPTHWISE_CONV_2D)
    options = gdc.table(4)
    if options is not None and options.scalar(4, "b") != 0:
        raise GraphError("the global depthwise convolution has a fused activation")
    feature_map, w, b = gdc.ints(1)
    kernel = _tensor_array(model, tensors, w)[0]
    if kernel.shape[:2] != tuple(tensors[feature_map].ints(0)[1:3]):
        raise GraphError("the depthwise convolution is not global over the feature map")
    head = LinearHead(kernel, _tensor_array(model, tensors, b), tuple(reversed(layers)))
    # the graph's output becomes the feature map; the reshape's constant shape loses its fixed batch
    start, _ = graph.vector(2)
    struct.pack_into("<i", buf, start, feature_map)
    shape_tensor = tensors[reshape.ints(1)[1]]
    data, n = model.tables(4)[shape_tensor.scalar(2, "I")].vector(0)
    if n != 8:
        raise GraphError("the reshape's shape is not a constant of two int32")
    struct.pack_into("<i", buf, data, -1)
    options = reshape.table(4)
    if options is not None:  # ReshapeOptions.new_shape, when the exporter also wrote it there
        start, n = options.vector(0)
        if n:
            struct.pack_into("<i", buf, start, -1)
    return bytes(buf), head
