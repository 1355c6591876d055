"""Enrolment: photos of a VIP → quality filter → descriptors → forgeries and other people → VipProfile.

The per-VIP head is trained on the VIP's genuine photos (with augmentation) against forgeries of the VIP made with
:mod:`vipguard.forge` and photos of other people (the bundled background set), weighted in the paper's Stage-3
ratio 1 : 5 : 5 (genuine : other real : fake), and calibrated (cross-validated Platt scaling). Genuine photos
are compared with leave-one-out centres, so the head sees the similarity a *new* genuine photo would have; so are
forgeries, with the photos they were made from left out, as an attacker's photos are not among the enrolment ones.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .. import forge
from ..faces import FaceAnalyzer, l2_normalise
from ..faces.embed import DEFAULT_EMBEDDER, Embedder, RegionEmbedder
from ..faces.types import Face
from ..infra.imageops import down_up, jpeg
from ..infra.io import InputError, Photo, expand_inputs, load_image
from .background import Background
from .decision import (
    DEFAULT_REJECT_RATE,
    FEATURES,
    SCORED,
    SECOND_SHARE,
    SIMILARITY,
    GenuinePrior,
    GenuineRange,
    bundled_prior,
    column,
    loo_similarities,
    readings,
    signs,
    split_rate,
    spread_check,
)
from .evidence import ID_PARTS, PATCH_PARTS, ArtifactScorer, FaceDescriptor, compare, describe_with
from .head import central, fit_head
from .profile import SecondRecognizer, VipProfile

RELAXABLE = ("head turned", "head tilted", "too blurry", "face too small")


class EnrolError(RuntimeError):
    """Enrolment cannot produce a profile (e.g. no usable photo)."""


@dataclass(frozen=True)
class EnrolConfig:
    max_angle: float = 15.0  # the paper keeps yaw/pitch < 15° for enrolment photos
    min_face: float = 40.0
    min_sharpness: float = 15.0
    min_photos: int = 3
    augmentations: int = 1  # augmented copies of each genuine photo
    fakes_per_photo: float = 2.0
    methods: tuple[str, ...] = ("swap", "eyes", "nose", "mouth", "inner", "morph", "selfswap")
    ratio: tuple[float, float, float] = (1.0, 5.0, 5.0)  # genuine : other real : fake
    c: float = 0.1
    seed: int = 0
    reject_rate: float = DEFAULT_REJECT_RATE  # the operating point: expected genuine-reject rate
    duplicate_similarity: float = 0.985  # whole-face cosine at or above which two photos are near-duplicates
    identity_percentile: float = 99.5  # other people's similarity percentile that separates "carries the identity"
    # the JPEG qualities (low, high) an enrolment forgery is delivered at before it is described, drawn per forgery
    # as the genuine copies' are (``_augment``): photos are JPEG files and so are forgeries met in use, so a head
    # must not learn "no JPEG grid" as a sign of forgery; None = described as made, in memory (profiles before)
    forgery_jpeg: tuple[int, int] | None = (50, 95)
    # a recognizer of another family whose genuine range must hold too (decision.SecondOpinion): e.g. "dlib";
    # None = MobileFaceNet alone. Every check of this VIP then runs it (dlib: ~40-70 ms a face on one core)
    second_opinion: str | None = None


@dataclass(frozen=True)
class PhotoReport:
    path: str
    used: bool
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainingSet:
    """The rows the per-VIP head was fitted on: evidence (ordered as FEATURES), label (1 = genuine), group
    (0 genuine, 1 other people, 2 forgery) and, for forgeries, the method that made them."""

    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    methods: tuple[str, ...]


@dataclass(frozen=True)
class EnrolResult:
    profile: VipProfile
    photos: tuple[PhotoReport, ...]
    relaxed: bool
    fakes: int
    others: int
    rejected_fakes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()
    training: TrainingSet | None = field(default=None, repr=False)

    @property
    def used(self) -> int:
        return sum(p.used for p in self.photos)

    @property
    def similarity_floor(self) -> float:
        """Whole-face similarity below which a face is not accepted as genuine, at the enrolment operating point."""
        return float(self.profile.meta["similarity_floor"])

    @property
    def expected_genuine_accept(self) -> float:
        return float(self.profile.meta["expected_genuine_accept"])


@dataclass(frozen=True)
class _Photo:
    index: int  # position among the enrolment's inputs
    name: str  # the photo's path or given name (for reports)
    image: np.ndarray
    face: Face


def second_embeddings(embedder: Embedder, photos: Sequence[_Photo]) -> np.ndarray:
    """(N, dim) whole-face embeddings of the kept photos by a second-opinion embedder (its own alignment)."""
    return np.concatenate([embedder.embed(p.image, [p.face.detection]) for p in photos])


def _inputs(photos: Sequence[Path | str | Photo]) -> list[Path | Photo]:
    """The enrolment's inputs in order: decoded photos as given, files as given, folders expanded."""
    out: list[Path | Photo] = []
    for item in photos:
        out.extend([item] if isinstance(item, Photo) else expand_inputs([item]))
    return out


def _name(item: Path | str | Photo) -> str:
    return item.name if isinstance(item, Photo) else str(item)


def _augment(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """A plausible re-capture of a genuine photo: flip, resize, blur, JPEG; and whether it was flipped (unflipped,
    the face keeps its place to the pixel: same size, only resampled, blurred and recompressed)."""
    flipped = bool(rng.random() < 0.5)
    out = image[:, ::-1] if flipped else image
    if rng.random() < 0.5:
        h, w = out.shape[:2]
        f = rng.uniform(0.5, 0.9)
        out = down_up(out, (int(w * f), int(h * f)))
    if rng.random() < 0.5:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.2))
    return jpeg(out, int(rng.integers(50, 95))), flipped


def _stub_profile(name: str, descriptors: Sequence[FaceDescriptor], skip: frozenset[int] = frozenset()
                  ) -> VipProfile:
    """Centres and templates from ``descriptors`` (all but the indices in ``skip``); heads are filled in later."""
    keep = [d for i, d in enumerate(descriptors) if i not in skip] or list(descriptors)
    centres = {p: l2_normalise(np.mean([d.embeddings[p] for d in keep], axis=0)) for p in ID_PARTS}
    patches = {p: l2_normalise(np.mean([d.patches[p] for d in keep], axis=0)) for p in PATCH_PARTS}
    geoms = np.stack([d.geometry for d in keep if d.has_mesh] or [np.zeros((478, 2), np.float32)])
    std = geoms.std(0) if len(geoms) > 1 else np.full_like(geoms[0], 2.0)
    return VipProfile(name=name, centres=centres, patches=patches, geometry_mean=geoms.mean(0),
                      geometry_std=np.maximum(std, 0.5), typical=np.zeros(len(FEATURES), np.float32),
                      head=None, genuine=None)  # type: ignore[arg-type]


SCORE_COLUMNS = tuple(column(f) for f in SCORED)  # which evidence the head reads: decision.FEATURE_TABLE


def fit_score_head(training: TrainingSet, config: EnrolConfig, features: tuple[str, ...] = SCORED,
                   exclude_method: str | None = None):
    """The per-VIP head on ``features`` (genuine vs other people vs forgeries, weighted ``config.ratio``),
    optionally without the forgeries of one method (for leave-one-method-out measurements)."""
    keep = np.ones(len(training.y), bool)
    if exclude_method is not None:
        keep = np.array([m != exclude_method for m in training.methods])
    x, y, g = training.x[keep], training.y[keep], training.groups[keep]
    genuine_share, other_share, fake_share = config.ratio
    cols = tuple(column(f) for f in features)
    return fit_head(x, y, _weights(g, {0: genuine_share, 1: other_share, 2: fake_share}), tuple(features),
                    c=config.c, seed=config.seed, columns=cols, signs=signs(features), readings=readings(features))


def _weights(groups: np.ndarray, shares: dict[int, float]) -> np.ndarray:
    """Sample weights giving each group its share of the total (mean weight 1)."""
    weight = np.zeros(len(groups))
    for group, share in shares.items():
        n = int((groups == group).sum())
        if n:
            weight[groups == group] = share / n
    return weight * len(groups) / weight.sum()


class Enroller:
    """Builds VIP profiles; keeps the analysed background targets between enrolments. Its evidence sources are
    the analyzer's default embedder and the ``artifact`` scorer (built where the Enroller is composed)."""

    def __init__(self, analyzer: FaceAnalyzer, background: Background, config: EnrolConfig = EnrolConfig(),
                 prior: GenuinePrior | None = None, *, artifact: ArtifactScorer):
        self.analyzer = analyzer
        self.background = background
        self.config = config
        self.prior = prior if prior is not None else bundled_prior()
        self.second_prior = bundled_prior(config.second_opinion) if config.second_opinion else None
        self.artifact = artifact
        self._targets: list[forge.ForgeInput] | None = None

    @property
    def embedder(self) -> RegionEmbedder:
        """The identity embedder of the evidence (the analyzer's default one); the profile records which it is."""
        return self.analyzer.embedder(DEFAULT_EMBEDDER)

    def _second(self, used: Sequence[_Photo]) -> SecondRecognizer | None:
        """The second recognizer's centre and genuine range from the kept photos (None without one)."""
        if self.config.second_opinion is None:
            return None
        embedder = self.analyzer.embedder(self.config.second_opinion)
        vectors = second_embeddings(embedder, used).astype(np.float64)
        centre = vectors.mean(0) / np.linalg.norm(vectors.mean(0))
        return SecondRecognizer(embedder.identity, centre.astype(np.float32),
                                GenuineRange.fit(loo_similarities(vectors), self.second_prior))

    def _analyse(self, image: np.ndarray, primary_only: bool = False) -> list[Face]:
        """Faces of ``image``, the dominant one first and the only one with the dense mesh (the others are only
        compared in size). Descriptors compute their own embeddings (whole face and parts from one pass)."""
        faces = self.analyzer.analyze(image, max_faces=3, primary_only=primary_only, embedders=(), mesh=False)
        return [self.analyzer.with_mesh(image, faces[0]), *faces[1:]] if faces else []

    def _recapture(self, photo: _Photo, rng: np.random.Generator) -> FaceDescriptor | None:
        """The descriptor of an augmented copy of ``photo``. An unflipped copy keeps the photo's detection and
        mesh (the face has not moved) and is re-aligned and re-measured on its own pixels; a flipped one is
        analysed afresh. None where no face (or no mesh) is found in a flipped copy."""
        image, flipped = _augment(photo.image, rng)
        if flipped:
            faces = self._analyse(image, primary_only=True)
            face = faces[0] if faces and faces[0].mesh is not None else None
        else:
            face = self.analyzer.reframe(image, photo.face)
        return None if face is None else self.describe(image, face)

    def targets(self) -> list[forge.ForgeInput]:
        if self._targets is None:
            self._targets = []
            for target in self.background.targets:
                image = load_image(target.path)
                self._targets.append(forge.ForgeInput(image, target.face(image), str(target.path)))
        return self._targets

    def describe(self, image: np.ndarray, face: Face) -> FaceDescriptor:
        return describe_with(image, face, self.embedder, self.artifact)[0]

    def screen(self, photos: Sequence[Path | Photo]) -> tuple[list[_Photo], list[PhotoReport], bool]:
        """Quality filter of image files or decoded photos; relaxes pose/blur/size limits (with a warning flag) if
        too few photos pass. Reports, one per input in order, name each by its path or its given name."""
        cfg = self.config
        passed: list[_Photo] = []
        relaxable: list[tuple[_Photo, tuple[str, ...]]] = []
        reports: dict[int, PhotoReport] = {}
        for i, item in enumerate(photos):
            source = _name(item)
            try:
                image = item.image if isinstance(item, Photo) else load_image(item)
            except InputError as exc:
                reports[i] = PhotoReport(source, False, (exc.reason,))
                continue
            faces = self._analyse(image)
            if not faces:
                reports[i] = PhotoReport(source, False, ("no face found",))
                continue
            if len(faces) > 1 and faces[1].detection.area > 0.5 * faces[0].detection.area:
                reports[i] = PhotoReport(source, False, (f"{len(faces)} faces of similar size",))
                continue
            face = faces[0]
            if face.mesh is None:
                reports[i] = PhotoReport(source, False, ("dense landmarks failed",))
                continue
            problems = tuple(face.quality.problems(cfg.min_face, cfg.min_sharpness, cfg.max_angle))
            photo = _Photo(i, source, image, face)
            if problems:
                reports[i] = PhotoReport(source, False, problems)
                if all(p.startswith(RELAXABLE) for p in problems):
                    relaxable.append((photo, problems))
            else:
                passed.append(photo)
                reports[i] = PhotoReport(source, True)
        relaxed = False
        if len(passed) < cfg.min_photos and relaxable:
            relaxed = True
            for photo, problems in relaxable[: cfg.min_photos - len(passed)]:
                passed.append(photo)
                reports[photo.index] = PhotoReport(photo.name, True, tuple(f"accepted anyway: {p}" for p in problems))
        return passed, [reports[i] for i in range(len(photos))], relaxed

    def genuine_photos(self, photos: Sequence[Path | Photo]
                       ) -> tuple[list[_Photo], list[FaceDescriptor], list[PhotoReport], bool]:
        """The photos an enrolment keeps and their descriptors: the quality :meth:`screen`, then near-duplicates and
        photos whose identity disagrees with the rest left out. Also a report per input and whether the screen
        was relaxed. (``tools/build_prior.py`` enrols background people through it, as a VIP is enrolled.)"""
        used, reports, relaxed = self.screen(photos)
        if not used:
            return [], [], reports, relaxed
        genuine = [self.describe(p.image, p.face) for p in used]
        used, genuine, dropped = self._consistent(used, genuine, list(self.background.descriptors))
        return used, genuine, [dropped.get(i, r) for i, r in enumerate(reports)], relaxed

    def enrol(self, name: str, photos: Sequence[Path | str | Photo],
              progress: Callable[[str, int, int], None] | None = None) -> EnrolResult:
        """Enrol ``name`` from ``photos``: image files, folders of them, or decoded :class:`Photo` s (an upload's
        pixels and name); the same pixels give the same profile either way."""
        start = time.perf_counter()
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        inputs = _inputs(photos)
        if not inputs:
            raise EnrolError(f"no image files found in {', '.join(_name(p) for p in photos)}")
        step = progress or (lambda stage, i, n: None)
        used, genuine, reports, relaxed = self.genuine_photos(inputs)
        if not used:
            why = "; ".join(f"{Path(r.path).name}: {', '.join(r.reasons)}" for r in reports[:3])
            more = f" (and {len(reports) - 3} more)" if len(reports) > 3 else ""
            raise EnrolError(f"no usable photo of {name} among {len(inputs)} input(s): {why}{more}")
        others = list(self.background.descriptors)
        dropped = [r for r in reports if not r.used and r.reasons]  # by the screen or, after it, the consistency checks
        warnings = []
        if relaxed:
            warnings.append("too few photos passed the quality filter; some were accepted anyway (see reasons)")
        if len(used) < cfg.min_photos:
            warnings.append(f"only {len(used)} usable photo(s) (at least {cfg.min_photos} recommended): the "
                            f"genuine range leans on the population prior; add photos from other days")
        # augmented copies keep the index of the photo they came from (for leave-one-out centres)
        augmented: list[tuple[int, FaceDescriptor]] = []
        for i, photo in enumerate(used):
            for _ in range(cfg.augmentations):
                descriptor = self._recapture(photo, rng)
                if descriptor is not None:
                    augmented.append((i, descriptor))
            step("genuine", i + 1, len(used))
        fakes, rejected = self._forge(used, rng, step)
        full = _stub_profile(name, genuine)
        centres: dict[frozenset[int], VipProfile] = {}

        def without(skip: frozenset[int]) -> VipProfile:
            """The profile a photo made from the enrolment photos in ``skip`` would meet if they were not enrolled
            (the full one when that would leave none: see ``_stub_profile``)."""
            if skip not in centres:
                centres[skip] = _stub_profile(name, genuine, skip=skip)
            return centres[skip]

        rows, labels, groups, methods = [], [], [], []
        for i, d in [*enumerate(genuine), *augmented]:
            rows.append(compare(d, without(frozenset({i}))))
            labels.append(1)
            groups.append(0)
            methods.append("")
        for d in others:
            rows.append(compare(d, full))
            labels.append(0)
            groups.append(1)
            methods.append("")
        for method, sources, d in fakes:
            rows.append(compare(d, without(sources)))
            labels.append(0)
            groups.append(2)
            methods.append(method)
        training = TrainingSet(np.stack(rows), np.array(labels), np.array(groups), tuple(methods))
        score_head = fit_score_head(training, cfg)
        x, g = training.x, training.groups
        loo = loo_similarities(np.stack([d.embeddings["global"] for d in genuine]))
        genuine_range = GenuineRange.fit(loo, self.prior)
        second = self._second(used)
        floor = genuine_range.floor(split_rate(cfg.reject_rate, second is not None))
        spread = spread_check(loo, self.prior)
        advice = spread.advice(name)
        if advice:
            warnings.append(advice)
        seconds = time.perf_counter() - start
        # the similarity other people reach to this VIP: above it, the VIP's identity is in the face
        identity_threshold = float(np.percentile(x[g == 1, column(SIMILARITY)], cfg.identity_percentile))
        meta = {
            "identity_threshold": round(identity_threshold, 4),
            "reject_rate": cfg.reject_rate, "similarity_floor": round(floor, 4),
            "second_opinion": None if second is None else {
                "embedder": second.embedder.name, "similarity_floor": round(second.genuine.floor(
                    SECOND_SHARE * cfg.reject_rate), 4), "genuine_prior": self.second_prior.to_dict()},
            "expected_genuine_accept": round(1.0 - cfg.reject_rate, 4),
            "genuine_prior": self.prior.to_dict(),
            "used": len(used), "rejected": len(inputs) - len(used), "relaxed": relaxed, "fakes": len(fakes),
            "duplicates": sorted(r.path for r in dropped if r.reasons[0].startswith("near-duplicate")),
            "outliers": sorted(r.path for r in dropped if r.reasons[0].startswith("identity")),
            "warnings": warnings,
            "spread": {"own": round(spread.spread, 5), "typical": round(spread.typical, 5),
                       "own_weight": round(spread.own_weight, 4), "kind": spread.kind},
            "others": len(others), "augmented": len(augmented), "enrolled": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "seconds": round(seconds, 2), "config": {k: v for k, v in vars(cfg).items()},
        }
        profile = VipProfile(
            name=name, centres=full.centres, patches=full.patches, geometry_mean=full.geometry_mean,
            geometry_std=full.geometry_std, typical=central(x[training.y == 1], readings(FEATURES)).astype(np.float32),
            head=score_head, genuine=genuine_range, meta=meta, embedder=self.embedder.identity, second=second,
        )
        return EnrolResult(profile, tuple(reports), relaxed, len(fakes), len(others), dict(rejected), seconds,
                           tuple(warnings), training)

    def _consistent(self, used: list[_Photo], genuine: list[FaceDescriptor], others: list[FaceDescriptor]
                    ) -> tuple[list[_Photo], list[FaceDescriptor], dict[int, PhotoReport]]:
        """Drop near-duplicate photos (keeping the first) and photos whose identity disagrees with the rest: one
        no more similar to the centre of the other photos than other people are (``identity_percentile`` of the
        background's similarity to that centre). Returns the kept photos, their descriptors and the reports of
        the dropped ones, keyed by their position among the inputs (``_Photo.index``)."""
        cfg = self.config
        vectors = np.stack([d.embeddings["global"] for d in genuine]).astype(np.float64)
        dropped: dict[int, PhotoReport] = {}
        keep: list[int] = []
        for i in range(len(used)):
            twin = next((j for j in keep if float(vectors[i] @ vectors[j]) >= cfg.duplicate_similarity), None)
            if twin is None:
                keep.append(i)
            else:
                dropped[used[i].index] = PhotoReport(
                    used[i].name, False,
                    (f"near-duplicate of {Path(used[twin].name).name} (similarity {float(vectors[i] @ vectors[twin]):.3f})",))
        if len(keep) >= 3:
            background = np.stack([d.embeddings["global"] for d in others]).astype(np.float64)
            loo = loo_similarities(vectors[keep])
            total = vectors[keep].sum(0)
            strays = []
            for k, i in enumerate(keep):
                centre = (total - vectors[i]) / np.linalg.norm(total - vectors[i])
                stranger = float(np.percentile(background @ centre, cfg.identity_percentile))
                if loo[k] < stranger:
                    strays.append((i, loo[k], stranger))
            if len(strays) < len(keep) / 2:  # a majority defines the identity
                for i, sim, stranger in strays:
                    keep.remove(i)
                    dropped[used[i].index] = PhotoReport(
                        used[i].name, False,
                        (f"identity disagrees with the other photos (similarity {sim:.2f} to their centre; other "
                         f"people reach {stranger:.2f}): left out of the profile",))
        return [used[i] for i in keep], [genuine[i] for i in keep], dropped

    def _forge(self, used: list[_Photo], rng: np.random.Generator, step: Callable[[str, int, int], None]
               ) -> tuple[list[tuple[str, frozenset[int], FaceDescriptor]], Counter]:
        """Forgeries of the VIP: (method, indices into ``used`` of the VIP photos it was made from, descriptor)."""
        cfg = self.config
        methods = [m for m in cfg.methods if m in forge.FORGERS]
        targets = self.targets()
        n = int(round(cfg.fakes_per_photo * len(used)))
        out: list[tuple[str, frozenset[int], FaceDescriptor]] = []
        rejected: Counter = Counter()
        if not methods or not targets:
            return out, rejected
        for k in range(n):
            method = methods[k % len(methods)]
            i = int(rng.integers(len(used)))
            src = used[i]
            sources = frozenset({i})
            source = forge.ForgeInput(src.image, src.face, src.name)
            if method == "selfswap":
                if len(used) < 2:
                    continue
                j = int(rng.integers(len(used)))
                other = used[j]
                if other.index == src.index:
                    continue
                sources = frozenset({i, j})
                target = forge.ForgeInput(other.image, other.face, other.name)
            else:
                target = targets[int(rng.integers(len(targets)))]
            try:
                result = forge.FORGERS.create(method).forge(source, target, rng)
            except forge.ForgeError as exc:
                rejected[f"{method}: {exc}"] += 1
                continue
            image = result.image
            if cfg.forgery_jpeg is not None:  # its own generator: the forgeries drawn before are unchanged
                low, high = cfg.forgery_jpeg
                image = jpeg(image, int(np.random.default_rng([cfg.seed, 7_919, k]).integers(low, high + 1)))
            faces = self._analyse(image, primary_only=True)
            if not faces or faces[0].mesh is None:
                rejected[f"{method}: no face in result"] += 1
                continue
            out.append((method, sources, self.describe(image, faces[0])))
            step("forgeries", k + 1, n)
        return out, rejected
