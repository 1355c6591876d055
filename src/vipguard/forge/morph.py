"""Landmark morph: a face halfway (or further) between the source (VIP) and the target person.

The source mesh is similarity-aligned into the target photo, the two meshes are averaged at ``ratio``
(higher = more source), both faces are warped to that geometry and cross-dissolved, and the result is
feathered into the target photo. The target's surroundings are warped with an anchor ring, so the changed
face shape joins the untouched scene without a seam.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..faces import region_mask
from .base import FORGERS, ForgeError, ForgeInput, ForgeResult
from .warp import (
    alpha_blend, anchor_ring, erode, face_size, feather_alpha, match_colour, mesh_points, piecewise_affine,
    similarity_matrix, transform_points,
)

MIN_RATIO, MAX_RATIO = 0.5, 0.9


@dataclass(frozen=True, slots=True)
class Morph:
    """Morph at ``ratio`` in [0.5, 0.9]; ``None`` draws it per seed from that range."""

    ratio: float | None = 0.5
    name: str = "morph"

    def __post_init__(self) -> None:
        if self.ratio is not None and not MIN_RATIO <= self.ratio <= MAX_RATIO:
            raise ForgeError(f"morph ratio {self.ratio} is outside [{MIN_RATIO}, {MAX_RATIO}]")

    def forge(self, source: ForgeInput, target: ForgeInput, rng: np.random.Generator) -> ForgeResult:
        ratio = float(rng.uniform(MIN_RATIO, MAX_RATIO)) if self.ratio is None else float(self.ratio)
        src_pts = mesh_points(source, "source")
        tgt_pts = mesh_points(target, "target")
        shape = target.image.shape
        aligned_src = transform_points(similarity_matrix(src_pts, tgt_pts), src_pts)
        mid = (1.0 - ratio) * tgt_pts + ratio * aligned_src
        ring = anchor_ring(np.concatenate([tgt_pts, mid]), shape)
        scene, scene_valid = piecewise_affine(target.image, np.concatenate([tgt_pts, ring]),
                                              np.concatenate([mid, ring]), shape)
        face, face_valid = piecewise_affine(source.image, src_pts, mid, shape)
        oval = region_mask(mid, "face", shape) & face_valid & scene_valid
        size = face_size(oval)
        mask = erode(oval, max(int(round(size * 0.02)), 1))
        if np.count_nonzero(mask) < 64:
            raise ForgeError(f"morphed face too small ({target.path or 'image'})")
        face = match_colour(face, scene, mask)
        dissolved = alpha_blend(face, scene, np.full(shape[:2], ratio, np.float32))
        width = int(round(size * float(rng.uniform(0.08, 0.16))))
        morphed = alpha_blend(dissolved, scene, feather_alpha(mask, width))
        image = target.image.copy()
        image[scene_valid > 0] = morphed[scene_valid > 0]
        params = {"ratio": round(ratio, 4), "feather": width}
        return ForgeResult(image=image, mask=scene_valid, method=self.name, params=params,
                           source=source.path, target=target.path)


@FORGERS.register("morph")
def make_morph(ratio: float | None = 0.5) -> Morph:
    """A morph of the VIP and another person at ``ratio`` (higher = more VIP; ``None`` = random per seed)."""
    return Morph(ratio)
