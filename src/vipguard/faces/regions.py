"""Named facial regions as MediaPipe mesh index sets, and their masks.

Regions (as in the paper's partial swaps): ``eyes`` (both eyes and brows), ``nose``, ``mouth``, ``inner``
(the inner face without the outline), ``outline`` (the face oval ring). Index sets come from MediaPipe's own
connection lists, so they follow the model they describe.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

REGIONS = ("eyes", "nose", "mouth", "inner", "outline")


def _indices(connections: list) -> tuple[int, ...]:
    return tuple(sorted({c.start for c in connections} | {c.end for c in connections}))


@cache
def region_indices() -> dict[str, tuple[int, ...]]:
    """``{region: mesh point indices}`` for the named regions and their parts."""
    from mediapipe.tasks.python.vision import FaceLandmarksConnections as C

    left = _indices(C.FACE_LANDMARKS_LEFT_EYE + C.FACE_LANDMARKS_LEFT_EYEBROW)
    right = _indices(C.FACE_LANDMARKS_RIGHT_EYE + C.FACE_LANDMARKS_RIGHT_EYEBROW)
    nose = _indices(C.FACE_LANDMARKS_NOSE)
    mouth = _indices(C.FACE_LANDMARKS_LIPS)
    oval = _indices(C.FACE_LANDMARKS_FACE_OVAL)
    inner = tuple(sorted(set(left) | set(right) | set(nose) | set(mouth)))
    return {"eyes": tuple(sorted(set(left) | set(right))), "left_eye": left, "right_eye": right,
            "nose": nose, "mouth": mouth, "inner": inner, "outline": oval}


def _hull_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    hull = cv2.convexHull(np.round(points[:, :2]).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255)
    return mask


def region_mask(points: np.ndarray, region: str, shape: tuple[int, ...], dilate: int = 0) -> np.ndarray:
    """uint8 mask (0/255) of ``region`` for mesh ``points`` (478, ≥2) on an image of ``shape``.

    ``eyes`` is the union of two hulls (left, right); ``outline`` is the face oval minus the inner face hull;
    ``inner`` is the hull of eyes+brows, nose and mouth; ``face`` is the whole oval.
    """
    hw = tuple(shape[:2])
    idx = region_indices()
    pts = np.asarray(points, np.float32)
    if region == "eyes":
        mask = _hull_mask(pts[list(idx["left_eye"])], hw) | _hull_mask(pts[list(idx["right_eye"])], hw)
    elif region == "outline":
        mask = cv2.subtract(_hull_mask(pts[list(idx["outline"])], hw), _hull_mask(pts[list(idx["inner"])], hw))
    elif region == "face":
        mask = _hull_mask(pts[list(idx["outline"])], hw)
    elif region in idx:
        mask = _hull_mask(pts[list(idx[region])], hw)
    else:
        raise KeyError(f"unknown region {region!r}; choose one of: {', '.join((*REGIONS, 'face'))}")
    if dilate > 0:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1)))
    return mask
