"""Guard: check an image against enrolled VIPs → Verdict (the JSON contract of DESIGN.md).

Adaptive VIP selection (the rebuttal's Adaptive VIPGuard): without a VIP name, each face is compared with every
enrolled Face Embedding Centre and the nearest VIP is chosen; if none is near enough the verdict is
``different_person`` with ``vip: null``. With several faces, the face that claims a VIP most strongly is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .evidence import FEATURES, compare, describe
from .explain import explain
from .faces import FaceAnalyzer, face_score
from .faces.types import Face
from .io import InputError, load_image
from .profile import VipProfile
from .registry import Registry, UnknownVip

VERDICTS = ("genuine", "fake", "different_person", "no_face", "error")


@dataclass(frozen=True)
class GuardConfig:
    select_threshold: float = 0.25  # cosine to a VIP centre below which a face claims no VIP
    threshold: float = 0.5  # score at or above which a face is the genuine VIP
    max_faces: int = 5


@dataclass(frozen=True)
class Verdict:
    path: str
    vip: str | None
    verdict: str
    score: float | None
    face_similarity: int
    explanation: str
    error: str | None = None
    box: tuple[float, ...] | None = None
    faces: int = 0
    evidence: dict[str, float] = field(default_factory=dict)
    typical: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The stable JSON contract, plus ``box``, ``faces`` and ``evidence`` details."""
        return {
            "path": self.path, "vip": self.vip, "verdict": self.verdict,
            "score": None if self.score is None else round(float(self.score), 6),
            "face_similarity": int(self.face_similarity), "explanation": self.explanation, "error": self.error,
            "box": None if self.box is None else [round(float(v), 1) for v in self.box], "faces": self.faces,
            "evidence": {k: round(v, 4) for k, v in self.evidence.items()},
        }

    @classmethod
    def failed(cls, path: str, message: str) -> Verdict:
        return cls(path, None, "error", None, 0, f"Could not check this input: {message}", message)


def _merge(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: a.get(k, 0.0) + b.get(k, 0.0) for k in a.keys() | b.keys()}


class Guard:
    def __init__(self, registry: Registry, analyzer: FaceAnalyzer, config: GuardConfig = GuardConfig()):
        self.registry = registry
        self.analyzer = analyzer
        self.config = config

    def check_path(self, path: str | Path, vip: str | None = None) -> Verdict:
        """Check one image file; a bad file gives an ``error`` verdict, never an exception."""
        try:
            image = load_image(path)
        except InputError as exc:
            return Verdict.failed(str(path), exc.reason)
        return self.check(image, vip=vip, source=str(path))

    def check(self, image: np.ndarray, vip: str | None = None, source: str = "<image>") -> Verdict:
        if vip is not None:
            try:
                profiles = [self.registry.get(vip)]
            except UnknownVip as exc:
                return Verdict.failed(source, str(exc))
        else:
            profiles = self.registry.profiles()
            if not profiles:
                return Verdict.failed(source, "no VIP is enrolled; run `vipguard enroll NAME PHOTO_DIR` first")
        faces = self.analyzer.analyze(image, max_faces=self.config.max_faces)
        if not faces:
            return Verdict(source, vip, "no_face", None, 0, "No face was found in this image.")
        centres = np.stack([p.centre for p in profiles])
        sims = np.stack([f.embeddings["mobilefacenet"] for f in faces]) @ centres.T  # faces × VIPs
        face_i, vip_i = np.unravel_index(int(np.argmax(sims)), sims.shape)
        best = float(sims[face_i, vip_i])
        if vip is None and best < self.config.select_threshold:
            face = faces[0]
            profile = profiles[int(np.argmax(sims[0]))]
            return self._judge(image, face, profile, source, len(faces), claimed=False)
        return self._judge(image, faces[face_i], profiles[vip_i], source, len(faces), claimed=True)

    def _judge(self, image: np.ndarray, face: Face, profile: VipProfile, source: str, n_faces: int,
               claimed: bool) -> Verdict:
        descriptor = describe(image, face, self.analyzer.embedder("mobilefacenet"))
        evidence = compare(descriptor, profile)
        score, p_id, p_auth = profile.probabilities(evidence)
        similarity = face_score(float(evidence[0]))
        if not claimed:
            verdict, vip_name = "different_person", None
        elif score >= self.config.threshold:
            verdict, vip_name = "genuine", profile.name
        else:
            # P(identity) says whether the VIP's identity is there at all; if it is, the photo is not authentic
            verdict = "fake" if p_id >= 0.5 else "different_person"
            vip_name = profile.name
        if verdict == "genuine":  # what speaks for the VIP, against the negatives seen at enrolment
            contributions = _merge(profile.id_head.contributions(evidence), profile.auth_head.contributions(evidence))
        elif verdict == "fake":  # what departs from the VIP's typical genuine photo
            contributions = profile.auth_head.contributions(evidence, profile.typical)
        else:
            contributions = profile.id_head.contributions(evidence, profile.typical)
        text = explain(verdict, vip_name, evidence, profile.typical, contributions, score)
        return Verdict(
            path=source, vip=vip_name, verdict=verdict, score=score, face_similarity=similarity, explanation=text,
            box=face.detection.box, faces=n_faces,
            evidence=dict(zip(FEATURES, (float(v) for v in evidence))),
            typical=dict(zip(FEATURES, (float(v) for v in profile.typical))),
        )
