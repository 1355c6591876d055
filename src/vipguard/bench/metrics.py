"""Detection metrics with DeepfakeBench's definitions, and bootstrap confidence intervals.

Labels: 1 = the genuine VIP (positive), 0 = a forgery or another person. Scores: higher = more likely genuine.

- AUC: area under the ROC curve (ties count one half, as ``sklearn.metrics.roc_auc_score``).
- EER: the false-positive rate at the ROC point where ``|FNR − FPR|`` is smallest (DeepfakeBench:
  ``fpr[nanargmin(abs(fnr - fpr))]``).
- ACC: the share of correct decisions at the fixed threshold 0.5 (``score >= 0.5`` → genuine).
- AP: average precision, ``Σ (R_n − R_{n−1}) P_n`` over the thresholds (``average_precision_score``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

METRICS = ("auc", "eer", "acc", "ap")


class MetricError(ValueError):
    """The labels or scores cannot give the metric (e.g. only one class present)."""


def _check(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise MetricError(f"{y.size} labels but {s.size} scores")
    if not np.isin(y, (0, 1)).all():
        raise MetricError("labels must be 0 or 1")
    if not np.isfinite(s).all():
        raise MetricError("scores must be finite")
    return y, s


def roc_curve(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) over the distinct scores, from (0, 0) at threshold +inf, decreasing thresholds."""
    y, s = _check(labels, scores)
    pos, neg = int(y.sum()), int((1 - y).sum())
    if pos == 0 or neg == 0:
        raise MetricError("the ROC needs both genuine (1) and negative (0) samples")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    tpr = np.r_[0.0, tp / pos]
    fpr = np.r_[0.0, fp / neg]
    return fpr, tpr, np.r_[np.inf, s[last]]


def auc(labels, scores) -> float:
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.trapezoid(tpr, fpr)) if hasattr(np, "trapezoid") else float(np.trapz(tpr, fpr))


def eer(labels, scores) -> float:
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1.0 - tpr
    return float(fpr[int(np.nanargmin(np.abs(fnr - fpr)))])


def acc(labels, scores, threshold: float = 0.5) -> float:
    y, s = _check(labels, scores)
    if y.size == 0:
        raise MetricError("no samples")
    return float(np.mean((s >= threshold).astype(np.int64) == y))


def average_precision(labels, scores) -> float:
    fpr, tpr, thresholds = roc_curve(labels, scores)
    y, _ = _check(labels, scores)
    pos, neg = int(y.sum()), int((1 - y).sum())
    tp, fp = tpr[1:] * pos, fpr[1:] * neg
    precision = tp / np.maximum(tp + fp, 1)
    recall = tpr[1:]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def det_curve(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, fnr) pairs of the DET curve (false acceptance vs false rejection)."""
    fpr, tpr, _ = roc_curve(labels, scores)
    return fpr, 1.0 - tpr


FUNCTIONS: dict[str, Callable[..., float]] = {"auc": auc, "eer": eer, "acc": acc, "ap": average_precision}


@dataclass(frozen=True, slots=True)
class Estimate:
    """A metric value with its bootstrap 95% interval (``low``/``high`` are None without resamples)."""

    value: float
    low: float | None = None
    high: float | None = None

    def to_json(self) -> dict[str, float | None]:
        r = lambda v: None if v is None else round(float(v), 5)  # noqa: E731
        return {"value": r(self.value), "low": r(self.low), "high": r(self.high)}


def bootstrap(labels, scores, n: int = 500, seed: int = 0, level: float = 0.95
              ) -> dict[str, Estimate]:
    """Every metric in :data:`METRICS` with a percentile bootstrap interval from ``n`` stratified resamples.

    Genuine and negative samples are resampled separately (stratified), so every resample has both classes.
    """
    y, s = _check(labels, scores)
    point = {k: f(y, s) for k, f in FUNCTIONS.items()}
    if n <= 0:
        return {k: Estimate(v) for k, v in point.items()}
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    draws = {k: np.empty(n) for k in FUNCTIONS}
    for b in range(n):
        idx = np.r_[rng.choice(pos, pos.size), rng.choice(neg, neg.size)]
        for k, f in FUNCTIONS.items():
            draws[k][b] = f(y[idx], s[idx])
    tail = (1.0 - level) / 2 * 100
    return {k: Estimate(point[k], float(np.percentile(draws[k], tail)), float(np.percentile(draws[k], 100 - tail)))
            for k in FUNCTIONS}


def summary(labels, scores, n_boot: int = 500, seed: int = 0) -> dict:
    """JSON-ready metrics (with intervals) and counts; ``None`` metrics when a class is missing."""
    y, s = _check(labels, scores)
    counts = {"n": int(y.size), "genuine": int(y.sum()), "negative": int((1 - y).sum())}
    if counts["genuine"] == 0 or counts["negative"] == 0:
        return {**counts, **{k: None for k in METRICS}}
    return {**counts, **{k: e.to_json() for k, e in bootstrap(y, s, n_boot, seed).items()}}


def best_threshold(groups: Sequence[str], scores: Sequence[float], positive: str = "genuine",
                   grid: Sequence[float] | None = None) -> tuple[float, dict[str, float]]:
    """The single threshold that maximises the balanced accuracy — the positive group accepted, the mean over the
    negative groups rejected, weighted equally — and each group's accuracy there (an oracle choice: a baseline at
    its best on the very test set)."""
    g, s = np.asarray(groups), np.asarray(scores, np.float64)
    names = list(dict.fromkeys(g.tolist()))

    def accuracy(t: float) -> dict[str, float]:
        return {k: float(np.mean(s[g == k] >= t)) if k == positive else float(np.mean(s[g == k] < t))
                for k in names}

    def balanced(t: float) -> float:
        acc = accuracy(t)
        negatives = [v for k, v in acc.items() if k != positive]
        return 0.5 * acc.get(positive, 0.0) + 0.5 * (float(np.mean(negatives)) if negatives else 0.0)

    candidates = np.unique(s) if grid is None else np.asarray(grid, np.float64)
    best = max(candidates, key=balanced)
    return float(best), accuracy(float(best))
