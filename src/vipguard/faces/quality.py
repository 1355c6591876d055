"""Face quality measures: size, sharpness (variance of the Laplacian), pose."""

from __future__ import annotations

import cv2
import numpy as np

from .types import Detection, Pose, Quality


def sharpness(aligned: np.ndarray) -> float:
    """Variance of the Laplacian of the grey aligned crop (higher is sharper)."""
    grey = cv2.cvtColor(np.asarray(aligned, np.uint8), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


NOISE_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)  # Immerkær's: zero on planes and ramps


def noise_level(crop: np.ndarray) -> float:
    """Immerkær's estimate of the standard deviation of white noise in the grey crop (grey levels): the mean
    absolute response to a Laplacian-difference mask that cancels smooth image structure. Clean LFW faces read
    0.3–1.5 on the artefact detector's crop, the same under sensor-like noise of σ 8 about 5.5."""
    grey = cv2.cvtColor(np.asarray(crop, np.uint8), cv2.COLOR_RGB2GRAY)
    if min(grey.shape) < 3:
        return 0.0
    response = cv2.filter2D(grey, cv2.CV_32F, NOISE_MASK)[1:-1, 1:-1]  # ~0.3 ms on a 128² crop, one core
    return float(np.sqrt(np.pi / 2) * cv2.norm(response, cv2.NORM_L1) / response.size / 6)


def measure(detection: Detection, aligned: np.ndarray, pose: Pose | None) -> Quality:
    return Quality(face_size=float(min(detection.width, detection.height)), blur=sharpness(aligned), pose=pose)


def primary_index(detections: list[Detection], shape: tuple[int, ...]) -> int:
    """Index of the dominant face: large and near the image centre (LFW-style photos centre their subject)."""
    h, w = shape[:2]
    centre = np.array([w / 2, h / 2])
    diag = float(np.hypot(w, h))

    def weight(d: Detection) -> float:
        c = np.array([(d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2])
        return d.area * (1.0 - min(1.0, float(np.linalg.norm(c - centre)) / (0.5 * diag))) ** 2

    return int(np.argmax([weight(d) for d in detections]))
