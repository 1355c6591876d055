"""The artefact detector's operating point: its threshold and its sharpness floor (``ArtifactConfig.threshold``,
``ArtifactConfig.min_sharpness``), both chosen on genuine photos only.

:func:`choose_threshold` — the score that at most ``target_fpr`` of genuine validation faces reach in every
condition of :data:`VALIDATION_CONDITIONS` (clean, JPEG 60, 0.5× resize, blur σ 1): the trainer's rule, and
``tools/artifact_gate.py``'s when the detector's input path changes after training (``ArtifactConfig.reencode``).

The threshold is set on genuine validation photos, clean and lightly degraded. Blurred harder, a genuine
face looks blended to it (a blurred face is what a blend's smoothing leaves): at Gaussian blur σ 2 over a quarter of
genuine faces reach the threshold. The floor is the sharpness below which that happens: chosen on genuine photos
only, from their sharpness (``faces.quality.sharpness`` of the crop) and whether each reached the threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import cv2
import numpy as np

from ..infra.imageops import jpeg, rescale

VALIDATION_CONDITIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "clean": lambda im: im,
    "JPEG 60": lambda im: jpeg(im, 60),
    "0.5× resize": lambda im: rescale(im, 0.5),
    "blur σ 1": lambda im: cv2.GaussianBlur(im, (0, 0), 1.0),
}


def choose_threshold(scores: Mapping[str, np.ndarray], target_fpr: float) -> float:
    """The lowest score at which every condition's genuine faces (``scores``: condition → scores) reach it at most
    at ``target_fpr``: the largest of their (1 − ``target_fpr``) quantiles; 0.5 with no scores."""
    if not 0.0 < target_fpr < 0.5:
        raise ValueError(f"target_fpr must lie in (0, 0.5); got {target_fpr}")
    quantiles = [float(np.quantile(np.asarray(v, np.float64), 1.0 - target_fpr)) for v in scores.values() if len(v)]
    return max(quantiles) if quantiles else 0.5


def choose_min_sharpness(sharpness: np.ndarray, false_alarm: np.ndarray, max_fpr: float = 0.03,
                         ratio: float = 2 ** (1 / 3), min_count: int = 30) -> float | None:
    """The lowest sharpness from which the false-alarm rate stays at or below ``max_fpr`` in every band above it.

    Bands are geometric (each ``ratio`` times the last, from 1); bands with fewer than ``min_count`` faces are not
    read. Returns the lower edge of the lowest band of a run of acceptable bands that reaches the sharpest read
    band, None when the sharpest band itself is unacceptable (no floor makes the threshold hold)."""
    s = np.asarray(sharpness, np.float64)
    alarm = np.asarray(false_alarm, bool)
    if s.shape != alarm.shape or not s.size:
        raise ValueError("sharpness and false_alarm must be non-empty and of one length")
    top = max(float(s.max()), 1.0)
    edges = [1.0]
    while edges[-1] <= top:
        edges.append(edges[-1] * ratio)
    floor = None
    for lo, hi in reversed(list(zip(edges[:-1], edges[1:]))):
        inside = (s >= lo) & (s < hi)
        if inside.sum() < min_count:
            continue
        if alarm[inside].mean() > max_fpr:
            break
        floor = lo
    return None if floor is None else round(float(floor), 1)
