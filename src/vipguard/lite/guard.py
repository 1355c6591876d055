"""Guard: check an image against enrolled VIPs → Verdict (the JSON contract of DESIGN.md).

Adaptive VIP selection (the rebuttal's Adaptive VIPGuard): without a VIP name, each face is compared with every
enrolled Face Embedding Centre (the registry's :class:`~vipguard.infra.index.VipIndex`, built once per registry
revision) and the nearest VIP is chosen; if none is near enough the verdict is ``different_person`` with
``vip: null``. With several faces, the face that claims a VIP most strongly is reported. With more than
``GuardConfig.pick_first`` VIPs enrolled, the nearest is picked from the registry's centres alone
(:meth:`~vipguard.infra.registry.Registry.catalogue`) and only its profile is decoded and judged, as if it had been
named (but claimed only above the threshold): the embedder, ``--fast`` and a corrupt row are then questions about
that one VIP (benchmarks/scale.py).

The Guard is given its parts: the registry, the face analyzer (whose default embedder,
:data:`~vipguard.faces.embed.DEFAULT_EMBEDDER`, gives the identity evidence) and the artefact scorer (an
:class:`~vipguard.lite.evidence.ArtifactScorer`, built where the Guard is composed). A profile made by another
embedder is never compared: the check of a face is an ``error`` naming both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..faces import FaceAnalyzer, face_score
from ..faces.embed import DEFAULT_EMBEDDER, RegionEmbedder
from ..faces.mesh import known_mesher
from ..faces.types import Face
from ..infra.index import VipIndex
from ..infra.io import InputError, load_image
from ..infra.registry import Catalogue, CorruptProfile, Loaded, Registry, UnknownVip
from .decision import (FEATURES, NO_MESH, SIMILARITY, VERDICTS, Decision, reject_rate, value, veto_in_force,
                       veto_may_change)
from .evidence import ArtifactScorer, FaceDescriptor, compare, describe, describe_with
from .explain import deciding, explain, unjudged_phrase
from .profile import EmbedderMismatch, VipProfile

__all__ = ["VERDICTS", "Guard", "GuardConfig", "Verdict", "judged_without", "picking_catalogue"]


@dataclass(frozen=True)
class GuardConfig:
    select_threshold: float = 0.25  # cosine to a VIP centre below which a face claims no VIP
    # the operating point: a strictness name (lenient 1 %, default 3 %, strict 10 %) or an expected genuine-reject
    # rate in (0, 0.5); None = each VIP's own, chosen at enrolment (decision.reject_rate)
    strictness: str | float | None = None
    # faces judged per image: None = every detected face at least ``min_face`` px on its shorter box side (no
    # silent cap); a number cuts the smallest-priority faces and says so in the verdict (``faces_not_judged``)
    max_faces: int | None = None
    min_face: float = 20.0
    # "full": measure every piece of evidence (per-part identity, templates, mesh geometry, boundary cues) for the
    # explanation and the report; "fast": only what the scores read (whole-face similarity; no dense mesh; the
    # artefact detector only where its score could move the check's: not for a face whose score is at most
    # decision.VETO_NEGLIGIBLE = 1e-3 whatever the detector says) — the same verdicts, scores within 1e-3.
    detail: str = "full"
    # the dense mesh of a full check (faces.mesh.MESHERS): it feeds only explanatory evidence (per-part identity,
    # templates, geometry, boundary cues), never the score; "direct" is MediaPipe's landmark network on our own
    # detection, about half the mesh's time (benchmarks/README.md, speed.py)
    mesher: str = "direct"
    # the artefact veto (decision.veto_probability): a blend probability at or above the detector's own
    # ``ArtifactConfig.veto`` rules a genuine verdict out; False = similarity and head alone
    artifact_veto: bool = True
    # with more VIPs enrolled than this, a check without a VIP name picks the nearest from the registry's centres
    # and decodes only that profile (Registry.catalogue); up to it, every profile is loaded, as before
    pick_first: int = 200

    def __post_init__(self) -> None:
        if self.detail not in {"full", "fast"}:
            raise ValueError(f"detail must be 'full' or 'fast', not {self.detail!r}")
        if self.strictness is not None:
            reject_rate(self.strictness)  # raises ValueError naming the accepted values
        known_mesher(self.mesher)  # raises ValueError naming the registered meshers

    def rate(self, profile: VipProfile) -> float:
        """The expected genuine-reject rate this check uses for ``profile``."""
        return profile.reject_rate if self.strictness is None else reject_rate(self.strictness)


def picking_catalogue(registry: Registry, config: GuardConfig) -> Catalogue[VipProfile] | None:
    """The registry's centres when a check without a VIP name picks its VIP from them (more than
    ``config.pick_first`` rows, one embedder's centres); None: such a check loads every profile. The row count is
    read first, so that a small registry never builds a catalogue."""
    if registry.count() <= config.pick_first:
        return None
    catalogue = registry.catalogue()  # kept by the registry until its revision changes
    return catalogue if catalogue.uniform and len(catalogue) > config.pick_first else None


def judged_without(registry: Registry, config: GuardConfig, vip: str | None = None) -> tuple[CorruptProfile, ...]:
    """The corrupt rows a check of ``vip`` is judged without, as the CLI and the service report them: none when a
    VIP is named (its own bad row is that check's error); among many VIPs the rows the catalogue could not read
    (a corrupt row with a current centre is found only if a face picks it: that check's error); otherwise every
    corrupt row. Costs what the check itself reads (never every profile among many VIPs)."""
    if vip is not None:
        return ()
    catalogue = picking_catalogue(registry, config)
    return catalogue.faults if catalogue is not None else registry.load().faults


FAST_FEATURES = NO_MESH  # evidence that needs no dense mesh (decision.FEATURE_TABLE)


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
    other_faces: tuple[dict[str, Any], ...] = ()  # the other faces judged: box and similarity to this VIP
    faces_not_judged: int = 0  # faces beyond ``GuardConfig.max_faces``
    evidence: dict[str, float] = field(default_factory=dict)
    decision: Decision | None = None  # how the verdict was reached (score terms, floor, operating point)
    typical: dict[str, float] = field(default_factory=dict)
    artifact_where: str | None = None  # where the artefact detector sees a blending boundary
    boundary: np.ndarray | None = field(default=None, repr=False)  # its boundary map (aligned-crop frame)
    face_crop: np.ndarray | None = field(default=None, repr=False)  # the aligned crop that map refers to
    decided_by: str | None = None  # what set the verdict, with the region where artefacts did (explain.deciding)

    def to_json(self) -> dict[str, Any]:
        """The stable JSON contract, plus ``box``, ``faces`` and ``evidence`` details."""
        return {
            "path": self.path, "vip": self.vip, "verdict": self.verdict,
            "score": None if self.score is None else round(float(self.score), 6),
            "face_similarity": int(self.face_similarity), "explanation": self.explanation, "error": self.error,
            "box": None if self.box is None else [round(float(v), 1) for v in self.box], "faces": self.faces,
            "other_faces": list(self.other_faces), "faces_not_judged": self.faces_not_judged,
            "evidence": {k: round(v, 4) for k, v in self.evidence.items()},
            "boundary": self.artifact_where, "decided_by": self.decided_by,
            "decision": None if self.decision is None else {
                "head": round(self.decision.head, 6), "anchor": round(self.decision.anchor, 6),
                "similarity_floor": round(self.decision.floor, 4),
                "genuine_reject_rate": self.decision.reject_rate,
                "identity_floor": round(self.decision.identity_floor, 4),
                "artifact_veto": self.decision.veto, "vetoed": self.decision.vetoed,
                **({} if self.decision.second is None else {"second_opinion": {
                    "embedder": self.decision.second.embedder,
                    "similarity": round(self.decision.second.similarity, 4),
                    "similarity_floor": round(self.decision.second.floor(self.decision.reject_rate), 4),
                    "anchor": round(self.decision.second_anchor, 6)}})},
        }

    @classmethod
    def failed(cls, path: str, message: str) -> Verdict:
        return cls(path, None, "error", None, 0, f"Could not check this input: {message}", message)


@dataclass(frozen=True)
class Picked:
    """The VIP :meth:`Guard.pick` chose among many: its profile alone (``candidates``), the face judged, whether it
    claims the VIP, every face's embedding and the judged face's feature map."""

    candidates: Loaded[VipProfile]
    face: int
    claimed: bool
    vectors: np.ndarray = field(repr=False)
    map: np.ndarray = field(repr=False)


class Guard:
    def __init__(self, registry: Registry[VipProfile], analyzer: FaceAnalyzer, config: GuardConfig = GuardConfig(),
                 *, artifact: ArtifactScorer):
        self.registry = registry
        self.analyzer = analyzer
        self.config = config
        self.artifact = artifact

    @property
    def embedder(self) -> RegionEmbedder:
        """The identity embedder of the evidence and of VIP selection (the analyzer's default one)."""
        return self.analyzer.embedder(DEFAULT_EMBEDDER)

    @property
    def veto(self) -> float | None:
        """The artefact veto threshold in force: the detector's own unless ``GuardConfig.artifact_veto`` is off."""
        return self.artifact.veto if self.config.artifact_veto else None

    def veto_for(self, artifact) -> float | None:
        """The veto in force for one scored crop: the crop's own (``ArtifactResult.veto``: a noisy crop's is higher,
        ``ArtifactConfig.veto_at``) or the detector's, unless the veto is off; None for a crop not judged."""
        if artifact is None:
            return None
        return veto_in_force(self.veto, artifact.veto, artifact.judged)

    def check_path(self, path: str | Path, vip: str | None = None) -> Verdict:
        """Check one image file; a bad file gives an ``error`` verdict, never an exception."""
        try:
            image = load_image(path)
        except InputError as exc:
            return Verdict.failed(str(path), exc.reason)
        return self.check(image, vip=vip, source=str(path))

    def candidates(self, vip: str | None) -> Loaded[VipProfile] | str:
        """The VIPs to judge against (``vip`` alone, or all enrolled, at one registry revision) with the index of
        their centres (``.index``), or the error message why there are none (none enrolled, an unknown VIP)."""
        if vip is None:
            loaded = self.registry.load()
            return loaded if loaded.profiles else "no VIP is enrolled; run `vipguard enroll NAME PHOTO_DIR` first"
        try:
            return Loaded((self.registry.get(vip),), (), self.registry.codec)
        except UnknownVip as exc:
            return str(exc)

    def catalogue(self, vip: str | None) -> Catalogue[VipProfile] | None:
        """The registry's centres, when this check picks its VIP from them (no ``vip`` named, more than
        ``pick_first`` enrolled, one embedder's centres); None: :meth:`candidates` loads every profile."""
        return None if vip is not None else picking_catalogue(self.registry, self.config)

    def pick(self, faces: Sequence[Face], catalogue: Catalogue[VipProfile]) -> Picked | str:
        """Adaptive selection among many VIPs: every face embedded (:meth:`select` over the catalogue's index),
        then the chosen VIP's profile decoded; or the message why there is none to judge (its row is corrupt, it
        was removed meanwhile, or the faces' embedder is not the VIPs')."""
        embedder = self.embedder
        maps = embedder.feature_maps(np.stack([f.aligned for f in faces]))
        vectors = embedder.embed_maps(maps)
        if vectors.shape[1] != catalogue.dim:  # every centre is another embedder's: the refusal names one
            return self.refusal(self.registry.load().profiles) or (
                f"the enrolled centres have {catalogue.dim} dimensions, the faces' embedder {vectors.shape[1]}")
        face_i, vip_i, claimed = self.select(vectors, catalogue.index, None)
        try:
            profile = catalogue.profile(vip_i)
        except (CorruptProfile, UnknownVip) as exc:
            return str(exc)
        return Picked(Loaded((profile,), (), self.registry.codec), face_i, claimed, vectors, maps[face_i])

    def refusal(self, profiles: Sequence[VipProfile]) -> str | None:
        """Why faces embedded by this Guard's embedder cannot be compared with ``profiles`` (one was made by
        another embedder: the message names both), or None. Asked once a face is found, before any comparison
        (and before their centres are indexed: another embedder's could not even be stacked with them)."""
        identity = self.embedder.identity
        try:
            for profile in profiles:
                profile.require_embedder(identity)
                if profile.second is not None:
                    profile.require_second(self.analyzer.embedder(profile.second.embedder.name).identity)
        except EmbedderMismatch as exc:
            return str(exc)
        return None

    def select(self, embeddings: np.ndarray, index: VipIndex, vip: str | None) -> tuple[int, int, bool]:
        """Adaptive selection: (face index, VIP index in ``index``, whether that face claims the VIP). With ``vip``
        given the face nearest to it is judged; otherwise the nearest (face, VIP) pair, unless it is below the
        threshold (then the dominant face and its nearest VIP, unclaimed)."""
        sims, nearest = index.search(np.asarray(embeddings), k=1)  # each face's nearest VIP
        face_i = int(np.argmax(sims[:, 0]))
        if vip is not None or float(sims[face_i, 0]) >= self.config.select_threshold:
            return face_i, int(nearest[face_i, 0]), True
        return 0, int(nearest[0, 0]), False

    def faces(self, image: np.ndarray) -> tuple[list[Face], int]:
        """Every face to judge (dominant first, at least ``min_face`` px), and how many ``max_faces`` left out."""
        found = self.analyzer.analyze(image, embedders=(), mesh=False)
        big = [f for f in found if min(f.detection.box[2] - f.detection.box[0],
                                       f.detection.box[3] - f.detection.box[1]) >= self.config.min_face] or found[:1]
        cap = self.config.max_faces
        return (big, 0) if cap is None else (big[:cap], max(len(big) - cap, 0))

    def check(self, image: np.ndarray, vip: str | None = None, source: str = "<image>") -> Verdict:
        catalogue = self.catalogue(vip)
        candidates = catalogue if catalogue is not None else self.candidates(vip)
        if isinstance(candidates, str):
            return Verdict.failed(source, candidates)
        faces, cut = self.faces(image)
        if not faces:
            return Verdict(source, vip, "no_face", None, 0, "No face was found in this image.")
        picked = None if catalogue is None else self.pick(faces, catalogue)  # many VIPs: the nearest, alone
        if isinstance(picked, str):
            return Verdict.failed(source, picked)
        if picked is not None:
            candidates = picked.candidates
        profiles = candidates.profiles
        fast = self.config.detail == "fast" and all(set(p.head.features) <= FAST_FEATURES for p in profiles)
        refused = self.refusal(profiles)
        if refused is not None:
            return Verdict.failed(source, refused)
        index = candidates.index
        # with several faces, all are embedded to find the one that claims a VIP; only that one is described in
        # full, from the feature map already computed (a single face is described at once: its descriptor
        # carries the same embedding)
        feature_map = None
        if picked is not None:
            face_i, vip_i, claimed, vectors, feature_map = picked.face, 0, picked.claimed, picked.vectors, picked.map
        elif len(faces) > 1:
            embedder = self.embedder
            maps = embedder.feature_maps(np.stack([f.aligned for f in faces]))
            vectors = embedder.embed_maps(maps)
            face_i, vip_i, claimed = self.select(vectors, index, vip)
            feature_map = maps[face_i]
        else:
            face_i = 0
        face = faces[face_i] if fast else self.analyzer.with_mesh(image, faces[face_i], self.config.mesher)
        if fast:
            # --fast runs the artefact detector only where its score could move the check's (_artefact_may_change)
            descriptor = describe(image, face, self.embedder, feature_map=feature_map)
            artifact = None
        else:
            descriptor, artifact = describe_with(image, face, self.embedder, self.artifact, feature_map)
        if len(faces) == 1 and picked is None:
            vectors = descriptor.embeddings["global"][None]
            _, vip_i, claimed = self.select(vectors, index, vip)
        profile = profiles[vip_i]
        if artifact is None and self._artefact_may_change(descriptor, profile, claimed):
            artifact = self.artifact.score(image, face)
            descriptor = replace(descriptor, blend={**descriptor.blend, "artifact": artifact.score})
        measured = None if not fast else FAST_FEATURES if artifact is not None else FAST_FEATURES - {"artifact"}
        others = tuple({"box": [round(float(v), 1) for v in f.detection.box],
                        "face_similarity": face_score(float(vectors[i] @ profile.centre))}
                       for i, f in enumerate(faces) if i != face_i)
        verdict = self._judge(face, descriptor, artifact, profile, source, len(faces) + cut, claimed, measured,
                              self._second_embedding(image, face, profile))
        if cut:
            verdict = replace(verdict, explanation=verdict.explanation + f" {cut} more face(s) were not judged "
                              f"(max_faces={self.config.max_faces}).")
        return replace(verdict, other_faces=others, faces_not_judged=cut)

    def _artefact_may_change(self, descriptor: FaceDescriptor, profile: VipProfile, claimed: bool) -> bool:
        """Whether the artefact detector's score could move this face's score by more than
        :data:`.decision.VETO_NEGLIGIBLE` (:func:`.decision.veto_may_change`), decided without it: the score is
        min(head, genuine-range term, veto term), and the veto term only lowers it, so the check's score is at
        most min(the most the head can say over every artefact score, :meth:`.head.Head.highest`; the range term)
        — the head's own value where it does not read the score."""
        reads = "artifact" in profile.head.features
        if not reads and self.veto is None:
            return False
        evidence = compare(descriptor, profile)
        decision = profile.decide(evidence, value(evidence, SIMILARITY), self.config.select_threshold, claimed,
                                  rate=self.config.rate(profile), judged=False)
        head = profile.head.highest(evidence, "artifact") if reads else decision.head
        return veto_may_change(min(head, decision.range_anchor))

    def _second_embedding(self, image: np.ndarray, face: Face, profile: VipProfile) -> np.ndarray | None:
        """The face's embedding by ``profile``'s second recognizer (None: the VIP was enrolled without one).
        :meth:`refusal` has checked that this analyzer's copy of it is the one the profile was made with."""
        if profile.second is None:
            return None
        return self.analyzer.embedder(profile.second.embedder.name).embed(image, [face.detection])[0]

    def _judge(self, face: Face, descriptor: FaceDescriptor, artifact, profile: VipProfile, source: str,
               n_faces: int, claimed: bool, measured: frozenset[str] | None = None,
               second: np.ndarray | None = None) -> Verdict:
        """The verdict on one described face; ``artifact`` is the artefact detector's result, or None where it
        was not run (``measured`` then leaves its score out); ``second``: its embedding by the VIP's second
        recognizer, if the VIP has one."""
        evidence = compare(descriptor, profile)
        # too blurred for its operating point: shown, not judged; not run (--fast, where it could not move the
        # score): the head reads the VIP's typical value
        judged = artifact is not None and artifact.judged
        decision = profile.decide(evidence, value(evidence, SIMILARITY), self.config.select_threshold, claimed,
                                  rate=self.config.rate(profile), artifact=None if artifact is None else artifact.score,
                                  veto=self.veto_for(artifact), judged=judged, second=second)
        verdict, score = decision.verdict, decision.score
        vip_name = profile.name if claimed else None
        similarity = face_score(decision.similarity)
        # genuine: what speaks for the VIP against the negatives seen at enrolment; otherwise: what departs from
        # the VIP's typical genuine photo
        reference = None if verdict == "genuine" else profile.typical
        contributions = profile.head.contributions(profile.head_evidence(evidence, judged), reference)
        where = None if artifact is None else artifact.where
        text = explain(decision, vip_name, evidence, profile.typical, contributions, where, measured)
        if artifact is not None and not judged and self.veto is not None:
            text += " " + unjudged_phrase(artifact.sharpness, artifact.min_sharpness)
        return Verdict(
            path=source, vip=vip_name, verdict=verdict, score=score, face_similarity=similarity, explanation=text,
            box=face.detection.box, faces=n_faces,
            evidence={f: float(v) for f, v in zip(FEATURES, evidence) if measured is None or f in measured},
            typical={f: float(v) for f, v in zip(FEATURES, profile.typical) if measured is None or f in measured},
            artifact_where=where, boundary=None if artifact is None else artifact.boundary,
            face_crop=None if artifact is None else artifact.crop, decision=decision,
            decided_by=deciding(decision, contributions, where) if vip_name is not None else None,
        )
