"""Face swap: the source's (VIP's) face warped onto the target photo's face geometry and blended in.

``swap`` puts the VIP's face into another person's photo; ``selfswap`` runs the same code on two photos of the
VIP, so identity is unchanged and only warping and blending traces remain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..faces import region_indices, region_mask
from .base import FORGERS, ForgeError, ForgeInput, ForgeResult
from .warp import (
    alpha_blend, erode, face_size, feather_alpha, match_colour, mesh_points, piecewise_affine, poisson_blend,
    similarity_matrix, transform_points,
)

BLENDS = ("poisson", "feather")


def choose_blend(blend: str, rng: np.random.Generator) -> str:
    """``blend`` itself, or one of :data:`BLENDS` drawn with ``rng`` when it is ``'random'``."""
    if blend == "random":
        return str(BLENDS[int(rng.integers(len(BLENDS)))])
    if blend not in BLENDS:
        raise ForgeError(f"unknown blend {blend!r}; choose one of: {', '.join((*BLENDS, 'random'))}")
    return blend


def swap_geometry(src_pts: np.ndarray, tgt_pts: np.ndarray, geometry: float) -> np.ndarray:
    """Where the source's mesh points go in the target photo: the target's face oval, with the inner points
    moved ``geometry`` of the way (0–1) toward the source's own inner shape (similarity-aligned)."""
    if geometry <= 0.0:
        return tgt_pts.copy()
    aligned = transform_points(similarity_matrix(src_pts, tgt_pts), src_pts)
    inner = np.ones(len(tgt_pts), bool)
    inner[list(region_indices()["outline"])] = False
    dst = tgt_pts.copy()
    dst[inner] = (1.0 - geometry) * tgt_pts[inner] + geometry * aligned[inner]
    return dst


def warp_source_face(source: ForgeInput, target: ForgeInput,
                     geometry: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The source photo warped onto the target's mesh geometry (see :func:`swap_geometry`):
    ``(warped, valid mask, destination points)``."""
    src_pts = mesh_points(source, "source")
    dst_pts = swap_geometry(src_pts, mesh_points(target, "target"), geometry)
    warped, valid = piecewise_affine(source.image, src_pts, dst_pts, target.image.shape)
    return warped, valid, dst_pts


@dataclass(frozen=True, slots=True)
class FaceSwap:
    """Whole-face swap (the face oval); ``blend`` is ``'poisson'``, ``'feather'`` or ``'random'`` (per seed).

    ``geometry`` (0–1) is how much of the source's inner face shape is kept (see :func:`swap_geometry`);
    ``None`` draws it per seed from [0.5, 0.9]. More source shape carries more of the source's identity.
    """

    name: str = "swap"
    blend: str = "random"
    colour: bool = True
    geometry: float | None = None

    def forge(self, source: ForgeInput, target: ForgeInput, rng: np.random.Generator) -> ForgeResult:
        blend = choose_blend(self.blend, rng)
        geometry = float(rng.uniform(0.5, 0.9)) if self.geometry is None else float(self.geometry)
        warped, valid, dst_pts = warp_source_face(source, target, geometry)
        oval = region_mask(dst_pts, "face", target.image.shape) & valid
        size = face_size(oval)
        mask = erode(oval, max(int(round(size * 0.02)), 1))
        if np.count_nonzero(mask) < 64:
            raise ForgeError(f"target face too small to swap ({target.path or 'image'})")
        if self.colour:
            warped = match_colour(warped, target.image, mask)
        params: dict[str, Any] = {"blend": blend, "colour": self.colour, "geometry": round(geometry, 4)}
        if blend == "poisson":
            image = poisson_blend(warped, target.image, mask)
        else:
            width = int(round(size * float(rng.uniform(0.06, 0.14))))
            params["feather"] = width
            image = alpha_blend(warped, target.image, feather_alpha(mask, width))
        return ForgeResult(image=image, mask=mask, method=self.name, params=params,
                           source=source.path, target=target.path)


@FORGERS.register("swap")
def make_swap(blend: str = "random", colour: bool = True, geometry: float | None = None) -> FaceSwap:
    """The VIP's whole face into another person's photo."""
    return FaceSwap("swap", blend, colour, geometry)


@FORGERS.register("selfswap")
def make_selfswap(blend: str = "random", colour: bool = True, geometry: float | None = None) -> FaceSwap:
    """The VIP's face onto another photo of the VIP (pass two photos of the same person)."""
    return FaceSwap("selfswap", blend, colour, geometry)
