"""Face alignment: a similarity transform of the 5 landmarks onto the ArcFace template (insightface style)."""

from __future__ import annotations

import cv2
import numpy as np

ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def template(size: int = 112, margin: float = 0.0) -> np.ndarray:
    """The ArcFace 5-point template scaled to a ``size`` crop; ``margin`` > 0 zooms out (fraction of size)."""
    base = ARCFACE_TEMPLATE / 112.0
    if margin:
        base = (base - 0.5) / (1.0 + 2.0 * margin) + 0.5
    return (base * size).astype(np.float32)


def estimate_norm(landmarks: np.ndarray, size: int = 112, margin: float = 0.0) -> np.ndarray:
    """2×3 similarity matrix mapping the 5 landmarks onto the template for a ``size`` crop."""
    return similarity_transform(np.asarray(landmarks, dtype=np.float64).reshape(5, 2), template(size, margin))


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) from ``src`` to ``dst`` (Umeyama 1991)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c**2).sum() / len(src)
    if src_var < 1e-12:
        raise ValueError("landmarks are degenerate; no similarity transform exists")
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0
    rot = u @ np.diag(d) @ vt
    scale = (s * d).sum() / src_var
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = dst_mean - scale * rot @ src_mean
    return matrix


def norm_crop(image: np.ndarray, landmarks: np.ndarray, size: int = 112, margin: float = 0.0) -> np.ndarray:
    """Aligned ``size``×``size`` crop of the face (``margin`` > 0 for a wider crop that keeps the outline)."""
    matrix = estimate_norm(landmarks, size, margin)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2×3 affine matrix to (N, 2) points."""
    pts = np.asarray(points, dtype=np.float64)[:, :2]
    return pts @ matrix[:, :2].T + matrix[:, 2]
