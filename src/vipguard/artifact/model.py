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
    net = build(config)
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


class PretrainedTrunk(nn.Module):
    """An EfficientNet-Lite's stem and blocks up to stride 16, frozen: the detector v2's features. The network's
    variant says which blocks are tapped (:attr:`vipguard.artifact.variants.Variant.taps`)."""

    def __init__(self, full: nn.Module):
        super().__init__()
        self.variant = full.variant
        taps = self.variant.taps
        self._conv_stem, self._bn0 = full._conv_stem, full._bn0
        self._blocks = nn.ModuleList(full._blocks[:max(taps.values()) + 1])
        self.taps = tuple(taps[s] for s in (4, 8, 16))
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x255: torch.Tensor) -> list[torch.Tensor]:
        from .backbone import EfficientNetLite

        y = F.relu6(self._bn0(self._conv_stem(EfficientNetLite.normalise(x255))))
        out = []
        for i, block in enumerate(self._blocks):
            y = block(y)
            if i in self.taps:
                out.append(y)
        return out


class FusionHead(nn.Module):
    """The trained part of v2: strides 4/8/16 fused at stride 8 → boundary map and pooled real/fake logit."""

    def __init__(self, config: ArtifactConfig):
        super().__init__()
        from .variants import variant

        channels = variant(config.backbone).tap_channels
        self.config = config
        self.grid = -(-config.size // 8)  # the stride-8 map's side under "SAME" padding (static for ONNX)
        self.lateral = nn.ModuleList(_conv_bn(channels[s], config.fpn, 1) for s in (4, 8, 16))
        self.fuse = nn.Sequential(_conv_bn(3 * config.fpn, 3 * config.fpn, 3, groups=3 * config.fpn),
                                  _conv_bn(3 * config.fpn, config.head, 1))
        self.boundary = nn.Conv2d(config.head, 1, 1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(2 * config.head, 1))

    def forward(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        f4, f8, f16 = (lat(f) for lat, f in zip(self.lateral, feats))
        f4 = F.avg_pool2d(f4, 2, ceil_mode=True)
        f16 = F.interpolate(f16, size=(self.grid, self.grid), mode="bilinear", align_corners=False)
        h = self.fuse(torch.cat([f4, f8, f16], dim=1))
        b = F.interpolate(self.boundary(h), size=(self.config.boundary_size,) * 2, mode="bilinear",
                          align_corners=False)
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        return self.classifier(pooled).squeeze(1), b


class PretrainedArtifactNet(nn.Module):
    """Detector v2: frozen :class:`PretrainedTrunk` + trained :class:`FusionHead`; same interface as
    :class:`ArtifactNet` (0–1 RGB in; logit and boundary logits out)."""

    def __init__(self, config: ArtifactConfig, trunk: PretrainedTrunk | None = None):
        super().__init__()
        self.config = config
        if trunk is None:
            from .backbone import EfficientNetLite

            trunk = PretrainedTrunk(EfficientNetLite(config.backbone))  # random weights: from_pretrained loads them
        self.trunk = trunk
        if self.trunk.variant.name != config.backbone:
            raise ValueError(f"the trunk is {self.trunk.variant.name}, the config names {config.backbone!r}")
        self.head = FusionHead(config)

    def train(self, mode: bool = True) -> PretrainedArtifactNet:
        super().train(mode)
        self.trunk.eval()  # frozen: batch-norm keeps its ImageNet statistics
        return self

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The frozen multi-scale features for 0–1 RGB input."""
        return self.trunk(x * 255.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.features(x))


def build(config: ArtifactConfig, backbone_file: Path | None = None) -> nn.Module:
    """The torch network ``config`` describes; v2 with the ImageNet weights from ``backbone_file`` when given."""
    if not config.backbone:
        return ArtifactNet(config)
    trunk = None
    if backbone_file is not None:
        from .backbone import load_backbone

        trunk = PretrainedTrunk(load_backbone(backbone_file, config.backbone))
    return PretrainedArtifactNet(config, trunk)
