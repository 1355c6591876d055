"""Where the artefact detector looks: the face crop it scores, in one of two geometries (``ArtifactConfig.crop``).

- ``aligned``: a similarity warp of the 5 landmarks onto the ArcFace template (rotation, scale, sub-pixel shift).
  Every pixel is interpolated, which blurs away the fine resampling and compression traces a forgery leaves.
- ``native``: a square window on the photo's own pixel grid, centred on the face, with an integer offset and no
  rotation. The window is rescaled only when the face's inter-ocular distance is more than ``max_rescale`` away from
  the training scale ``iod`` (area interpolation when shrinking); at the training scale the crop is an exact copy
  of the photo's pixels, so the detector sees the face's texture, resampling and JPEG-grid statistics as they are.

:func:`face_crop` returns the crop and the 2×3 matrix that maps photo coordinates into it (for landmarks and masks).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..faces.align import estimate_norm
from .config import ArtifactConfig

CROP_MODES = ("aligned", "native")


def native_window(landmarks: np.ndarray, config: ArtifactConfig) -> tuple[int, int, int]:
    """``(x0, y0, side)``: the native window's top-left corner and side in photo pixels for these 5 landmarks."""
    lm = np.asarray(landmarks, np.float64).reshape(5, 2)
    distance = float(np.linalg.norm(lm[1] - lm[0]))
    if not np.isfinite(distance) or distance < 1.0:
        raise ValueError("landmarks are degenerate: the eyes coincide")
    scale = config.iod / distance
    if 1.0 / config.max_rescale <= scale <= config.max_rescale:
        scale = 1.0
    side = int(np.ceil(config.size / scale - 1e-9))
    centre = 0.5 * (lm[:2].mean(0) + lm[3:].mean(0))  # between the eyes' and the mouth's midpoints
    x0, y0 = np.floor(centre - side / 2.0).astype(int)
    return int(x0), int(y0), side


def crop_matrix(landmarks: np.ndarray, config: ArtifactConfig) -> np.ndarray:
    """The 2×3 photo → crop matrix of ``config``'s crop geometry."""
    if config.crop == "aligned":
        return estimate_norm(landmarks, config.size, config.margin)
    if config.crop == "native":
        x0, y0, side = native_window(landmarks, config)
        s = config.size / side
        return np.array([[s, 0.0, -x0 * s], [0.0, s, -y0 * s]])
    raise ValueError(f"unknown crop mode {config.crop!r}; choose one of: {', '.join(CROP_MODES)}")


def face_crop(image: np.ndarray, landmarks: np.ndarray, config: ArtifactConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(crop, matrix)``: the ``size``×``size`` crop of the face and the photo → crop matrix."""
    matrix = crop_matrix(landmarks, config)
    size = config.size
    if config.crop == "aligned":
        crop = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        return crop, matrix
    x0, y0, side = native_window(landmarks, config)
    crop = window(image, x0, y0, side)
    if side != size:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_LINEAR)
    return crop, matrix


def window(image: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """``image[y0:y0+side, x0:x0+side]``, reflected where the window leaves the photo."""
    ih, iw = image.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + side, iw), min(y0 + side, ih)
    if cx0 >= cx1 or cy0 >= cy1:
        raise ValueError("the face window lies outside the image")
    part = image[cy0:cy1, cx0:cx1]
    top, bottom, left, right = cy0 - y0, y0 + side - cy1, cx0 - x0, x0 + side - cx1
    if top or bottom or left or right:
        # reflect as far as the photo allows, then replicate (tiny photos with huge windows)
        h, w = part.shape[:2]
        r = (min(top, h - 1), min(bottom, h - 1), min(left, w - 1), min(right, w - 1))
        if any(r):
            part = cv2.copyMakeBorder(part, *r, cv2.BORDER_REFLECT_101)
        rest = (top - r[0], bottom - r[1], left - r[2], right - r[3])
        if any(rest):
            part = cv2.copyMakeBorder(part, *rest, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(part)
