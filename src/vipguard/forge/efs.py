"""Entire-face synthesis (EFS) proxy: a whole new photo that keeps most of the VIP's identity, with no blend seam
and no JPEG history.

Identity-conditioned generators (Arc2Face, PuLID, InstantID) render a complete image from an identity embedding;
we cannot run them here, so this stands in for them. The VIP (``source``) and another person (``target``, in use
a look-alike) are morphed over the FULL frame at ``ratio`` (the VIP's share, 0.7–0.9): the source mesh is
similarity-aligned to the target's, the meshes are averaged, both whole photos are warped to that geometry (mesh
points, an anchor ring and the frame's border points as anchors, so every pixel is defined and there is no mask
edge), the source is colour-matched to the target over the face and the two frames are cross-dissolved
everywhere (the target alone where the aligned source photo has no pixels). The result is then re-rendered as a
decoder would: downscaled, denoised, upscaled back with a drawn interpolation and mildly sharpened, which erases
the 8×8 JPEG grid and the sensor noise of both photos. No JPEG is written here.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..faces import region_mask
from .base import FORGERS, ForgeError, ForgeInput, ForgeResult
from .warp import (
    alpha_blend, anchor_ring, face_size, feather_alpha, frame_points, match_colour, mesh_points, piecewise_affine,
    similarity_matrix, transform_points,
)

MIN_RATIO, MAX_RATIO = 0.7, 0.9
SCALES = (0.35, 0.6)  # the decoder's working resolution, as a share of each side
DENOISE = (3.0, 7.0)  # cv2.fastNlMeansDenoisingColored filter strength h (luminance and colour)
SHARPEN = (0.0, 0.5)  # unsharp-mask amount (0 = none)
INTERPOLATIONS = {"cubic": cv2.INTER_CUBIC, "lanczos4": cv2.INTER_LANCZOS4}
EDGE_FEATHER = 0.04  # where the aligned source photo ends: its weight ramps over this share of the face size


def rerender(image: np.ndarray, scale: float, denoise: float, interpolation: int, sharpen: float) -> np.ndarray:
    """``image`` as a generator's decoder would give it: resized to ``scale`` of each side (area averaging),
    denoised with strength ``denoise``, resized back with ``interpolation`` and unsharp-masked by ``sharpen``."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    small = cv2.fastNlMeansDenoisingColored(small, None, denoise, denoise, 3, 7)
    out = cv2.resize(small, (w, h), interpolation=interpolation)
    if sharpen <= 0.0:
        return out
    blurred = cv2.GaussianBlur(out, (0, 0), 1.0)
    return cv2.addWeighted(out, 1.0 + sharpen, blurred, -sharpen, 0.0)


@dataclass(frozen=True, slots=True)
class EntireFaceSynthesis:
    """EFS proxy at ``ratio`` (the VIP's share) in [0.7, 0.9]; ``None`` draws it per seed from that range."""

    ratio: float | None = None
    name: str = "efs"

    def __post_init__(self) -> None:
        if self.ratio is not None and not MIN_RATIO <= self.ratio <= MAX_RATIO:
            raise ForgeError(f"efs ratio {self.ratio} is outside [{MIN_RATIO}, {MAX_RATIO}]")

    def forge(self, source: ForgeInput, target: ForgeInput, rng: np.random.Generator) -> ForgeResult:
        ratio = float(rng.uniform(MIN_RATIO, MAX_RATIO)) if self.ratio is None else float(self.ratio)
        scale = float(rng.uniform(*SCALES))
        denoise = float(rng.uniform(*DENOISE))
        interpolation = str(list(INTERPOLATIONS)[int(rng.integers(len(INTERPOLATIONS)))])
        sharpen = float(rng.uniform(*SHARPEN))
        src_pts = mesh_points(source, "source")
        tgt_pts = mesh_points(target, "target")
        shape = target.image.shape
        to_target = similarity_matrix(src_pts, tgt_pts)
        mid = (1.0 - ratio) * tgt_pts + ratio * transform_points(to_target, src_pts)
        anchors = np.concatenate([anchor_ring(np.concatenate([tgt_pts, mid]), shape), frame_points(shape)])
        scene, scene_valid = piecewise_affine(target.image, np.concatenate([tgt_pts, anchors]),
                                              np.concatenate([mid, anchors]), shape)
        # the source photo's own frame, carried along by an opaque channel read as zero outside the photo
        opaque = np.dstack([source.image, np.full(source.image.shape[:2], 255, np.uint8)])
        to_source = transform_points(cv2.invertAffineTransform(to_target), anchors)
        warped, _ = piecewise_affine(opaque, np.concatenate([src_pts, to_source]), np.concatenate([mid, anchors]),
                                     shape, border_mode=cv2.BORDER_CONSTANT)
        face, inside = np.ascontiguousarray(warped[..., :3]), np.where(warped[..., 3] >= 128, 255, 0).astype(np.uint8)
        oval = region_mask(mid, "face", shape) & inside & scene_valid
        if np.count_nonzero(oval) < 64:
            raise ForgeError(f"synthesised face too small ({target.path or 'image'})")
        face = match_colour(face, scene, oval)
        weight = ratio * feather_alpha(inside, max(int(round(face_size(oval) * EDGE_FEATHER)), 2))
        dissolved = np.where(scene_valid[..., None] > 0, alpha_blend(face, scene, weight), target.image)
        image = rerender(dissolved, scale, denoise, INTERPOLATIONS[interpolation], sharpen)
        params = {"ratio": round(ratio, 4), "scale": round(scale, 4), "denoise": round(denoise, 3),
                  "interpolation": interpolation, "sharpen": round(sharpen, 3)}
        return ForgeResult(image=image, mask=np.full(shape[:2], 255, np.uint8), method=self.name, params=params,
                           source=source.path, target=target.path)


@FORGERS.register("efs")
def make_efs(ratio: float | None = None) -> EntireFaceSynthesis:
    """A whole new photo keeping ``ratio`` of the VIP's identity (0.7–0.9; ``None`` = random per seed)."""
    return EntireFaceSynthesis(ratio)
