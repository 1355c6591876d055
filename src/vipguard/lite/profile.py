"""VipProfile: what vipguard knows of one VIP (the lite tier's analogue of the paper's VIP token), and
:data:`PROFILE_CODEC`, how the registry (:class:`vipguard.infra.registry.Registry`) stores and lists profiles."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field

import numpy as np

from ..faces.embed import DEFAULT_EMBEDDER, EmbedderId
from .decision import FEATURES, Decision, GenuineRange, SecondOpinion, decide, for_head, reject_rate
from .evidence import ID_PARTS, PATCH_PARTS
from .head import Head

PROFILE_VERSION = 5  # 5: the genuine range (open-set verification); since then, optionally, the embedder's record
# A profile written before it recorded its embedder: every such profile was made by the default embedder
# (MobileFaceNet, the only one enrolment has used) from the one weight file the model store accepts for it; it is
# taken as that embedder's, with whatever weights the store verifies under that name.
UNRECORDED_EMBEDDER = EmbedderId(DEFAULT_EMBEDDER, None)


class EmbedderMismatch(ValueError):
    """A profile made with one embedder was about to be compared with faces embedded by another."""


@dataclass(frozen=True)
class SecondRecognizer:
    """A second-opinion recognizer's part of a profile (``vipguard enroll --second-opinion``): which embedder, the
    VIP's whole-face centre by it, and the VIP's genuine range by it."""

    embedder: EmbedderId
    centre: np.ndarray
    genuine: GenuineRange

    def opinion(self, embedding: np.ndarray) -> SecondOpinion:
        """Its view of a face with this (L2-normalised) embedding by the same embedder."""
        return SecondOpinion(self.embedder.name, float(np.dot(np.asarray(embedding, np.float64),
                                                              self.centre.astype(np.float64))), self.genuine)


@dataclass(frozen=True)
class VipProfile:
    """Face Embedding Centres per part (mean of normalised embeddings, re-normalised), per-region appearance
    templates, mesh geometry statistics, the typical evidence of genuine photos, and the calibrated ``head``
    (genuine VIP vs other people and forgeries of the VIP, trained 1 : 5 : 5)."""

    name: str
    centres: dict[str, np.ndarray]
    patches: dict[str, np.ndarray]
    geometry_mean: np.ndarray
    geometry_std: np.ndarray
    typical: np.ndarray  # centre of the genuine enrolment photos' evidence (lite.head.central), ordered as FEATURES
    head: Head
    genuine: GenuineRange  # where the VIP's genuine photos' whole-face similarity lies (decision.GenuineRange)
    meta: dict = field(default_factory=dict)  # photos used/rejected, operating point, enrolment settings, timings
    embedder: EmbedderId = UNRECORDED_EMBEDDER  # which embedder (name, weights SHA-256) made the centres
    second: SecondRecognizer | None = None  # a second recognizer's centre and range, if enrolled with one

    def require_embedder(self, embedder: EmbedderId) -> None:
        """Raise :class:`EmbedderMismatch`, naming both, unless faces embedded by ``embedder`` may be compared with
        this profile."""
        if not self.embedder.accepts(embedder):
            raise EmbedderMismatch(f"VIP {self.name!r} was enrolled with the embedder {self.embedder} and cannot be "
                                   f"compared with faces embedded by {embedder}; re-enrol {self.name} with "
                                   "`vipguard enroll`")

    def require_second(self, embedder: EmbedderId) -> None:
        """As :meth:`require_embedder`, for the second recognizer (:attr:`second`)."""
        if self.second is not None and not self.second.embedder.accepts(embedder):
            raise EmbedderMismatch(f"VIP {self.name!r} was enrolled with the second opinion {self.second.embedder} "
                                   f"and cannot be compared with faces embedded by {embedder}; re-enrol {self.name} "
                                   "with `vipguard enroll --second-opinion`")

    @property
    def reject_rate(self) -> float:
        """The operating point chosen at enrolment: the expected genuine-reject rate."""
        return reject_rate(self.meta.get("reject_rate"))

    @property
    def identity_threshold(self) -> float:
        """The similarity other people reach to this VIP (99.5th percentile at enrolment)."""
        return float(self.meta.get("identity_threshold", 0.0))

    def head_evidence(self, evidence: np.ndarray, judged: bool = True) -> np.ndarray:
        """The evidence a head reads for this VIP (:func:`vipguard.lite.decision.for_head`): as measured, with the
        VIP's typical genuine artefact score where the detector does not judge the crop (``judged`` False)."""
        return for_head(evidence, self.typical, judged)

    def decide(self, evidence: np.ndarray, similarity: float, select_threshold: float, claimed: bool = True,
               rate: float | None = None, head: float | None = None, artifact: float | None = None,
               veto: float | None = None, judged: bool = True, second: np.ndarray | None = None) -> Decision:
        """The verdict for one face (:func:`vipguard.lite.decision.decide`): this VIP's head (or ``head``, e.g. the
        MLLM's probability) and genuine range, at ``rate`` (default: the enrolment operating point), with the
        artefact veto where ``artifact`` and ``veto`` are given. ``judged`` False: the artefact detector does not
        judge this crop (too blurred), so the head reads the VIP's typical genuine score instead
        (:meth:`head_evidence`); pass ``veto`` None then too. ``second``: the face's embedding by this profile's
        second recognizer (:attr:`second`); without it the first recognizer decides alone, at the whole rate."""
        p = float(self.head.predict(self.head_evidence(evidence, judged))[0]) if head is None else head
        opinion = None if second is None or self.second is None else self.second.opinion(second)
        return decide(p, similarity, self.genuine, self.reject_rate if rate is None else rate,
                      self.identity_threshold, select_threshold, claimed, artifact, veto, opinion)

    @property
    def centre(self) -> np.ndarray:
        return self.centres["global"]

    def to_blobs(self) -> tuple[str, bytes]:
        """(JSON text, npz bytes) for the registry."""
        doc = {"version": PROFILE_VERSION, "name": self.name, "features": list(FEATURES),
               "head": self.head.to_dict(), "genuine": self.genuine.to_dict(), "meta": self.meta,
               "embedder": self.embedder.to_dict()}
        arrays = {f"centre_{k}": v for k, v in self.centres.items()}
        if self.second is not None:
            doc["second"] = {"embedder": self.second.embedder.to_dict(), "genuine": self.second.genuine.to_dict()}
            arrays["second_centre"] = self.second.centre
        arrays |= {f"patch_{k}": v for k, v in self.patches.items()}
        arrays |= {"geometry_mean": self.geometry_mean, "geometry_std": self.geometry_std, "typical": self.typical}
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return json.dumps(doc), buf.getvalue()

    @classmethod
    def from_blobs(cls, text: str, blob: bytes) -> VipProfile:
        doc = json.loads(text)
        if doc.get("version") != PROFILE_VERSION:
            raise ValueError(f"profile version {doc.get('version')} is not supported (expected {PROFILE_VERSION}); "
                             f"re-enrol {doc.get('name', 'this VIP')} with `vipguard enroll`")
        if tuple(doc["features"]) != FEATURES:
            raise ValueError("profile was built with a different evidence layout; re-enrol this VIP")
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        return cls(
            name=doc["name"],
            centres={k: arrays[f"centre_{k}"] for k in ID_PARTS},
            patches={k: arrays[f"patch_{k}"] for k in PATCH_PARTS},
            geometry_mean=arrays["geometry_mean"], geometry_std=arrays["geometry_std"], typical=arrays["typical"],
            head=Head.from_dict(doc["head"]), genuine=GenuineRange.from_dict(doc["genuine"]), meta=doc["meta"],
            embedder=EmbedderId.from_dict(doc["embedder"]) if "embedder" in doc else UNRECORDED_EMBEDDER,
            second=SecondRecognizer(EmbedderId.from_dict(doc["second"]["embedder"]), arrays["second_centre"],
                                    GenuineRange.from_dict(doc["second"]["genuine"])) if "second" in doc else None,
        )


class ProfileCodec:
    """VipProfile ↔ a registry row (JSON text and npz arrays), for :class:`vipguard.infra.registry.Registry`."""

    columns = ("photos_used", "enrolled")  # a listing's columns besides the name (:meth:`summary`)

    @staticmethod
    def encode(profile: VipProfile) -> tuple[str, bytes]:
        return profile.to_blobs()

    @staticmethod
    def decode(text: str, blob: bytes) -> VipProfile:
        if not blob.startswith(b"PK"):  # numpy would try to unpickle it (refused: allow_pickle=False)
            raise zipfile.BadZipFile("not a zip archive")
        return VipProfile.from_blobs(text, blob)

    @staticmethod
    def summary(profile: VipProfile) -> dict:
        """The profile's row in a listing of the registry (``vipguard list``), without the name."""
        return {"photos_used": profile.meta.get("used", 0), "enrolled": profile.meta.get("enrolled")}


PROFILE_CODEC = ProfileCodec()
