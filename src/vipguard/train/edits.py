"""Pseudo-fakes of identity-passing edits, made from real photos only, as self-blends are (#35).

Three families, each a :class:`~.sbi.SelfBlend` (image, soft mask M, boundary 4·M·(1−M), ratio, ``family:kind``):

- ``part``: a self-blend inside one small region (the mouth, one or both eyes, the nose), with a feathered or a
  hard edge. The pasted pixels are either a transformed copy of the face itself (SBI) or, where the identity has
  another photo, that photo's aligned crop colour-matched to this one (what lip-sync and local pastes leave).
- ``ghost``: the face cross-dissolved at 10–40 % with a slightly shifted, rotated and scaled copy of itself or with
  another aligned photo of the same person: the double contours of a morph, without any identity change.
- ``geometry``: one feature (eyes, nose, mouth, jaw) moved or resized by a smooth liquify field
  (:func:`vipguard.forge.warp.liquify`), nothing blended in; M is the field's falloff, so the boundary target is the
  ring where the warp fades out.

Every function is pure and draws from the :class:`numpy.random.Generator` it is given. Crops and geometry are in
the crop frame (:mod:`.artifact_data`). A family's views never contain a ``vipguard.forge`` output.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..forge.warp import liquify, match_colour
from .sbi import SelfBlend, _fill, affine_jitter, boundary_target, compose, ellipse_mask, source_transform

FAMILIES = ("part", "ghost", "geometry")
PART_REGIONS = ("mouth", "mouth", "eyes", "left_eye", "right_eye", "nose")  # the mouth twice: lip-sync is common
GEOMETRY_FEATURES = ("eyes", "nose", "mouth", "jaw")
GHOST_RATIOS = (0.1, 0.4)


def _region_points(points: np.ndarray | None, landmarks: np.ndarray, region: str) -> np.ndarray:
    """The mesh points of ``region`` or, without a mesh, a small ring around its landmark(s)."""
    from ..forge.selfedit import feature_points

    if points is not None and np.all(np.isfinite(points)):
        return feature_points(points, region)
    lm = np.asarray(landmarks, np.float64).reshape(5, 2)
    eye = float(np.linalg.norm(lm[1] - lm[0]))
    centres = {"left_eye": lm[:1], "right_eye": lm[1:2], "eyes": lm[:2], "nose": lm[2:3], "mouth": lm[3:],
               "jaw": lm[3:] + [0.0, 0.45 * eye]}[region]
    ring = 0.28 * eye * np.stack([np.cos(np.linspace(0, 2 * np.pi, 12)), np.sin(np.linspace(0, 2 * np.pi, 12))], 1)
    return np.concatenate([c + ring for c in centres])


def part_blend(image: np.ndarray, landmarks: np.ndarray, points: np.ndarray | None, rng: np.random.Generator,
               other: np.ndarray | None = None) -> SelfBlend:
    """One small region blended from a transformed copy of ``image`` or (half the time, when given) from
    ``other``, another aligned crop of the same person."""
    h, w = image.shape[:2]
    region = str(PART_REGIONS[int(rng.integers(len(PART_REGIONS)))])
    hull = _fill(_region_points(points, landmarks, region), (h, w))
    grow = max(1, int(round(rng.uniform(0.02, 0.06) * w)))
    hull = cv2.dilate(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    if rng.random() < 0.3:  # a hard edge (a pasted patch), anti-aliased only
        mask = cv2.GaussianBlur(hull.astype(np.float32) / 255.0, (0, 0), 0.7)
    else:
        mask = cv2.GaussianBlur(hull.astype(np.float32) / 255.0, (0, 0), rng.uniform(0.01, 0.04) * w)
    mask = np.clip(mask / max(float(mask.max()), 1e-6), 0.0, 1.0).astype(np.float32)
    if other is not None and rng.random() < 0.5:
        source = match_colour(affine_jitter(other, rng), image, hull)
    else:
        source = source_transform(image, rng)
    return compose(source, image, mask, rng, f"part:{region}")


def ghost_blend(image: np.ndarray, landmarks: np.ndarray, points: np.ndarray | None, rng: np.random.Generator,
                other: np.ndarray | None = None) -> SelfBlend:
    """``image`` cross-dissolved at 10–40 % inside its (softly edged) face with a shifted copy of itself or with
    ``other`` (when given, half the time)."""
    h, w = image.shape[:2]
    copy = other if other is not None and rng.random() < 0.5 else image
    copy = affine_jitter(copy, rng, shift=0.04)
    if points is not None and np.all(np.isfinite(points)):
        from ..faces.regions import region_indices

        hull = _fill(points[list(region_indices()["outline"])], (h, w))
    else:
        hull = ellipse_mask(landmarks, (h, w))
    mask = cv2.GaussianBlur(hull.astype(np.float32) / 255.0, (0, 0), rng.uniform(0.03, 0.08) * w)
    mask = np.clip(mask / max(float(mask.max()), 1e-6), 0.0, 1.0).astype(np.float32)
    ratio = float(rng.uniform(*GHOST_RATIOS))
    m = (mask * ratio)[..., None]
    out = copy.astype(np.float32) * m + image.astype(np.float32) * (1.0 - m)
    blended = np.clip(np.round(out), 0, 255).astype(np.uint8)
    return SelfBlend(image=blended, mask=mask, boundary=boundary_target(mask), ratio=ratio, hull="ghost")


def geometry_warp(image: np.ndarray, landmarks: np.ndarray, points: np.ndarray | None,
                  rng: np.random.Generator) -> SelfBlend:
    """One feature moved or resized by a liquify field (the ``reshape`` edit's, drawn the same way); no blend."""
    from ..forge.selfedit import FALLOFF, SCALES, SHIFT

    feature = str(GEOMETRY_FEATURES[int(rng.integers(len(GEOMETRY_FEATURES)))])
    feat = _region_points(points, landmarks, feature)
    centre = feat.mean(axis=0)
    radius = max(float(np.sqrt(((feat - centre) ** 2).sum(axis=1).mean())), 2.0)
    low, high = SCALES[int(rng.integers(len(SCALES)))]
    scale = float(rng.uniform(low, high))
    lm = np.asarray(landmarks, np.float64).reshape(5, 2)
    span = 2.0 * float(np.linalg.norm(lm[1] - lm[0]))  # about the face's width, as the forger's mesh span
    shift = rng.uniform(-1.0, 1.0, 2) * SHIFT * span
    warped, weight, _ = liquify(image, centre, radius * FALLOFF, scale, shift,
                                below=centre[1] - radius if feature == "jaw" else None)
    return SelfBlend(image=warped, mask=weight, boundary=boundary_target(weight), ratio=1.0,
                     hull=f"geometry:{feature}")


def family_view(family: str, image: np.ndarray, landmarks: np.ndarray, points: np.ndarray | None,
                rng: np.random.Generator, other: np.ndarray | None = None) -> SelfBlend:
    """A pseudo-fake of ``family`` (one of :data:`FAMILIES`)."""
    if family == "part":
        return part_blend(image, landmarks, points, rng, other)
    if family == "ghost":
        return ghost_blend(image, landmarks, points, rng, other)
    if family == "geometry":
        return geometry_warp(image, landmarks, points, rng)
    raise ValueError(f"unknown edit family {family!r}; choose one of {', '.join(FAMILIES)}")
