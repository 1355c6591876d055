"""The artefact detector's operating point: its threshold, its sharpness floor and its veto for noisy crops
(``ArtifactConfig.threshold``, ``ArtifactConfig.min_sharpness``, ``ArtifactConfig.noise_band`` and ``noise_veto``),
all chosen on genuine photos only.

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


NOISE_SIGMAS = (4.0, 8.0, 12.0)  # the sensor-like RGB noise the noisy-crop veto is chosen under (grey levels)


def add_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``image`` with RGB Gaussian noise of ``sigma`` grey levels, rounded and clipped to uint8."""
    return np.clip(np.rint(image + rng.normal(0.0, sigma, image.shape)), 0, 255).astype(np.uint8)


def choose_noise_band(levels: Mapping[str, np.ndarray], quantile: float = 0.995) -> float:
    """The noise level from which a crop is noisy: the highest ``quantile`` of genuine crops' noise levels
    (``faces.quality.noise_level``) over the conditions the threshold was chosen on (``levels``: condition →
    levels), so that those crops keep the threshold the trainer chose."""
    values = [float(np.quantile(np.asarray(v, np.float64), quantile)) for v in levels.values() if len(v)]
    if not values:
        raise ValueError("no noise levels to choose a band from")
    return round(max(values), 3)


def choose_noise_veto(scores: Mapping[str, np.ndarray], levels: Mapping[str, np.ndarray], band: float,
                      target_fpr: float, veto: float) -> float:
    """The veto for crops in the noise band: :func:`choose_threshold` on the genuine scores of each noisy condition
    (``scores`` and ``levels`` per condition) whose crops lie in the band, never below the clean ``veto``."""
    inside = {name: np.asarray(scores[name])[np.asarray(levels[name]) >= band] for name in scores}
    return max(veto, choose_threshold(inside, target_fpr))
