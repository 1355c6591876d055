"""Edits of the VIP's own photos that keep the identity whole: a mouth from another photo, a feature reshaped.

``selfmouth`` pastes the mouth of one photo of the VIP into another photo of the VIP (the partial swap's code; the
benchmarks give it such a target, :data:`.base.SELF_TARGET_METHODS`): what lip-sync produces.

``reshape`` is what a "liquify" retouch or a landmark-driven generator does to a face that keeps its identity: the
eyes, the nose, the mouth or the jaw of ``source`` is scaled about its own centre and shifted, the displacement
fading out with a Gaussian of the distance from that centre (:func:`.warp.liquify`), so the rest of the frame stays
where it was. Every output pixel is a
resampled pixel of the source photo: there is no second photo and no blend, hence no seam. ``target`` is not used
(as reenactment keeps its source's frame, so does this).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..faces.regions import region_indices
from .base import FORGERS, ForgeError, ForgeInput, ForgeResult
from .partial import PartialSwap
from .warp import liquify, mesh_points

FEATURES = ("eyes", "nose", "mouth", "jaw")
SCALES = ((0.8, 0.92), (1.08, 1.25))  # shrink or enlarge the feature about its centre, drawn with equal odds
SHIFT = 0.04  # the most the feature's centre moves, as a share of the face's size (inter-ocular span × 2)
FALLOFF = 1.6  # the displacement's Gaussian radius, as a multiple of the feature's own radius


def feature_points(points: np.ndarray, feature: str) -> np.ndarray:
    """The mesh ``points`` of ``feature``: a region of :func:`~vipguard.faces.regions.region_indices`, or ``jaw``
    (the face oval's points below the mesh's median height)."""
    idx = region_indices()
    if feature == "jaw":
        oval = points[list(idx["outline"])]
        return oval[oval[:, 1] > np.median(points[:, 1])]
    return points[list(idx[feature])]


@dataclass(frozen=True, slots=True)
class Reshape:
    """Move or resize ``feature`` (one of :data:`FEATURES`; ``None`` draws one per seed)."""

    feature: str | None = None
    name: str = "reshape"

    def __post_init__(self) -> None:
        if self.feature is not None and self.feature not in FEATURES:
            raise ForgeError(f"reshape feature {self.feature!r} is not one of {', '.join(FEATURES)}")

    def forge(self, source: ForgeInput, target: ForgeInput, rng: np.random.Generator) -> ForgeResult:
        feature = self.feature or str(FEATURES[int(rng.integers(len(FEATURES)))])
        low, high = SCALES[int(rng.integers(len(SCALES)))]
        scale = float(rng.uniform(low, high))
        points = mesh_points(source, "source")
        feat = feature_points(points, feature)
        centre = feat.mean(axis=0)
        radius = float(np.sqrt(((feat - centre) ** 2).sum(axis=1).mean()))
        span = float(np.ptp(points[:, 0]))
        if radius < 2.0 or span < 16.0:
            raise ForgeError(f"face too small to reshape its {feature} ({source.path or 'image'})")
        shift = rng.uniform(-1.0, 1.0, 2) * SHIFT * span
        image, _, motion = liquify(source.image, centre, radius * FALLOFF, scale, shift,
                                   below=centre[1] - radius if feature == "jaw" else None)
        changed = motion > 0.25
        image = np.where(changed[..., None], image, source.image)
        params = {"feature": feature, "scale": round(scale, 4), "shift_px": [round(float(v), 2) for v in shift],
                  "max_motion_px": round(float(motion.max()), 2)}
        return ForgeResult(image=image, mask=np.where(changed, 255, 0).astype(np.uint8), method=self.name,
                           params=params, source=source.path, target=target.path)


@FORGERS.register("selfmouth")
def make_selfmouth(colour: bool = True) -> PartialSwap:
    """The mouth of one photo of the VIP pasted into another photo of the VIP (a lip-sync-like local edit)."""
    return PartialSwap("selfmouth", "mouth", colour)


@FORGERS.register("reshape")
def make_reshape(feature: str | None = None) -> Reshape:
    """The VIP's own photo with one feature (eyes, nose, mouth, jaw) moved or resized; no blend."""
    return Reshape(feature)
