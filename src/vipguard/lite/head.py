"""The per-VIP head: standardised logistic regression with cross-validated Platt calibration.

Stored as plain numbers (JSON), never pickled, so a registry file can be read without running code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import special
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

LOGIT_EPS = 1e-6  # a probability is read as its log-odds within [eps, 1 - eps]: ±13.8, float32's saturated 1.0 too


def _logit(x: np.ndarray) -> np.ndarray:
    p = np.clip(x, LOGIT_EPS, 1.0 - LOGIT_EPS)
    return np.log(p / (1.0 - p))


# how a head reads an evidence column before standardising it (decision.Feature.reading names one per feature):
# "linear" as it is; "logit" a probability as its log-odds — an over-confident detector's probabilities crowd at 0
# and 1, where a linear weight cannot tell 0.99 from 0.99999
READINGS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"linear": lambda x: x, "logit": _logit}
UNREAD: dict[str, Callable[[np.ndarray], np.ndarray]] = {"linear": lambda x: x, "logit": special.expit}  # inverses


def read(x: np.ndarray, readings: Sequence[str]) -> np.ndarray:
    """The (N, k) columns ``x`` as the head reads them, one reading per column (empty: all linear)."""
    x = np.asarray(x, np.float64)
    if not readings or all(r == "linear" for r in readings):
        return x
    return np.stack([READINGS[r](x[:, i]) for i, r in enumerate(readings)], axis=1)


def central(x: np.ndarray, readings: Sequence[str]) -> np.ndarray:
    """The centre of the rows ``x`` as a head reads them, on the evidence's own scale: the mean of each column in
    its reading, mapped back (a probability read as log-odds: the probability of the mean log-odds, not the mean
    probability, which one near-1 row would drag far from where the genuine rows sit)."""
    x = np.asarray(x, np.float64)
    mean = read(x, readings).mean(0)
    if not readings:
        return mean
    return np.array([UNREAD[r](np.asarray(m)) for m, r in zip(mean, readings, strict=True)], np.float64)


@dataclass(frozen=True, slots=True)
class Head:
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    platt_a: float
    platt_b: float

    columns: tuple[int, ...] = ()  # which columns of the full evidence vector this head reads
    readings: tuple[str, ...] = ()  # how it reads each of them (READINGS; empty: all linear, as heads before)

    def _z(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(x)
        if self.columns:
            x = x[:, list(self.columns)]
        return (read(x, self.readings) - np.asarray(self.mean)) / np.asarray(self.scale)

    def decision(self, x: np.ndarray) -> np.ndarray:
        return self._z(x) @ np.asarray(self.coef) + self.intercept

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probability of the positive class, one per row."""
        return special.expit(self.platt_a * self.decision(x) + self.platt_b)  # no overflow far from 0.5

    def highest(self, x: np.ndarray, feature: str) -> float:
        """The most this head can say for one row whatever ``feature`` measures: the decision is linear in what it
        reads, so over a probability read as log-odds (clipped to [LOGIT_EPS, 1 - LOGIT_EPS]) the extremes are the
        two ends; a feature read linearly is unbounded (1.0). The row's own value where the head does not read it."""
        if feature not in self.features:
            return float(self.predict(x)[0])
        i = self.features.index(feature)
        if not self.readings or self.readings[i] != "logit":
            return 1.0
        ends = np.repeat(np.atleast_2d(np.asarray(x, np.float64)), 2, axis=0)
        ends[:, self.columns[i] if self.columns else i] = (LOGIT_EPS, 1.0 - LOGIT_EPS)
        return float(self.predict(ends).max())

    def contributions(self, x: np.ndarray, reference: np.ndarray | None = None) -> dict[str, float]:
        """Each feature's signed contribution to the decision for one row (positive = towards the positive class),
        measured from ``reference`` (default: the training mean)."""
        z = self._z(x)[0]
        if reference is not None:
            z = z - self._z(reference)[0]
        z = z * np.asarray(self.coef)
        return dict(zip(self.features, (float(v) for v in z)))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Head:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _logreg(c: float, seed: int) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=2000, random_state=seed)


def sign_consistent_columns(x: np.ndarray, y: np.ndarray, weight: np.ndarray, signs: np.ndarray, c: float,
                            seed: int) -> np.ndarray:
    """Indices of the columns kept after dropping, one at a time, any whose fitted coefficient has the opposite
    sign of what the evidence means (e.g. a *higher* similarity counted *against* the VIP): such a weight fits
    the enrolment set, not faces."""
    keep = np.arange(x.shape[1])
    while len(keep) > 1:
        z = (x[:, keep] - x[:, keep].mean(0)) / np.where(x[:, keep].std(0) > 1e-8, x[:, keep].std(0), 1.0)
        coef = _logreg(c, seed).fit(z, y, sample_weight=weight).coef_[0]
        wrong = coef * signs[keep] < 0
        if not wrong.any():
            break
        keep = np.delete(keep, int(np.argmin(np.where(wrong, coef * signs[keep], np.inf))))
    return keep


def fit_head(x: np.ndarray, y: np.ndarray, weight: np.ndarray, features: tuple[str, ...], c: float = 1.0,
             folds: int = 3, seed: int = 0, columns: tuple[int, ...] = (),
             signs: tuple[float, ...] | None = None, readings: tuple[str, ...] = ()) -> Head:
    """Fit on (x, y) with sample weights; calibrate with Platt scaling on out-of-fold decision values.
    ``columns`` selects the evidence columns the head reads (``features`` then names those columns); ``readings``
    says how it reads each (:data:`READINGS`; empty: all linear); ``signs`` (+1 / -1 per column, 0 = either) drops
    columns whose weight would contradict their meaning."""
    x = np.asarray(x, np.float64)
    if columns:
        x = x[:, list(columns)]
    unknown = set(readings) - set(READINGS)
    if unknown or (readings and len(readings) != x.shape[1]):
        raise ValueError(f"one reading per column from {sorted(READINGS)}; got {readings!r} for {x.shape[1]} columns")
    x = read(x, readings)
    if signs is not None:
        kept = sign_consistent_columns(x, np.asarray(y, int), np.asarray(weight, np.float64),
                                       np.asarray(signs, np.float64), c, seed)
        x = x[:, kept]
        features = tuple(features[i] for i in kept)
        columns = tuple((columns or tuple(range(len(signs))))[i] for i in kept)
        readings = tuple(readings[i] for i in kept) if readings else ()
    y = np.asarray(y, int)
    weight = np.asarray(weight, np.float64)
    mean = x.mean(0)
    scale = np.where(x.std(0) > 1e-8, x.std(0), 1.0)
    z = (x - mean) / scale
    out_of_fold = np.zeros(len(x))
    n_splits = int(min(folds, np.bincount(y).min()))
    if n_splits >= 2:
        for train, test in StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(z, y):
            model = _logreg(c, seed).fit(z[train], y[train], sample_weight=weight[train])
            out_of_fold[test] = model.decision_function(z[test])
    model = _logreg(c, seed).fit(z, y, sample_weight=weight)
    if n_splits < 2:
        out_of_fold = model.decision_function(z)
    # Calibrate with the classes balanced, so that 0.5 means even odds whatever the training ratio was.
    balanced = np.where(y == 1, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1)) * len(y)
    platt = LogisticRegression(C=1e4, max_iter=1000).fit(out_of_fold[:, None], y, sample_weight=balanced)
    return Head(
        features=tuple(features), mean=tuple(mean.tolist()), scale=tuple(scale.tolist()),
        coef=tuple(model.coef_[0].tolist()), intercept=float(model.intercept_[0]),
        platt_a=float(platt.coef_[0, 0]), platt_b=float(platt.intercept_[0]), columns=tuple(columns),
        readings=tuple(readings) if any(r != "linear" for r in readings) else (),
    )
