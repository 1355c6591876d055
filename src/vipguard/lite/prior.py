"""Learning the genuine prior (:class:`~vipguard.lite.decision.GenuinePrior`) from background people.

``tools/build_prior.py`` enrols each background person as a VIP enrols (the Enroller's screen and descriptors) from
the first half of their photos and meets the second half later. :func:`subsample` enrols them again from subsets
of every size ``k`` (several random draws, later photos fixed), and :func:`learn` turns the draws into a prior:

1. :func:`~vipguard.lite.decision.learn_prior` — centre, spread and later/enrolment ratio from the whole halves;
2. :func:`learn_shift` — how the enrolment-to-later shift depends on the enrolment size: for each ``k``, its mean
   over people and its person-to-person variance net of what the range already counts (the uncertainty of the
   enrolment centre, the later photos' own sampling noise), fitted as ``a + b·u(k)`` (least squares) and
   ``τ² + c·u(k)`` (non-negative least squares) with u = :func:`~vipguard.lite.decision.size_term`;
3. :func:`learn_tail` — the predictive's degrees of freedom that best forecast the later photos' similarity at the
   Guard's operating points (the quantile, or pinball, loss at the :data:`~vipguard.lite.decision.STRICTNESS`
   rates): genuine similarities have a long lower tail (a few poor photos), which a Normal-like range misses.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize, stats

from .decision import (
    MEDIAN_NOISE,
    STRICTNESS,
    GenuinePrior,
    GenuineRange,
    learn_prior,
    loo_similarities,
    size_term,
    summarise,
)


@dataclass(frozen=True, slots=True)
class Draw:
    """One background person enrolled from a subset of their enrolment photos."""

    person: int
    enrol: np.ndarray  # leave-one-out similarities of the subset's photos
    later: np.ndarray  # the later photos' similarities to the subset's centre
    full: bool  # the subset is the whole enrolment half

    @property
    def n(self) -> int:
        return len(self.enrol)


def subsample(person: int, enrol: np.ndarray, later: np.ndarray, rng: np.random.Generator, draws: int = 10,
              smallest: int = 3) -> list[Draw]:
    """Draws of one person (L2-normalised embeddings ``enrol`` and ``later``): ``draws`` random subsets of each
    size from ``smallest`` to all but one enrolment photo, and the whole set once."""
    enrol, later = np.asarray(enrol, np.float64), np.asarray(later, np.float64)
    out = []
    for k in range(smallest, len(enrol) + 1):
        full = k == len(enrol)
        for _ in range(1 if full else draws):
            subset = enrol if full else enrol[np.sort(rng.choice(len(enrol), k, replace=False))]
            centre = subset.mean(0)
            out.append(Draw(person, loo_similarities(subset), later @ (centre / np.linalg.norm(centre)), full))
    return out


def person_row(draw: Draw, robust: bool) -> dict:
    """The per-person statistics :func:`~vipguard.lite.decision.learn_prior` reads, of one draw."""
    mean, var = summarise(draw.enrol, robust)
    later_mean, later_var = summarise(draw.later, robust)
    return {"n": draw.n, "mean": round(mean, 5), "var": round(var, 6), "later_n": len(draw.later),
            "later_mean": round(later_mean, 5), "later_var": round(later_var, 6)}


def _usable(draws: Sequence[Draw]) -> list[Draw]:
    return [d for d in draws if d.n >= 2 and len(d.later) >= 2]


def shift_by_size(prior: GenuinePrior, draws: Sequence[Draw]) -> dict[int, tuple[float, float, int]]:
    """Per enrolment size: the shift's mean over people, its person-to-person variance net of the range's own
    centre uncertainty and of the later photos' sampling noise, and how many people had that size."""
    base = replace(prior, drift=0.0, drift_sd=0.0, drift_n=0.0, drift_var_n=0.0)
    noise = MEDIAN_NOISE if prior.robust else 1.0
    gaps: dict[int, dict[int, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for d in _usable(draws):
        fitted = GenuineRange.fit(d.enrol, base)
        centre_var = fitted.scale**2 / (base.kappa + d.n + 1)  # the var·ratio²/κ part of the range's spread
        later_centre, later_var = summarise(d.later, prior.robust)
        gaps[d.n][d.person].append((fitted.loc - later_centre, centre_var + noise * later_var / len(d.later)))
    out = {}
    for k, people in sorted(gaps.items()):
        if len(people) < 2:
            continue
        per = [np.array(v) for v in people.values()]
        mean = float(np.mean([g[:, 0].mean() for g in per]))
        var = float(np.mean([((g[:, 0] - mean) ** 2).mean() - g[:, 1].mean() for g in per]))
        out[k] = (mean, var, len(per))
    return out


def learn_shift(prior: GenuinePrior, draws: Sequence[Draw]) -> GenuinePrior:
    """``prior`` with the shift's mean ``drift + drift_n·u(n)`` and variance ``drift_sd² + drift_var_n·u(n)``
    (u = :func:`~vipguard.lite.decision.size_term`) fitted to :func:`shift_by_size`, weighted by people per size,
    the variance terms non-negative."""
    table = shift_by_size(prior, draws)
    if len(table) < 2:
        raise ValueError("learning how the shift depends on the enrolment size needs draws of at least two sizes")
    u = np.array([size_term(k) for k in table])
    mean, var, people = (np.array(c, np.float64) for c in zip(*table.values()))
    x = np.c_[np.ones_like(u), u] * np.sqrt(people)[:, None]
    a, b = np.linalg.lstsq(x, mean * np.sqrt(people), rcond=None)[0]
    tau2, c = optimize.nnls(x, var * np.sqrt(people))[0]
    return replace(prior, drift=float(a), drift_n=float(b), drift_sd=float(np.sqrt(tau2)), drift_var_n=float(c))


def tail_loss(prior: GenuinePrior, draws: Sequence[Draw], levels: Sequence[float] | None = None
              ) -> Callable[[float], float]:
    """The mean quantile (pinball) loss, in similarity units, of ``prior``'s floors at ``levels`` (default: the
    Guard's operating points) on the draws' later photos, as a function of the predictive's degrees of freedom.
    Each person and enrolment size weighs the same (draws and later photos within it share that weight)."""
    levels = np.asarray(sorted(STRICTNESS.values()) if levels is None else levels, np.float64)
    usable = _usable(draws)
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for d in usable:
        counts[d.person, d.n] += 1
    z, weight = [], []
    for d in usable:
        fitted = GenuineRange.fit(d.enrol, prior)  # its loc and scale do not depend on the degrees of freedom
        z.append((d.later - fitted.loc) / fitted.scale)
        weight.append(np.full(len(d.later), fitted.scale / (counts[d.person, d.n] * len(d.later))))
    z, weight = np.concatenate(z), np.concatenate(weight) / len(counts)

    def loss(dof: float) -> float:
        u = z[:, None] - stats.t.ppf(levels, dof)[None, :]
        return float((weight[:, None] * u * (levels[None, :] - (u < 0))).sum() / len(levels))

    return loss


def learn_tail(prior: GenuinePrior, draws: Sequence[Draw], levels: Sequence[float] | None = None) -> GenuinePrior:
    """``prior`` with ``tail_dof`` minimising :func:`tail_loss` (a log-spaced grid from 1.5 to 1000, refined)."""
    loss = tail_loss(prior, draws, levels)
    grid = np.geomspace(1.5, 1000.0, 41)
    i = int(np.argmin([loss(g) for g in grid]))
    lo, hi = np.log(grid[max(i - 1, 0)]), np.log(grid[min(i + 1, len(grid) - 1)])
    best = optimize.minimize_scalar(lambda t: loss(float(np.exp(t))), bounds=(lo, hi), method="bounded")
    return replace(prior, tail_dof=round(float(np.exp(best.x)), 3))


def learn(draws: Sequence[Draw], robust: bool = True) -> GenuinePrior:
    """The prior from background draws (:func:`subsample`): moments of the whole halves, then the shift's
    dependence on the enrolment size, then the tail."""
    rows = [person_row(d, robust) for d in draws if d.full and d.n >= 2 and len(d.later) >= 2]
    prior = learn_prior(rows, robust=robust)
    return learn_tail(learn_shift(prior, draws), draws)
