"""How a verdict is decided — the one place, for every tier and input kind (lite, MLLM, video, scan, service).

Open-set verification anchored on the VIP's own genuine photos. A forgery can be made by any generator, most of
which we cannot run, so the negatives we make (other people, our own forgeries) can train a head but cannot say
where *genuine* ends. What we know well is how similar the VIP's genuine photos are to the VIP:

* :class:`GenuineRange` — the predictive distribution of a new genuine photo's whole-face similarity to the VIP's
  centre: leave-one-out similarities of the enrolment photos, shrunk toward a population prior of how much one
  person's photos vary (:class:`GenuinePrior`, learned from the bundled background identities). Its lower
  quantile at the operating point (an expected genuine-reject rate, default 3 %) is the VIP's *similarity floor*.
* :func:`anchor_probability` — the genuine-range term of the score: 0.5 exactly at the floor, towards 1 for a
  typical genuine similarity, towards 0 below the floor.
* :func:`decide` — ``score = min(head, anchor, artefact term)`` (all must hold: the evidence the head learned, being
  inside the VIP's genuine range, and no blending artefact at the detector's veto; below the veto the artefact
  term only ranks accepted faces, :func:`veto_probability`), then the verdict: ``genuine`` at score ≥ 0.5; below
  it ``fake`` if the face still carries the VIP's identity (more similar than other people get to this VIP), else
  ``different_person``.

:data:`FEATURE_TABLE` is the one table of evidence features: what each means for "genuine VIP", whether it needs
the dense mesh, its label, and whether it may enter the score (the do-no-harm rule, measured in
``benchmarks/verdict.py``: a term enters only if, on every held-out forgery method, the score with it is not worse
than without it by more than 0.005 AUC).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from importlib import resources

import numpy as np
from scipy import special

# --------------------------------------------------------------------------------------------------- features


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    sign: int  # +1: higher means more like the genuine VIP; -1: higher means less; 0: either way
    needs_mesh: bool  # measured only with the dense mesh (not in --fast checks)
    label: str  # what a reader sees in reports (bars, tables)
    kind: str  # how explanations phrase it: one of KINDS
    part: str | None = None  # the facial part it measures (a key of PART_LABELS), if any
    scored: bool = False  # allowed into the score (passed the do-no-harm rule on held-out methods)
    reading: str = "linear"  # how the head reads it (lite.head.READINGS): "linear", or "logit" for a probability

    @property
    def departure(self) -> bool:
        """Part-level evidence whose shortfall from the VIP's typical photo an explanation may point at."""
        return self.kind in {"part_identity", "consistency", "template"}

    @property
    def bar(self) -> bool:
        """Shown as a bar (a similarity in [0, 1]) in the HTML report."""
        return self.kind in {"similarity", "part_identity", "consistency", "template"}


KINDS = ("similarity", "part_identity", "consistency", "template", "geometry", "boundary_colour",
         "boundary_sharpness", "artefact")
PART_LABELS = {"eyes": "eyes and brows", "inner": "inner face", "outer": "outer face and head", "nose": "nose",
               "mouth": "mouth", "outline": "face outline"}

FEATURE_TABLE: tuple[Feature, ...] = (
    Feature("sim_global", +1, False, "whole face", "similarity", scored=True),
    Feature("sim_eyes", +1, True, "eyes + brows", "part_identity", "eyes"),
    Feature("sim_inner", +1, True, "inner face", "part_identity", "inner"),
    Feature("sim_outer", +1, True, "outer face", "part_identity", "outer"),
    Feature("inner_outer", +1, True, "inner ↔ outer", "consistency"),
    Feature("patch_eyes", +1, True, "eyes template", "template", "eyes"),
    Feature("patch_nose", +1, True, "nose template", "template", "nose"),
    Feature("patch_mouth", +1, True, "mouth template", "template", "mouth"),
    Feature("geom_eyes", -1, True, "eyes shape deviation", "geometry", "eyes"),
    Feature("geom_nose", -1, True, "nose shape deviation", "geometry", "nose"),
    Feature("geom_mouth", -1, True, "mouth shape deviation", "geometry", "mouth"),
    Feature("geom_outline", -1, True, "outline shape deviation", "geometry", "outline"),
    Feature("blend_colour", -1, True, "boundary colour seam", "boundary_colour"),
    Feature("blend_sharpness", 0, True, "boundary sharpness step", "boundary_sharpness"),
    # The artefact detector's probability enters the head as its log-odds: read linearly it made the score worse
    # than similarity alone on held-out swaps (-0.52 AUC points, benchmarks/verdict.py table 3); as log-odds it is
    # better on every held-out method or within 0.1 point. A face too blurred for the detector's operating point
    # is read as the VIP's typical genuine photo (:func:`for_head`).
    Feature("artifact", -1, False, "blending-artefact score", "artefact", scored=True, reading="logit"),
)
FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURE_TABLE)
BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURE_TABLE}
SCORED: tuple[str, ...] = tuple(f.name for f in FEATURE_TABLE if f.scored)
NO_MESH: frozenset[str] = frozenset(f.name for f in FEATURE_TABLE if not f.needs_mesh)
SIMILARITY = "sim_global"  # the feature the genuine range and the identity floor are about


def column(name: str) -> int:
    """Position of a feature in the evidence vector (refer to features by name; this is the one lookup)."""
    return FEATURES.index(name)


def value(evidence: np.ndarray, name: str) -> float:
    return float(np.asarray(evidence).reshape(-1)[column(name)])


def signs(names: Iterable[str]) -> tuple[int, ...]:
    return tuple(BY_NAME[n].sign for n in names)


def readings(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(BY_NAME[n].reading for n in names)


DETECTOR_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURE_TABLE if f.kind == "artefact")


def for_head(evidence: np.ndarray, typical: np.ndarray, judged: bool) -> np.ndarray:
    """The evidence a head reads: as measured, except that the artefact detector's score of a crop it does not
    judge (too blurred for its operating point, ``ArtifactResult.judged``) is replaced by the VIP's typical genuine
    value — a score the detector's threshold does not hold for is no evidence either way."""
    if judged:
        return evidence
    out = np.array(evidence, np.float32, copy=True)
    for name in DETECTOR_FEATURES:
        out[..., column(name)] = np.asarray(typical).reshape(-1)[column(name)]
    return out


# ------------------------------------------------------------------------------------------ operating point

STRICTNESS = {"lenient": 0.01, "default": 0.03, "strict": 0.10}  # name → expected genuine-reject rate
DEFAULT_REJECT_RATE = STRICTNESS["default"]


def reject_rate(strictness: str | float | None, default: float = DEFAULT_REJECT_RATE) -> float:
    """The expected genuine-reject rate for a strictness: a name in :data:`STRICTNESS` or a rate in (0, 0.5)."""
    if strictness is None:
        return default
    if isinstance(strictness, str) and strictness.strip().lower() in STRICTNESS:
        return STRICTNESS[strictness.strip().lower()]
    try:
        rate = float(strictness)
    except (TypeError, ValueError):
        raise ValueError(f"strictness must be one of {', '.join(STRICTNESS)} or a genuine-reject rate in "
                         f"(0, 0.5), not {strictness!r}") from None
    if not 0.0 < rate < 0.5:
        raise ValueError(f"a genuine-reject rate must be in (0, 0.5), not {rate}")
    return rate


# ---------------------------------------------------------------------------------------------- genuine range


MAD_SIGMA = 1.4826  # the median absolute deviation times this is a normal distribution's standard deviation
MEDIAN_NOISE = math.pi / 2  # the sampling variance of a median over that of a mean (normal data, many photos)


def summarise(similarities: Sequence[float], robust: bool) -> tuple[float, float]:
    """Centre and spread² of a person's similarities: mean and variance, or (``robust``) median and squared scaled
    median absolute deviation, which a few poor photos (the long lower tail of genuine similarities) hardly move.
    The spread of fewer than two values is 0."""
    x = np.asarray(similarities, np.float64)
    if not len(x):
        raise ValueError("no similarities to summarise")
    if robust:
        centre = float(np.median(x))
        return centre, float((MAD_SIGMA * np.median(np.abs(x - centre))) ** 2)
    return float(x.mean()), float(x.var(ddof=1)) if len(x) > 1 else 0.0


def size_term(n: int) -> float:
    """How the enrolment-to-later shift's few-photo excess scales with the enrolment size: ``1/(n - 1) - 1/n``, the
    difference between a leave-one-out centre's and the full centre's noise (``n`` < 2 counts as 2)."""
    n = max(int(n), 2)
    return 1.0 / (n * (n - 1))


@dataclass(frozen=True, slots=True)
class GenuinePrior:
    """What many people's photos say about one person's genuine similarity to their own centre.

    A Normal–scaled-inverse-χ² prior on the centre and spread of the enrolment photos' leave-one-out similarity
    (``loc``, with the strength of ``kappa`` photos; ``scale``, with ``dof``), and how later photos — other days,
    other events, which is what a Guard meets — depart from it: on average by ``drift`` (enrolment minus later),
    by ``drift_sd`` from one person to the next, and with a spread ``later_ratio`` times the enrolment spread.

    With ``n`` enrolment photos the shift's mean gains ``drift_n`` and its variance ``drift_var_n`` times
    :func:`size_term` (``n``): a leave-one-out similarity is measured against a centre of ``n - 1`` photos, a later
    photo against one of ``n``, so the few-photo excess of the shift fades like ``1/(n - 1) - 1/n`` (learned from
    background people enrolled with subsets of every size, :mod:`vipguard.lite.prior`). ``robust``: centre and
    spread are the median and the median absolute deviation (:func:`summarise`). ``tail_dof`` > 0: the predictive's
    degrees of freedom, learned from how heavy the lower tail of later photos' similarities is; 0: those of the
    conjugate update (``dof`` + n). The defaults are the prior before these terms, so an older prior's dict (a
    profile's ``meta["genuine_prior"]``) loads and fits as it did."""

    loc: float
    kappa: float
    scale: float
    dof: float
    drift: float = 0.0
    drift_sd: float = 0.0
    later_ratio: float = 1.0
    identities: int = 0  # how many people it was learned from
    drift_n: float = 0.0
    drift_var_n: float = 0.0
    robust: bool = False
    tail_dof: float = 0.0

    def shift(self, n: int) -> tuple[float, float]:
        """Mean and person-to-person variance of the enrolment-to-later shift for ``n`` enrolment photos."""
        u = size_term(n)
        return self.drift + self.drift_n * u, max(self.drift_sd**2 + self.drift_var_n * u, 0.0)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GenuinePrior:
        return cls(**d)


@dataclass(frozen=True, slots=True)
class GenuineRange:
    """The predictive distribution (Student-t) of a new genuine photo's similarity to the VIP's centre."""

    loc: float
    scale: float
    dof: float
    n: int  # enrolment photos it was fitted on

    # scipy.special's Student-t functions are what scipy.stats.t.cdf / .ppf evaluate (the same values, checked
    # bit for bit in tests/test_decision.py), without the distribution object's argument handling (~50 µs a call)

    def cdf(self, similarity: float) -> float:
        """Fraction of the VIP's genuine photos expected to be *less* similar than this."""
        return float(special.stdtr(self.dof, (similarity - self.loc) / self.scale))

    def floor(self, rate: float) -> float:
        """The similarity below which a share ``rate`` of genuine photos fall (the VIP's similarity floor)."""
        return float(special.stdtrit(self.dof, rate) * self.scale + self.loc)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GenuineRange:
        return cls(**d)

    @classmethod
    def fit(cls, similarities: Sequence[float], prior: GenuinePrior) -> GenuineRange:
        """Conjugate update of ``prior`` with the enrolment photos' leave-one-out similarities (their centre and
        spread, :func:`summarise`), then the population's enrolment-to-later shift for this many photos: the
        location moves by its mean and the spread widens by the later/enrolment ratio and its person-to-person
        variance (:meth:`GenuinePrior.shift`)."""
        n = len(similarities)
        centre, spread2 = summarise(similarities, prior.robust) if n else (prior.loc, 0.0)
        ss = max(n - 1, 0) * spread2
        kappa = prior.kappa + n
        dof = prior.dof + n
        loc = (prior.kappa * prior.loc + n * centre) / kappa
        var = (prior.dof * prior.scale**2 + ss + prior.kappa * n / kappa * (centre - prior.loc) ** 2) / dof
        mean_shift, shift_var = prior.shift(n)
        predictive = var * (1 + 1 / kappa) * prior.later_ratio**2 + shift_var
        return cls(loc - mean_shift, math.sqrt(predictive), prior.tail_dof or dof, n)


# An enrolment's own spread (robust sd of its leave-one-out similarities) over the prior's scale: below UNIFORM
# (about the 12th percentile of the background people's enrolments) the photos agree unusually closely, above
# VARIED (about the 90th) they vary unusually much.
UNIFORM, VARIED = 0.25, 1.6


@dataclass(frozen=True, slots=True)
class SpreadCheck:
    """What an enrolment's own photos say about the width of the VIP's genuine range.

    ``own_weight``: the share of the range's spread estimate that rests on these photos (the rest is the population
    prior's: ``(n - 1) / (dof + n - 1)`` of the conjugate update). ``kind``: ``"uniform"``, ``"varied"`` or
    ``"typical"`` (see :data:`UNIFORM`, :data:`VARIED`). On LFW an enrolment's own spread barely predicts how much
    its later photos vary (Spearman 0.18 for the 19 VIPs, −0.03 for background people; docs/verdict.md), so a
    uniform enrolment does not buy a tight range by itself: more photos from other days do."""

    spread: float
    typical: float
    own_weight: float
    kind: str

    def advice(self, name: str) -> str | None:
        """The sentence ``vipguard enroll`` prints for a uniform or varied enrolment (None when typical)."""
        ratio = f"spread {self.spread:.3f} against {self.typical:.3f} for most people"
        if self.kind == "uniform":
            return (f"{name}'s photos agree unusually closely ({ratio}): perhaps one day or event. Later photos of "
                    f"most people vary more than their enrolment shows, so the range keeps the population's width "
                    f"({100 * (1 - self.own_weight):.0f} % of it); add photos from other days, lighting and years — if "
                    "they agree as closely, the floor rises")
        if self.kind == "varied":
            return (f"{name}'s photos vary unusually much ({ratio}): the floor is low, so forgeries that keep much "
                    "of the identity may pass; leave out poor photos (turned head, blur, occlusion, much older) or "
                    "add more typical ones")
        return None


def spread_check(similarities: Sequence[float], prior: GenuinePrior) -> SpreadCheck:
    """:class:`SpreadCheck` of an enrolment's leave-one-out similarities under ``prior``."""
    n = len(similarities)
    spread = math.sqrt(summarise(similarities, prior.robust)[1]) if n else 0.0
    ratio = spread / prior.scale
    kind = "uniform" if ratio < UNIFORM else "varied" if ratio > VARIED else "typical"
    return SpreadCheck(spread, prior.scale, max(n - 1, 0) / (prior.dof + max(n - 1, 0)), kind)


def learn_prior(people: Sequence[dict], robust: bool = False) -> GenuinePrior:
    """A :class:`GenuinePrior` (empirical Bayes) from per-person statistics: ``n``, ``mean``, ``var`` (the centre
    and spread² of :func:`summarise`) of the enrolment photos' leave-one-out similarities, and ``later_n``,
    ``later_mean``, ``later_var`` of the later photos' similarities to the enrolment centre. The shift is the same
    for every enrolment size here; :func:`vipguard.lite.prior.learn` makes it depend on the size."""
    if len(people) < 2:
        raise ValueError("a genuine prior needs statistics of at least two people")

    def col(key: str) -> np.ndarray:
        return np.array([float(p[key]) for p in people])

    n, mean, var = col("n"), col("mean"), col("var")
    later_n, later_mean, later_var = col("later_n"), col("later_mean"), col("later_var")
    noise = MEDIAN_NOISE if robust else 1.0  # sampling variance of a centre, per var / n
    within = float(np.average(var, weights=n - 1))
    later = float(np.average(later_var, weights=later_n - 1))
    between = max(float(mean.var()) - noise * float(np.mean(var / n)), 1e-6)  # spread of true means, net of noise
    gap = mean - later_mean
    gap_var = max(float(gap.var()) - noise * float(np.mean(var / n + later_var / later_n)), 0.0)
    return GenuinePrior(
        loc=float(mean.mean()), kappa=within / between, scale=math.sqrt(within),
        dof=float(np.median(n + later_n)), drift=float(gap.mean()), drift_sd=math.sqrt(gap_var),
        later_ratio=math.sqrt(later / within), identities=len(people), robust=robust,
    )


def load_prior(path) -> GenuinePrior:
    """A prior file as ``tools/build_prior.py`` writes it: the learned prior under ``"prior"`` (older files, with
    only the per-person ``"identities"``, are learned again the way they were then)."""
    try:
        doc = json.loads(path.read_text())
        return GenuinePrior.from_dict(doc["prior"]) if "prior" in doc else learn_prior(doc["identities"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a genuine prior file ({exc})") from None


def bundled_prior(embedder: str | None = None) -> GenuinePrior:
    """The prior shipped in ``vipguard/data/genuine_prior.json`` (built by ``tools/build_prior.py``), or for a
    second-opinion ``embedder`` in ``genuine_prior_<embedder>.json`` (``--embedder``); ValueError if none is."""
    path = resources.files("vipguard") / "data" / ("genuine_prior.json" if embedder is None
                                                   else f"genuine_prior_{embedder}.json")
    if not path.is_file():
        raise ValueError(f"no genuine prior is shipped for the embedder {embedder!r} (build one with "
                         f"tools/build_prior.py --embedder {embedder})")
    return load_prior(path)


def loo_similarities(embeddings: np.ndarray) -> np.ndarray:
    """Cosine of each (L2-normalised) embedding to the normalised mean of the others."""
    e = np.asarray(embeddings, np.float64)
    if len(e) < 2:
        return np.zeros(0)
    others = e.sum(0, keepdims=True) - e
    others /= np.maximum(np.linalg.norm(others, axis=1, keepdims=True), 1e-12)
    return (e * others).sum(1)


def anchor_probability(similarity: float, genuine: GenuineRange, rate: float) -> float:
    """P(genuine | similarity) under the open-set model: the odds that the face is inside the VIP's genuine
    range, set so that it is exactly 0.5 at the similarity floor for ``rate`` (logit of the genuine CDF minus
    the logit of the rate)."""
    p = min(max(genuine.cdf(similarity), 1e-12), 1 - 1e-12)
    z = math.log(p / (1 - p)) - math.log(rate / (1 - rate))
    return 1.0 / (1.0 + math.exp(-z))


# A second recognizer of another family (an opt-in at enrolment: ``vipguard enroll --second-opinion dlib``) may
# reject this share of the operating point's genuine photos, the first recognizer's range the rest: by the union
# bound the two together reject at most the promised rate. 1/12 (0.25 % at the default 3 %): on the identity-keeping
# forgeries we can make (look-alike swaps, morphs 0.7-0.9) dlib sees less than MobileFaceNet, and a larger share
# only loosens the first floor (docs/verdict.md, "A second identity opinion"); what it is for is a generator that
# is conditioned on one recognizer family and passes it, which the other family still sees.
SECOND_SHARE = 1.0 / 12.0


@dataclass(frozen=True, slots=True)
class SecondOpinion:
    """A second recognizer's view of one face: its whole-face similarity to the VIP's centre by that recognizer,
    and the VIP's genuine range by it (fitted at enrolment from the same photos, under that recognizer's prior)."""

    embedder: str
    similarity: float
    genuine: GenuineRange

    def anchor(self, rate: float) -> float:
        """Its genuine-range term at its share of ``rate`` (:func:`anchor_probability`)."""
        return anchor_probability(self.similarity, self.genuine, SECOND_SHARE * rate)

    def floor(self, rate: float) -> float:
        return self.genuine.floor(SECOND_SHARE * rate)


def split_rate(rate: float, second: bool) -> float:
    """The first recognizer's share of the genuine-reject rate: all of it, or what a second opinion leaves."""
    return rate * (1.0 - SECOND_SHARE) if second else rate


# ---------------------------------------------------------------------------------------------------- decision

VERDICTS = ("genuine", "fake", "different_person", "no_face", "error")
ACCEPT = 0.5  # the score at or above which a face is the genuine VIP


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: str  # genuine | fake | different_person
    score: float  # min(head, anchor, artefact term): P(genuine VIP)
    head: float  # the per-VIP head's probability (evidence learned against our negatives)
    anchor: float  # the genuine-range probability
    similarity: float  # whole-face cosine to the VIP centre
    floor: float  # the VIP's similarity floor at this operating point
    reject_rate: float  # the operating point: expected genuine-reject rate
    identity_floor: float  # above it, the VIP's identity is in the face
    claimed: bool  # whether the face claims this VIP at all (adaptive selection)
    artifact: float | None = None  # the artefact detector's blend probability, where it was run
    veto: float | None = None  # the artefact veto threshold in force (None: no veto)
    second: SecondOpinion | None = None  # the second recognizer's view, where the VIP was enrolled with one
    second_anchor: float | None = None  # its genuine-range term (SecondOpinion.anchor)

    @property
    def range_anchor(self) -> float:
        """The genuine-range term of the score: the first recognizer's, or the lower of both recognizers'."""
        return self.anchor if self.second_anchor is None else min(self.anchor, self.second_anchor)

    @property
    def second_lowered(self) -> bool:
        """The second opinion, not the head or the first range, set the score before the artefact term."""
        return self.second_anchor is not None and self.second_anchor < min(self.anchor, self.head)

    @property
    def vetoed(self) -> bool:
        """The artefact score reached the veto: blending artefacts rule a genuine verdict out."""
        return self.veto is not None and self.artifact is not None and self.artifact >= self.veto

    @property
    def artefact_term(self) -> float | None:
        """The artefact term of the score (:func:`veto_probability`; None where no veto applies)."""
        if self.veto is None or self.artifact is None:
            return None
        return veto_probability(self.artifact, self.veto)

    @property
    def artefact_lowered(self) -> bool:
        """The artefact term, not the head or the genuine range, set this score (vetoed, or lowered below them)."""
        term = self.artefact_term
        return term is not None and term < self.without_artefact

    @property
    def without_artefact(self) -> float:
        """The score before the artefact term: min(head, genuine-range term)."""
        return combine(self.head, self.range_anchor)

    def rescored(self, power: float) -> float:
        """The score this decision's evidence gets with the artefact term at another ``power`` (:func:`combine`;
        ``math.inf``: the hard veto) — for benchmarks that weigh the shipped term against its peers."""
        return combine(self.head, self.range_anchor, self.artifact, self.veto, power)

    @property
    def below_floor(self) -> bool:
        return self.similarity < self.floor


def identity_floor(identity_threshold: float, select_threshold: float) -> float:
    return max(select_threshold, identity_threshold)


# How the artefact term falls below the veto threshold: ``1 - (1 - ACCEPT) * (odds(artifact) / odds(veto)) **
# VETO_POWER``, odds(p) = p / (1 - p). It stays above ACCEPT there, so it never changes a verdict; it only ranks the
# faces it accepts, a stronger blend lower. On odds, not on the probability: the packaged detector is over-confident
# (veto 0.999936, genuine 97th percentile 0.99), and on the probability scale any power that ranks well either reads
# only the last 0.01 below 1 or costs reenactments up to 0.9 AUC points once test images are delivered as JPEG 85.
# 0.4 is the steepest power on a 0.1 grid that costs no held-out method more than 0.005 AUC in every setting measured:
# benchmarks/verdict.py table 3c (against no artefact term, 0.0026 — the hard veto itself costs 0.0027) and
# benchmarks/artifact.py against the hard veto, forgeries clean (0.000) and delivered as JPEG 85 (0.0008), and the
# stage-1 detector (veto 0.967) on verdict.py (0.0030); 0.3 costs that one 0.012 (docs/artifact.md). A genuine photo
# with a typical blend score (0.01) loses 0.0017, one at the genuine 90th percentile (0.85) 0.021. math.inf is the
# hard veto.
VETO_POWER = 0.4


def _odds(p: float) -> float:
    return p / max(1.0 - p, 1e-12)


def veto_in_force(veto: float | None, own: float | None, judged: bool) -> float | None:
    """The artefact veto that holds for one scored crop: none where the check's ``veto`` is off or the crop is too
    blurred to be judged; else the crop's own (``ArtifactConfig.veto_at``: a noisy crop's is higher) or ``veto``.
    The one rule for the Guard (:meth:`~vipguard.lite.guard.Guard.veto_for`) and its differentiable copy."""
    if veto is None or not judged:
        return None
    return veto if own is None else own


def veto_probability(artifact: float, veto: float, power: float = VETO_POWER) -> float:
    """The artefact term of the score. At or above ``veto``: from just under :data:`ACCEPT` down to 0 as the blend
    probability goes from ``veto`` to 1, which rules a genuine verdict out. Below it: from 1 (no blend) down towards
    ACCEPT (at the threshold) as ``(odds(artifact) / odds(veto)) ** power`` — a face with a strong but sub-threshold
    blend score keeps its verdict and scores lower than one without (``power`` = ``math.inf``: 1 everywhere below).

    The term reads no forgery of any method: the detector is trained on pseudo-fakes only and ``veto`` is a
    threshold on genuine photos. Its shape below the threshold changes no verdict; it joins the score under the
    do-no-harm rule (``benchmarks/verdict.py``, tables 3b and 3c)."""
    if artifact < veto:
        if math.isinf(power):
            return 1.0
        ratio = min(_odds(max(float(artifact), 0.0)) / _odds(float(veto)), 1.0)
        return 1.0 - (1.0 - ACCEPT) * ratio ** power
    return min(ACCEPT * (1.0 - artifact) / max(1.0 - veto, 1e-9), float(np.nextafter(ACCEPT, 0.0)))


# how far the artefact veto may be left to move a score when its detector is not run (`--fast`): a face whose score
# before the veto is at most this keeps its verdict whatever the detector says (it is far below ACCEPT) and its score
# to within this bound, 5x inside the 0.005 that #21 allows between the fast and the full check. 1e-9 (exact to the
# printed digits) skipped the detector for almost no face under the genuine prior of #15, so `--fast` paid for it on
# every other person (benchmarks/README.md, speed.py: 0.170x against 0.126x face_recognition's time at 1e-3).
VETO_NEGLIGIBLE = 1e-3


def veto_may_change(score: float) -> bool:
    """Whether the artefact veto could move ``score`` — min(head, anchor), the veto not applied — by more than
    :data:`VETO_NEGLIGIBLE`. The veto only lowers a score, to min(score, :func:`veto_probability`) ≥ 0, so it moves
    it by at most ``score`` itself; below :data:`ACCEPT` it still lowers it (a vetoed fake scores lower), so a
    verdict other than genuine is not enough to leave the detector out — only a score already at (about) zero."""
    return score > VETO_NEGLIGIBLE


def combine(head: float, anchor: float, artifact: float | None = None, veto: float | None = None,
            power: float = VETO_POWER) -> float:
    """The score: min(head, anchor, artefact term) — every piece of evidence must hold. The artefact term
    (:func:`veto_probability` at ``power``; ``math.inf``: the hard veto) applies where both ``artifact`` and ``veto``
    are given."""
    score = min(float(head), float(anchor))
    if artifact is not None and veto is not None:
        score = min(score, veto_probability(float(artifact), float(veto), power))
    return score


def decide(head: float, similarity: float, genuine: GenuineRange, rate: float, identity_threshold: float,
           select_threshold: float, claimed: bool = True, artifact: float | None = None,
           veto: float | None = None, second: SecondOpinion | None = None) -> Decision:
    """The verdict rule shared by every tier (the MLLM tier passes its Yes-probability as ``head``): the score is
    min(head, genuine-range anchor, artefact veto); the veto applies where both ``artifact`` and ``veto`` are given.
    With a ``second`` opinion the first range works at :func:`split_rate` and the second's anchor joins the min."""
    first_rate = split_rate(rate, second is not None)
    anchor = anchor_probability(similarity, genuine, first_rate)
    second_anchor = None if second is None else second.anchor(rate)
    score = combine(float(head), anchor if second_anchor is None else min(anchor, second_anchor), artifact, veto)
    id_floor = identity_floor(identity_threshold, select_threshold)
    if not claimed:
        verdict = "different_person"
    elif score >= ACCEPT:
        verdict = "genuine"
    elif similarity >= id_floor:
        verdict = "fake"  # the VIP's identity is in the face, but not as the VIP's genuine photos carry it
    else:
        verdict = "different_person"
    return Decision(verdict, score, float(head), anchor, float(similarity), genuine.floor(first_rate), rate,
                    id_floor, claimed, None if artifact is None else float(artifact), veto, second, second_anchor)
