"""The sharpness floor of the artefact detector's operating point (``ArtifactConfig.min_sharpness``).

The detector's threshold is set on genuine validation photos, clean and lightly degraded. Blurred harder, a genuine
face looks blended to it (a blurred face is what a blend's smoothing leaves): at Gaussian blur σ 2 over a quarter of
genuine faces reach the threshold. The floor is the sharpness below which that happens: chosen on genuine photos
only, from their sharpness (``faces.quality.sharpness`` of the crop) and whether each reached the threshold.
"""

from __future__ import annotations

import numpy as np


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
