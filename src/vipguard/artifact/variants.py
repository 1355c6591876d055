"""The EfficientNet-Lite backbones the artefact detector v2 can read, described once (torch-free, so that the CLI
can check a ``--backbone`` before torch is imported): each one's model name in the model store and its seven
stages as its weight file has them; the taps and their channels follow from the stages."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    """One EfficientNet-Lite: its model name (in the model store) and seven stages of (expansion, kernel, stride,
    output channels, repeats), as its weight file has them."""

    name: str
    stages: tuple[tuple[int, int, int, int, int], ...]
    stem: int = 32
    head: int = 1280

    @property
    def label(self) -> str:
        """How model cards and messages name it: ``EfficientNet-Lite0``."""
        return "EfficientNet-Lite" + self.name.rsplit("lite", 1)[1]

    @property
    def taps(self) -> dict[int, int]:
        """Index of the last block at each feature stride the detector reads (4, 8, 16)."""
        out, stride, index = {}, 2, -1  # the stem has stride 2
        for _, _, s, _, repeats in self.stages:
            stride *= s
            index += repeats
            if stride in (4, 8, 16):
                out[stride] = index  # a later stage at the same stride moves the tap to its last block
        return out

    @property
    def tap_channels(self) -> dict[int, int]:
        """Channels of the block output at each tapped stride."""
        out, stride = {}, 2
        for _, _, s, cout, _ in self.stages:
            stride *= s
            if stride in (4, 8, 16):
                out[stride] = cout
        return out


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("efficientnet_lite0", ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                                   (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))),
    Variant("efficientnet_lite2", ((1, 3, 1, 16, 1), (6, 3, 2, 24, 3), (6, 5, 2, 48, 3), (6, 3, 2, 88, 4),
                                   (6, 5, 1, 120, 4), (6, 5, 2, 208, 5), (6, 3, 1, 352, 1))),
)}
DEFAULT_VARIANT = "efficientnet_lite0"


def variant(name: str) -> Variant:
    """The :class:`Variant` called ``name``; a clear error for any other name."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown artefact backbone {name!r}; known: {', '.join(VARIANTS)}") from None
