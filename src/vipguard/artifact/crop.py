"""Where the artefact detector looks: the face crop it scores, in one of two geometries.

- ``aligned``: a similarity warp of the 5 landmarks onto the ArcFace template (rotation, scale, sub-pixel shift).
  Every pixel is interpolated, which blurs away the fine resampling and compression traces a forgery leaves.
- ``native``: a square window on the photo's own pixel grid, centred on the face, with an integer offset and no
  rotation. The image is rescaled only when the face's inter-ocular distance is more than ``max_rescale`` away from
  the training scale ``iod`` (area interpolation when shrinking); at the training scale the crop is an exact copy
  of the photo's pixels, so the detector sees the face's texture, resampling and JPEG-grid statistics as they are.

Both return the crop and the 2×3 matrix that maps photo coordinates into it (for landmarks and masks).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..faces.align import estimate_norm

CROP_MODES = ("aligned", "native")


def native_matrix(landmarks: np.ndarray, size: int, iod: float, max_rescale: float) -> np.ndarray:
    """2×3 matrix (uniform scale + integer translation) of the native window for these 5 landmarks."""
    lm = np.asarray(landmarks, np.float64).reshape(5, 2)
    distance = float(np.linalg.norm(lm[1] - lm[0]))
    if not np.isfinite(distance) or distance < 1.0:
        raise ValueError("landmarks are degenerate: the eyes coincide")
    scale = iod / distance
    if 1.0 / max_rescale <= scale <= max_rescale:
        scale = 1.0
    centre = 0.5 * (lm[:2].mean(0) + lm[3:].mean(0))  # between the eyes' and the mouth's midpoints
    side = size / scale  # window side in photo pixels
    x0, y0 = np.floor(centre - side / 2.0)
    return np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale]])


def crop_matrix(landmarks: np.ndarray, mode: str, size: int, margin: float, iod: float,
                max_rescale: float) -> np.ndarray:
    """The photo → crop matrix for ``mode`` (see the module docstring)."""
    if mode == "aligned":
        return estimate_norm(landmarks, size, margin)
    if mode == "native":
        return native_matrix(landmarks, size, iod, max_rescale)
    raise ValueError(f"unknown crop mode {mode!r}; choose one of: {', '.join(CROP_MODES)}")


def apply_crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The ``size``×``size`` crop of ``image`` under ``matrix`` (reflected at the photo's borders).

    A pure integer shift copies pixels exactly; a shrink uses area interpolation (no aliasing); anything else
    (rotation, enlargement) is bilinear.
    """
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    shift_only = abs(matrix[0, 1]) < 1e-12 and abs(matrix[1, 0]) < 1e-12 and abs(matrix[0, 0] - matrix[1, 1]) < 1e-12
    if shift_only and abs(scale - 1.0) < 1e-12 and np.allclose(matrix[:, 2], np.round(matrix[:, 2])):
        return _window(image, int(round(-matrix[0, 2])), int(round(-matrix[1, 2])), size, size)
    if shift_only and scale < 1.0:
        side = int(np.ceil(size / scale))
        x0, y0 = int(np.floor(-matrix[0, 2] / scale)), int(np.floor(-matrix[1, 2] / scale))
        return cv2.resize(_window(image, x0, y0, side, side), (size, size), interpolation=cv2.INTER_AREA)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _window(image: np.ndarray, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """``image[y0:y0+h, x0:x0+w]``, reflected where the window leaves the photo."""
    ih, iw = image.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + w, iw), min(y0 + h, ih)
    if cx0 >= cx1 or cy0 >= cy1:
        raise ValueError("the face window lies outside the image")
    part = image[cy0:cy1, cx0:cx1]
    pads = (cy0 - y0, y0 + h - cy1, cx0 - x0, x0 + w - cx1)
    if any(pads):
        # reflect as far as the photo allows, then replicate (tiny photos with huge windows)
        top, bottom, left, right = pads
        r = [min(top, part.shape[0] - 1), min(bottom, part.shape[0] - 1),
             min(left, part.shape[1] - 1), min(right, part.shape[1] - 1)]
        part = cv2.copyMakeBorder(part, *r, cv2.BORDER_REFLECT_101) if any(r) else part
        rest = (top - r[0], bottom - r[1], left - r[2], right - r[3])
        if any(rest):
            part = cv2.copyMakeBorder(part, *rest, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(part)
