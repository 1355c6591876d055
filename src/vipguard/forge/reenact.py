"""Reenactment: the VIP's own photo warped to another face's expression and pose landmarks.

The target mesh is similarity-aligned onto the source face, and the source photo is warped piecewise-affinely
from its own mesh to that (blended by ``strength``) with an anchor ring around the face, so the output keeps the
source's photo frame and only the face's shape moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import FORGERS, ForgeError, ForgeInput, ForgeResult
from .warp import anchor_ring, mesh_points, piecewise_affine, similarity_matrix, transform_points

MIN_STRENGTH, MAX_STRENGTH = 0.8, 1.0


@dataclass(frozen=True, slots=True)
class Reenact:
    """Drive the source face with the target's landmarks; ``strength`` in (0, 1] (``None``: random per seed)."""

    strength: float | None = None
    name: str = "reenact"

    def __post_init__(self) -> None:
        if self.strength is not None and not 0.0 < self.strength <= 1.0:
            raise ForgeError(f"reenact strength {self.strength} is outside (0, 1]")

    def forge(self, source: ForgeInput, target: ForgeInput, rng: np.random.Generator) -> ForgeResult:
        strength = (float(rng.uniform(MIN_STRENGTH, MAX_STRENGTH)) if self.strength is None
                    else float(self.strength))
        src_pts = mesh_points(source, "source")
        tgt_pts = mesh_points(target, "target")
        shape = source.image.shape
        driven = transform_points(similarity_matrix(tgt_pts, src_pts), tgt_pts)
        dst_pts = src_pts + strength * (driven - src_pts)
        ring = anchor_ring(np.concatenate([src_pts, dst_pts]), shape)
        warped, valid = piecewise_affine(source.image, np.concatenate([src_pts, ring]),
                                         np.concatenate([dst_pts, ring]), shape)
        image = source.image.copy()
        image[valid > 0] = warped[valid > 0]
        motion = float(np.linalg.norm(dst_pts - src_pts, axis=1).mean())
        params = {"strength": round(strength, 4), "mean_motion_px": round(motion, 2)}
        return ForgeResult(image=image, mask=valid, method=self.name, params=params,
                           source=source.path, target=target.path)


@FORGERS.register("reenact")
def make_reenact(strength: float | None = None) -> Reenact:
    """The VIP's photo with the expression/pose landmarks of another face."""
    return Reenact(strength)
