"""Image degradations of the paper's robustness study (Appendix D.4, Table 11), three levels each.

- Gaussian noise N(0, σ²) added in YCbCr space (all three channels), σ = 8 / 11 / 18;
- Gaussian blur with kernel K×K and standard deviation σ: (7, 1) / (13, 2) / (21, 3);
- JPEG compression at quality 90 / 60 / 30.

Every function takes and returns an RGB ``uint8`` image and never modifies its input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from ..infra.imageops import jpeg

NOISE_SIGMAS = (8.0, 11.0, 18.0)
BLUR_SETTINGS = ((7, 1.0), (13, 2.0), (21, 3.0))
JPEG_QUALITIES = (90, 60, 30)


def gaussian_noise_ycbcr(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    ycc = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    ycc += rng.normal(0.0, sigma, ycc.shape).astype(np.float32)
    return cv2.cvtColor(np.clip(np.rint(ycc), 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB)


def gaussian_blur(image: np.ndarray, kernel: int, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (kernel, kernel), sigmaX=sigma, sigmaY=sigma)


@dataclass(frozen=True, slots=True)
class Degradation:
    """One (kind, level) cell of the robustness grid."""

    kind: str  # "noise" | "blur" | "jpeg"
    level: int  # 1..3
    label: str
    apply: Callable[[np.ndarray, np.random.Generator], np.ndarray]

    @property
    def key(self) -> str:
        return f"{self.kind}{self.level}"


def grid(levels: tuple[int, ...] = (1, 2, 3)) -> list[Degradation]:
    """The robustness grid of Table 11, restricted to ``levels``."""
    out = []
    for level in levels:
        sigma = NOISE_SIGMAS[level - 1]
        out.append(Degradation("noise", level, f"YCbCr noise σ={sigma:g}",
                               lambda im, rng, s=sigma: gaussian_noise_ycbcr(im, s, rng)))
    for level in levels:
        k, s = BLUR_SETTINGS[level - 1]
        out.append(Degradation("blur", level, f"blur K={k} σ={s:g}", lambda im, rng, k=k, s=s: gaussian_blur(im, k, s)))
    for level in levels:
        q = JPEG_QUALITIES[level - 1]
        out.append(Degradation("jpeg", level, f"JPEG QF {q}", lambda im, rng, q=q: jpeg(im, q)))
    return out


KINDS = ("noise", "blur", "jpeg")
