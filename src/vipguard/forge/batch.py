"""Batches of forgeries: analysed inputs, pair selection with a seed, quality control and identity similarity.

``forge_batch`` draws (source, target) pairs with the seed, skips pairs that fail :func:`input_problem`,
forges, re-analyses each result (rejecting those without a detectable face) and records the face similarity
of each output to the source identity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..faces import Face, FaceAnalyzer, cosine, face_score, l2_normalise
from ..faces.embed import DEFAULT_EMBEDDER
from ..infra.io import load_image
from .base import FORGERS, ForgeError, ForgeInput, ForgeResult, ForgeryMethod
from .checks import MAX_POSE_GAP, NO_FACE_IN_RESULT, input_problem, result_face

TARGET_POLICIES = ("random", "lookalike")


@dataclass(frozen=True, slots=True)
class ForgeItem:
    """One accepted forgery, its analysed face and its identity similarity (cosine) to source and target."""

    result: ForgeResult
    face: Face
    similarity_source: float
    similarity_target: float
    face_score: int | None = None  # FACE_SCORE against the VIP centre, when one was given
    seed: tuple[int, ...] = ()

    def record(self) -> dict[str, Any]:
        """The sidecar JSON for this output: provenance plus the measured similarities."""
        return {
            **self.result.provenance(),
            "seed": list(self.seed),
            "similarity_source": round(self.similarity_source, 4),
            "similarity_target": round(self.similarity_target, 4),
            "face_score": self.face_score,
        }


@dataclass(frozen=True, slots=True)
class Rejection:
    """A (source, target) pair that gave no forgery, and why."""

    source: str | None
    target: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class BatchReport:
    """What a batch made and what it rejected (with reasons)."""

    method: str
    items: tuple[ForgeItem, ...]
    rejections: tuple[Rejection, ...]
    requested: int

    @property
    def reasons(self) -> Counter[str]:
        return Counter(r.reason for r in self.rejections)

    @property
    def mean_similarity_source(self) -> float | None:
        return float(np.mean([i.similarity_source for i in self.items])) if self.items else None


def prepare_input(path: str, analyzer: FaceAnalyzer) -> ForgeInput:
    """Load and analyse one photo (dominant face, with mesh); raises ``InputError`` or :class:`ForgeError`."""
    image = load_image(path)
    faces = analyzer.analyze(image, primary_only=True)
    if not faces:
        raise ForgeError(f"{path}: no face detected")
    if faces[0].mesh is None:
        raise ForgeError(f"{path}: no face mesh (landmark step failed)")
    if DEFAULT_EMBEDDER not in faces[0].embeddings:
        raise ForgeError(f"{path}: no {DEFAULT_EMBEDDER} embedding (enable it in the analyzer)")
    return ForgeInput(image=image, face=faces[0], path=str(path))


def identity_centre(items: Sequence[ForgeInput]) -> np.ndarray:
    """The identity centre of ``items``: the normalised mean of their normalised embeddings."""
    if not items:
        raise ForgeError("no photos to compute an identity centre from")
    vectors = np.stack([l2_normalise(np.asarray(i.face.embeddings[DEFAULT_EMBEDDER], np.float32)) for i in items])
    return l2_normalise(vectors.mean(0))


def choose_pairs(sources: Sequence[ForgeInput], targets: Sequence[ForgeInput], rng: np.random.Generator,
                 policy: str = "random", centre: np.ndarray | None = None,
                 lookalike_k: int = 5) -> list[tuple[int, int]]:
    """All usable (source, target) index pairs in a seeded order.

    ``random`` uses every target; ``lookalike`` only the ``lookalike_k`` targets whose embedding is nearest to
    the source identity's centre (``centre`` or the centre of ``sources``). Pairs of the same file are skipped.
    """
    if policy not in TARGET_POLICIES:
        raise ForgeError(f"unknown targets policy {policy!r}; choose one of: {', '.join(TARGET_POLICIES)}")
    target_ids = list(range(len(targets)))
    if policy == "lookalike" and targets:
        centre = identity_centre(sources) if centre is None else centre
        sims = np.array([float(cosine(t.face.embeddings[DEFAULT_EMBEDDER], centre)) for t in targets])
        target_ids = [int(j) for j in np.argsort(-sims, kind="stable")[:lookalike_k]]
    pairs = [(i, j) for i in range(len(sources)) for j in target_ids
             if sources[i] is not targets[j] and (sources[i].path is None or sources[i].path != targets[j].path)]
    order = rng.permutation(len(pairs))
    return [pairs[k] for k in order]


def forge_batch(method: str | ForgeryMethod, sources: Sequence[ForgeInput], targets: Sequence[ForgeInput],
                n: int, seed: int, analyzer: FaceAnalyzer, targets_policy: str = "random",
                centre: np.ndarray | None = None, max_pose_gap: float = MAX_POSE_GAP, lookalike_k: int = 5,
                max_attempts: int | None = None, progress: Callable[[int, int], None] | None = None,
                **params: Any) -> BatchReport:
    """Make up to ``n`` forgeries with ``method`` (a name in ``FORGERS``, built with ``params``, or a method).

    Pairs are drawn with ``seed``; each forgery gets its own generator seeded ``(seed, i, j)``, so an output
    depends only on the seed and its pair. At most ``max_attempts`` (default ``4·n``) pairs are tried.
    ``centre``: the VIP's identity centre, for FACE_SCORE. ``progress(made, n)`` is called after each attempt.
    """
    forger = FORGERS.create(method, **params) if isinstance(method, str) else method
    pairs = choose_pairs(sources, targets, np.random.default_rng(seed), targets_policy, centre, lookalike_k)
    limit = 4 * n if max_attempts is None else max_attempts
    items: list[ForgeItem] = []
    rejections: list[Rejection] = []
    for i, j in pairs[:limit]:
        if len(items) >= n:
            break
        outcome = forge_one(forger, sources[i], targets[j], (int(seed), i, j), analyzer, max_pose_gap, centre)
        if isinstance(outcome, ForgeItem):
            items.append(outcome)
        else:
            rejections.append(Rejection(sources[i].path, targets[j].path, outcome))
        if progress is not None:
            progress(len(items), n)
    return BatchReport(method=forger.name, items=tuple(items), rejections=tuple(rejections), requested=n)


def forge_one(forger: ForgeryMethod, source: ForgeInput, target: ForgeInput, seed: tuple[int, ...],
              analyzer: FaceAnalyzer, max_pose_gap: float = MAX_POSE_GAP,
              centre: np.ndarray | None = None) -> ForgeItem | str:
    """One checked forgery of ``(source, target)``: the accepted item, or the reason it was rejected."""
    problem = input_problem(source, target, max_pose_gap)
    if problem is not None:
        return problem
    try:
        result = forger.forge(source, target, np.random.default_rng(seed))
    except ForgeError as exc:
        return str(exc)
    face, problem = result_face(result.image, analyzer)
    if face is None:
        return problem or NO_FACE_IN_RESULT
    vector = face.embeddings[DEFAULT_EMBEDDER]
    return ForgeItem(
        result=result,
        face=face,
        similarity_source=float(cosine(vector, source.face.embeddings[DEFAULT_EMBEDDER])),
        similarity_target=float(cosine(vector, target.face.embeddings[DEFAULT_EMBEDDER])),
        face_score=None if centre is None else int(face_score(float(cosine(vector, centre)))),
        seed=seed,
    )
