"""Face swap: the source's (VIP's) face warped onto the target photo's face geometry and blended in.

``swap`` puts the VIP's face into another person's photo; ``selfswap`` runs the same code on two photos of the
VIP, so identity is unchanged and only warping and blending traces remain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..faces import region_mask
from .base import FORGERS, ForgeError, ForgeInput, ForgeResult
from .warp import (
    alpha_blend, erode, face_size, feather_alpha, match_colour, mesh_points, piecewise_affine, poisson_blend,
)

BLENDS = ("poisson", "feather")


def choose_blend(blend: str, rng: np.random.Generator) -> str:
    """``blend`` itself, or one of :data:`BLENDS` drawn with ``rng`` when it is ``'random'``."""
    if blend == "random":
        return str(BLENDS[int(rng.integers(len(BLENDS)))])
    if blend not in BLENDS:
        raise ForgeError(f"unknown blend {blend!r}; choose one of: {', '.join((*BLENDS, 'random'))}")
    return blend


def warp_source_face(source: ForgeInput, target: ForgeInput) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The source photo warped onto the target's mesh geometry: ``(warped, valid mask, target points)``."""
    src_pts = mesh_points(source, "source")
    dst_pts = mesh_points(target, "target")
    warped, valid = piecewise_affine(source.image, src_pts, dst_pts, target.image.shape)
    return warped, valid, dst_pts


@dataclass(frozen=True, slots=True)
class FaceSwap:
    """Whole-face swap (the face oval); ``blend`` is ``'poisson'``, ``'feather'`` or ``'random'`` (per seed)."""

    name: str = "swap"
    blend: str = "random"
    colour: bool = True

    def forge(self, source: ForgeInput, target: ForgeInput, rng: np.random.Generator) -> ForgeResult:
        blend = choose_blend(self.blend, rng)
        warped, valid, dst_pts = warp_source_face(source, target)
        oval = region_mask(dst_pts, "face", target.image.shape) & valid
        size = face_size(oval)
        mask = erode(oval, max(int(round(size * 0.02)), 1))
        if np.count_nonzero(mask) < 64:
            raise ForgeError(f"target face too small to swap ({target.path or 'image'})")
        if self.colour:
            warped = match_colour(warped, target.image, mask)
        params: dict[str, Any] = {"blend": blend, "colour": self.colour}
        if blend == "poisson":
            image = poisson_blend(warped, target.image, mask)
        else:
            width = int(round(size * float(rng.uniform(0.06, 0.14))))
            params["feather"] = width
            image = alpha_blend(warped, target.image, feather_alpha(mask, width))
        return ForgeResult(image=image, mask=mask, method=self.name, params=params,
                           source=source.path, target=target.path)


@FORGERS.register("swap")
def make_swap(blend: str = "random", colour: bool = True) -> FaceSwap:
    """The VIP's whole face into another person's photo."""
    return FaceSwap("swap", blend, colour)


@FORGERS.register("selfswap")
def make_selfswap(blend: str = "random", colour: bool = True) -> FaceSwap:
    """The VIP's face onto another photo of the VIP (pass two photos of the same person)."""
    return FaceSwap("selfswap", blend, colour)
