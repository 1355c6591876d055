"""Image operations shared by enrolment's augmentation, the artefact training's pseudo-fakes and the benchmark's
degradations: one home each, RGB uint8 in and out."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["down_up", "jpeg", "rescale"]


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` re-encoded as JPEG at ``quality`` (0–100) and decoded again."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def down_up(image: np.ndarray, small: tuple[int, int], interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``image`` resized to ``small`` (width, height; area averaging) and back to its own size with
    ``interpolation``: the detail a lower-resolution capture would have lost."""
    h, w = image.shape[:2]
    return cv2.resize(cv2.resize(image, small, interpolation=cv2.INTER_AREA), (w, h), interpolation=interpolation)


def rescale(image: np.ndarray, factor: float, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """:func:`down_up` by ``factor`` of each side (rounded, at least one pixel)."""
    h, w = image.shape[:2]
    return down_up(image, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation)
