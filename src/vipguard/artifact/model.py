"""A small two-headed CNN (MobileNetV2-style inverted residual blocks, a few hundred thousand parameters).

Heads: a real/fake logit (average + max pooled features) and a Face X-ray boundary map (a tiny FPN over the
1/4, 1/8 and 1/16 feature maps, output at ``boundary_size``²). Input: float RGB in [0, 1], NCHW, normalised
inside the model so exported graphs take plain [0, 1] pixels. Torch is needed only here and in training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import ArtifactConfig


def _conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """1×1 expand → 3×3 depthwise → 1×1 project (linear), with a skip when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        self.skip = stride == 1 and cin == cout
        self.block = nn.Sequential(
            _conv_bn(cin, hidden, 1),
            _conv_bn(hidden, hidden, 3, stride, groups=hidden),
            _conv_bn(hidden, cout, 1, act=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.skip else y


class ArtifactNet(nn.Module):
    """``forward(x) -> (logit (N,), boundary_logits (N, 1, B, B))``."""

    def __init__(self, config: ArtifactConfig = ArtifactConfig()):
        super().__init__()
        self.config = config
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1), persistent=False)
        self.stem = _conv_bn(3, config.stem, 3, 2)
        stages, cin = [], config.stem
        for cout, blocks, stride, expansion in config.stages:
            layers = [InvertedResidual(cin if i == 0 else cout, cout, stride if i == 0 else 1, expansion)
                      for i in range(blocks)]
            stages.append(nn.Sequential(*layers))
            cin = cout
        self.stages = nn.ModuleList(stages)
        taps = [s[0] for s in config.stages[-3:]]
        self.lateral = nn.ModuleList(nn.Conv2d(c, config.fpn, 1) for c in taps)
        self.boundary = nn.Sequential(
            _conv_bn(config.fpn, config.fpn, 3, groups=config.fpn), _conv_bn(config.fpn, config.fpn, 1),
            nn.Conv2d(config.fpn, 1, 1))
        stride = 2 * int(np.prod([s[2] for s in config.stages[:-2]]))  # stride of the finest tap
        self.resize_boundary = config.size // stride != config.boundary_size
        self.neck = _conv_bn(cin, config.head, 1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(2 * config.head, 1))

    def _backbone(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem((x - self.mean) / self.std)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats

    def _pool(self, top: torch.Tensor) -> torch.Tensor:
        h = self.neck(top)
        return torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled representation (N, 2·head) that the real/fake logit is a linear read-out of."""
        return self._pool(self._backbone(x)[-1])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self._backbone(x)
        taps = feats[-3:]
        top = taps[0].shape[-2:]
        fused = self.lateral[0](taps[0])
        for lat, f in zip(self.lateral[1:], taps[1:]):
            fused = fused + F.interpolate(lat(f), size=top, mode="bilinear", align_corners=False)
        b = self.boundary(fused)
        if self.resize_boundary:
            b = F.interpolate(b, size=(self.config.boundary_size,) * 2, mode="bilinear", align_corners=False)
        return self.classifier(self._pool(feats[-1])).squeeze(1), b


class ExportWrapper(nn.Module):
    """What the ONNX graph computes: (probability (N,), boundary map in [0, 1] (N, B, B))."""

    def __init__(self, net: ArtifactNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logit, b = self.net(x)
        return torch.sigmoid(logit), torch.sigmoid(b).squeeze(1)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def save_pretrained(net: ArtifactNet, out_dir: Path, config: ArtifactConfig | None = None) -> None:
    """``model.safetensors`` + ``config.json`` (the ONNX file and its hash are written by :func:`export_onnx`)."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(out_dir / "model.safetensors"))
    (out_dir / "config.json").write_text((config or net.config).to_json() + "\n")


def from_pretrained(folder: Path) -> ArtifactNet:
    """Rebuild the torch model from ``config.json`` + ``model.safetensors`` (eval mode)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    config = ArtifactConfig.load(folder / "config.json")
    net = ArtifactNet(config)
    net.load_state_dict(load_file(str(folder / "model.safetensors")))
    return net.eval()


def export_onnx(net: ArtifactNet, path: Path, opset: int = 17) -> None:
    """Export (legacy TorchScript exporter: the dynamo one needs onnxscript) with a dynamic batch axis."""
    wrapper = ExportWrapper(net).eval()
    size = net.config.size
    dummy = torch.zeros(1, 3, size, size)
    torch.onnx.export(
        wrapper, (dummy,), str(path), input_names=["image"], output_names=["probability", "boundary"],
        dynamic_axes={"image": {0: "batch"}, "probability": {0: "batch"}, "boundary": {0: "batch"}},
        opset_version=opset, dynamo=False,
    )
