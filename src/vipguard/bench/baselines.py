"""Scores compared in one benchmark run: VIPGuard-lite and three identity-aware baselines.

All scores are in [0, 1], higher = more likely the genuine VIP, so that ACC at 0.5 means the same everywhere:

- ``vipguard``   — the lite tier's calibrated score ``Guard.check(image, vip=...).score`` (enrolled from the
  VIP's enrolment split; a missing face scores 0).
- ``similarity`` — similarity only: ``max(0, cos)`` of the MobileFaceNet embedding to the VIP's Face Embedding
  Centre (``evidence['sim_global']``; the paper's FACE_SCORE / 100).
- ``ict_ref``    — an ICT-Ref-style reference-assisted identity-consistency score: the inner face (eyes, nose,
  mouth) and the outer face (contour, hair, context) are embedded separately and each compared with the VIP's
  references (``sim_inner``, ``sim_outer``); the score is ``max(0, min(sim_inner, sim_outer))``, so a face passes
  only when both its inner and its outer identity are the VIP's (a face swap keeps one and replaces the other).
- ``one_shot``   — one-shot reference: ``max(0, cos)`` to the embedding of a single enrolment photo (the first
  one that passes the enrolment quality filter), as in the paper's one-shot setting (Table 4).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any

import numpy as np

from ..faces import FaceAnalyzer, cosine
from ..faces.embed import DEFAULT_EMBEDDER
from ..faces.types import Face
from ..lite.guard import Guard, Verdict

SCORERS: dict[str, str] = {
    "vipguard": "VIPGuard-lite (calibrated per-VIP head)",
    "similarity": "Similarity only (cosine to the VIP centre)",
    "ict_ref": "ICT-Ref-style (min of inner/outer identity similarity)",
    "one_shot": "One-shot (cosine to one enrolment photo)",
}


class CachedAnalyzer:
    """A :class:`FaceAnalyzer` that remembers its analyses per image content (within one run).

    Every call is answered from one analysis of all the image's faces (the dominant face first), sliced to what
    was asked. ``capacity`` bounds the memory (LRU).
    """

    def __init__(self, analyzer: FaceAnalyzer, capacity: int = 4000) -> None:
        self.analyzer = analyzer
        self.capacity = capacity
        self._cache: OrderedDict[bytes, list[Face]] = OrderedDict()
        self.hits = self.misses = 0

    def __getattr__(self, name: str) -> Any:  # embedder(), detector, mesher, config, store ...
        return getattr(self.analyzer, name)

    @staticmethod
    def _key(image: np.ndarray, embedders: Sequence[str] | None, mesh: bool | None) -> bytes:
        h = blake2b(np.ascontiguousarray(image).data, digest_size=16)
        h.update(repr((image.shape, str(image.dtype), None if embedders is None else tuple(embedders), mesh)).encode())
        return h.digest()

    def analyze(self, image: np.ndarray, max_faces: int | None = None, primary_only: bool = False,
                embedders: Sequence[str] | None = None, mesh: bool | None = None) -> list[Face]:
        limit = 1 if primary_only else max_faces  # None: every face
        key = self._key(image, embedders, mesh)
        faces = self._cache.get(key)
        if faces is None:
            self.misses += 1
            faces = self.analyzer.analyze(image, max_faces=None, embedders=embedders, mesh=mesh)
            self._cache[key] = faces
            if len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        else:
            self.hits += 1
            self._cache.move_to_end(key)
        return list(faces[:limit])


@dataclass(frozen=True, slots=True)
class Scores:
    """Every scorer's score for one image, and the lite tier's verdict."""

    values: dict[str, float]
    verdict: str
    has_face: bool


def checked_face(faces: Sequence[Face], centre: np.ndarray) -> Face | None:
    """The face :class:`Guard` judges for a named VIP: the one nearest the VIP's centre."""
    if not faces:
        return None
    sims = [float(cosine(f.embeddings[DEFAULT_EMBEDDER], centre)) for f in faces]
    return faces[int(np.argmax(sims))]


def score_image(image: np.ndarray, vip: str, guard: Guard, centre: np.ndarray, reference: np.ndarray | None,
                analyzer: CachedAnalyzer) -> Scores:
    """Check ``image`` against ``vip`` and derive the baseline scores from the same analysis."""
    verdict: Verdict = guard.check(image, vip=vip)
    if verdict.verdict == "error":
        raise RuntimeError(f"check failed: {verdict.error}")
    if verdict.score is None:  # no face: every scorer says "not the genuine VIP"
        return Scores({k: 0.0 for k in SCORERS}, verdict.verdict, False)
    ev = verdict.evidence
    values = {
        "vipguard": float(verdict.score),
        "similarity": max(0.0, float(ev["sim_global"])),
        "ict_ref": max(0.0, min(float(ev["sim_inner"]), float(ev["sim_outer"]))),
        "one_shot": 0.0,
    }
    if reference is not None:
        face = checked_face(analyzer.analyze(image, max_faces=guard.config.max_faces), centre)
        if face is not None:
            values["one_shot"] = max(0.0, float(cosine(face.embeddings[DEFAULT_EMBEDDER], reference)))
    return Scores(values, verdict.verdict, True)
