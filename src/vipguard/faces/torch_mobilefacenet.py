"""A differentiable torch copy of the shipped MobileFaceNet, built from the TFLite file itself.

Why: the adversarial benchmark (``benchmarks/adversarial.py``, issue #37) attacks the identity evidence the way a
forger holding the project's public models would, with gradients. LiteRT gives none, so the graph in the verified
``MobileFaceNet.tflite`` is read op by op (:mod:`.tflite_graph`'s flatbuffer reader) and replayed in torch with the
file's own constants: no upstream model code is copied, and a different export fails loudly (:class:`GraphError`)
instead of building a different network. The copy is checked against
:class:`~vipguard.faces.embed.MobileFaceNetEmbedder` on real aligned faces (``tests/test_adversarial.py``).

The graph holds only the ops below (PReLU is exported as ``relu(x) + alpha·(x − |x|)``); tensors run in NCHW, the
file's NHWC constants are permuted once at build time. Torch is imported when a copy is built, never at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .tflite_graph import CONV_2D, DEPTHWISE_CONV_2D, FLOAT32, INT32, RESHAPE, GraphError, _Table, read_graph

ADD, MUL, RELU, SUB, ABS = 0, 18, 19, 41, 101
SUPPORTED = {ADD: "add", CONV_2D: "conv", DEPTHWISE_CONV_2D: "depthwise", MUL: "mul", RELU: "relu",
             RESHAPE: "reshape", SUB: "sub", ABS: "abs"}
# ActivationFunctionType of tensorflow/lite/schema/schema.fbs: NONE, RELU, RELU_N1_TO_1, RELU6
ACTIVATIONS = {0: "none", 1: "relu", 2: "relu_n1_to_1", 3: "relu6"}
SAME, VALID = 0, 1  # Padding enum
INPUT_MEAN, INPUT_SCALE = 127.5, 128.0  # MobileFaceNetEmbedder.feature_maps' normalisation of uint8 pixels


@dataclass(frozen=True)
class Op:
    """One graph operator: its kind (a value of :data:`SUPPORTED`), input and output tensor indices, and the
    options it needs (stride, padding, fused activation)."""

    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    stride: tuple[int, int] = (1, 1)
    padding: int = VALID
    activation: str = "none"


@dataclass(frozen=True)
class Graph:
    """The parsed graph: ops in execution order, constant tensors (NHWC, as stored), the input and output."""

    ops: tuple[Op, ...]
    constants: dict[int, np.ndarray]
    input: int
    output: int


def _constant(model: _Table, tensor: _Table) -> np.ndarray | None:
    """The tensor's stored value, or None when it is computed at run time (no buffer data)."""
    buffer = model.tables(4)[tensor.scalar(2, "I")]
    start, n = buffer.vector(0)
    if not n:
        return None
    dtype = {FLOAT32: np.float32, INT32: np.int32}.get(tensor.scalar(1, "b"))
    if dtype is None:
        raise GraphError(f"constant of unsupported type {tensor.scalar(1, 'b')} (a quantised export?)")
    return np.frombuffer(model.buf, dtype, n // np.dtype(dtype).itemsize, start).reshape(tensor.ints(0)).copy()


def _options(op: _Table, kind: str) -> dict[str, Any]:
    """The options this replay reads, from the operator's builtin options table (field slots of schema.fbs)."""
    table = op.table(4)
    if table is None:
        return {}
    if kind == "conv":  # Conv2DOptions: padding, stride_w, stride_h, fused_activation_function, dilation w/h
        dilation = (table.scalar(5, "i", 1), table.scalar(4, "i", 1))
        fused = table.scalar(3, "b")
    elif kind == "depthwise":  # DepthwiseConv2DOptions: padding, stride_w, stride_h, depth_multiplier, fused, dil.
        dilation = (table.scalar(6, "i", 1), table.scalar(5, "i", 1))
        fused = table.scalar(4, "b")
    elif kind in ("add", "mul", "sub"):  # AddOptions / MulOptions / SubOptions: fused_activation_function first
        return {"activation": _activation(table.scalar(0, "b"))}
    else:
        return {}
    if dilation != (1, 1):
        raise GraphError(f"dilated convolutions are not replayed (dilation {dilation})")
    return {"padding": table.scalar(0, "b"), "stride": (table.scalar(2, "i", 1), table.scalar(1, "i", 1)),
            "activation": _activation(fused)}


def _activation(code: int) -> str:
    if code not in ACTIVATIONS:
        raise GraphError(f"fused activation {code} is not replayed")
    return ACTIVATIONS[code]


def parse(model_bytes: bytes) -> Graph:
    """The TFLite graph as :class:`Graph`; raises :class:`GraphError` on an op or option this replay lacks."""
    model, codes, graph = read_graph(bytes(model_bytes))
    tensors = graph.tables(0)
    inputs, outputs = graph.ints(1), graph.ints(2)
    if len(inputs) != 1 or len(outputs) != 1:
        raise GraphError(f"expected one input and one output, found {len(inputs)} and {len(outputs)}")
    ops, constants = [], {}
    for op in graph.tables(3):
        code = codes[op.scalar(0, "I")]
        if code not in SUPPORTED:
            raise GraphError(f"builtin op {code} is not replayed by the torch copy")
        kind = SUPPORTED[code]
        ins = tuple(op.ints(1))
        for t in ins:
            if t >= 0 and t not in constants:
                value = _constant(model, tensors[t])
                if value is not None:
                    constants[t] = value
        ops.append(Op(kind, ins, tuple(op.ints(2)), **_options(op, kind)))
    return Graph(tuple(ops), constants, inputs[0], outputs[0])


def _nchw(value: np.ndarray) -> np.ndarray:
    """An NHWC-broadcasting constant as it broadcasts against NCHW activations: a per-channel vector becomes
    (C, 1, 1); 3-D (H, W, C) and 4-D (N, H, W, C) constants have their channel axis moved first."""
    if value.ndim == 1:
        return value.reshape(-1, 1, 1)
    if value.ndim == 3:
        return value.transpose(2, 0, 1)
    if value.ndim == 4:
        return value.transpose(0, 3, 1, 2)
    return value


def build(model_bytes: bytes):
    """A torch ``nn.Module`` replaying the graph: NHWC float input normalised as the embedder does, output as the
    graph's (unnormalised embedding). Used through :class:`TorchMobileFaceNet`."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    graph = parse(model_bytes)

    class Replay(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.graph = graph
            self.weights = nn.ParameterDict()  # constants as frozen parameters, keyed by tensor index
            for op in graph.ops:
                for slot, t in enumerate(op.inputs):
                    if t not in graph.constants or str(t) in self.weights:
                        continue
                    value = graph.constants[t]
                    if op.kind == "conv" and slot == 1:
                        value = value.transpose(0, 3, 1, 2)  # OHWI → OIHW
                    elif op.kind == "depthwise" and slot == 1:
                        value = value[0].transpose(2, 0, 1)[:, None]  # 1HWC → C1HW
                    elif op.kind in ("add", "mul", "sub"):
                        value = _nchw(value)
                    self.weights[str(t)] = nn.Parameter(torch.from_numpy(np.ascontiguousarray(value)),
                                                        requires_grad=False)

        def _conv(self, op: Op, x, groups: bool):
            w = self.weights[str(op.inputs[1])]
            b = self.weights[str(op.inputs[2])] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
            if op.padding == SAME:  # TensorFlow's SAME: the odd pixel of padding goes bottom/right
                pads = []
                for size, k, s in zip(reversed(x.shape[-2:]), reversed(w.shape[-2:]), reversed(op.stride)):
                    total = max((-(-int(size) // s) - 1) * s + int(k) - int(size), 0)
                    pads += [total // 2, total - total // 2]
                x = F.pad(x, pads)
            elif op.padding != VALID:
                raise GraphError(f"padding {op.padding} is not replayed")
            return F.conv2d(x, w, b, op.stride, 0, 1, x.shape[1] if groups else 1)

        def _value(self, values: dict, t: int):
            return values[t] if t in values else self.weights[str(t)]

        def forward(self, pixels):
            """``pixels``: (N, 112, 112, 3) float RGB on the 0–255 scale → (N, 192) graph output."""
            x = ((pixels - INPUT_MEAN) / INPUT_SCALE).permute(0, 3, 1, 2)
            values = {self.graph.input: x}
            for op in self.graph.ops:
                a = self._value(values, op.inputs[0])
                if op.kind == "conv":
                    y = self._conv(op, a, groups=False)
                elif op.kind == "depthwise":
                    y = self._conv(op, a, groups=True)
                elif op.kind in ("add", "mul", "sub"):
                    b = self._value(values, op.inputs[1])
                    y = a + b if op.kind == "add" else a * b if op.kind == "mul" else a - b
                elif op.kind == "relu":
                    y = F.relu(a)
                elif op.kind == "abs":
                    y = a.abs()
                else:  # reshape: back to NHWC order, the stored shape with its batch left free
                    shape = [int(v) for v in self.graph.constants[op.inputs[1]].ravel()]
                    y = (a.permute(0, 2, 3, 1) if a.dim() == 4 else a).reshape(-1, *shape[1:])
                if op.activation == "relu":
                    y = F.relu(y)
                elif op.activation == "relu6":
                    y = F.relu6(y)
                elif op.activation == "relu_n1_to_1":
                    y = y.clamp(-1.0, 1.0)
                values[op.outputs[0]] = y
            return values[self.graph.output]

    return Replay().eval()


class TorchMobileFaceNet:
    """The differentiable embedder: (N, 112, 112, 3) float RGB on 0–255 (an ArcFace-aligned crop, as
    :meth:`MobileFaceNetEmbedder.embed_aligned` takes as uint8) → (N, 192) L2-normalised embeddings.

    Built from the verified model store's file (or ``path``); ``module`` is the torch network (frozen)."""

    def __init__(self, path: Path | None = None):
        if path is None:
            from ..infra.weights import ModelStore

            path = ModelStore().path("mobilefacenet")
        self.module = build(Path(path).read_bytes())

    def __call__(self, crops):
        import torch.nn.functional as F

        return F.normalize(self.module(crops), dim=1, eps=1e-12)

    def embed_aligned(self, crops: np.ndarray) -> np.ndarray:
        """numpy in, numpy out, without gradients: the drop-in comparison with the LiteRT embedder."""
        import torch

        with torch.no_grad():
            x = torch.from_numpy(np.asarray(crops, np.float32).reshape(-1, 112, 112, 3))
            return self(x).numpy()
