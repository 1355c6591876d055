"""Per-face descriptors and per-region evidence against a VIP profile.

Two steps, so that descriptors of other people can be shipped once and compared with any VIP later:

1. :func:`describe` — VIP-independent descriptors of one face (:class:`FaceDescriptor`): identity embeddings of
   the whole aligned face, of the eyes, of the inner face and of the outer face/context (ICT-style; one
   MobileFaceNet pass, its last feature map pooled over each region's mask), small appearance templates of the eyes, nose and mouth, the mesh in the aligned frame, and blending cues.
2. :func:`compare` — the evidence vector of a descriptor against a VIP's :class:`Reference` (a
   :class:`~vipguard.lite.profile.VipProfile`): similarities to the VIP's per-region centres, inner/outer identity
   consistency, geometry deviations and blending cues, with the stable feature names of
   :data:`vipguard.lite.decision.FEATURES` (the one feature table).

The evidence sources are given, never reached for: the identity embedder (a
:class:`~vipguard.faces.embed.RegionEmbedder`) and the artefact scorer (an :class:`ArtifactScorer`, the trained
detector of :mod:`vipguard.artifact`) are built where the Guard and the Enroller are composed, and passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from ..faces.align import estimate_norm, transform_points
from ..faces.embed import RegionEmbedder
from ..faces.regions import region_indices, region_mask
from ..faces.types import Face
from .decision import FEATURES

if TYPE_CHECKING:
    from ..artifact.detector import ArtifactResult

CROP = 112
ID_PARTS = ("global", "eyes", "inner", "outer")  # identity embeddings (MobileFaceNet)
PATCH_PARTS = ("eyes", "nose", "mouth")  # appearance templates
GEOMETRY_PARTS = ("eyes", "nose", "mouth", "outline")
PATCH = 20


class ArtifactScorer(Protocol):
    """An artefact evidence source (:class:`vipguard.artifact.detector.ArtifactDetector`): the probability that a
    face was blended in, the boundary map and where it lies; and the veto its operating point sets."""

    @property
    def veto(self) -> float | None:
        """A score at or above which a genuine verdict is ruled out (None: no veto)."""

    def score(self, image: np.ndarray, face: Face) -> ArtifactResult:
        """The artefact result for ``face`` in the RGB ``image``."""


class Reference(Protocol):
    """What :func:`compare` reads of a VIP (a :class:`~vipguard.lite.profile.VipProfile`): per-part identity centres
    and appearance templates, and the mesh geometry's mean and spread."""

    centres: dict[str, np.ndarray]
    patches: dict[str, np.ndarray]
    geometry_mean: np.ndarray
    geometry_std: np.ndarray


@dataclass(frozen=True, slots=True)
class FaceDescriptor:
    """VIP-independent measurements of one face (all in the 112×112 ArcFace-aligned frame)."""

    embeddings: dict[str, np.ndarray]  # ID_PARTS -> (192,) L2-normalised
    patches: dict[str, np.ndarray]  # PATCH_PARTS -> (PATCH*PATCH,) zero-mean unit-norm grey patch
    geometry: np.ndarray  # (478, 2) mesh in the aligned frame, or zeros when no mesh
    blend: dict[str, float]  # blending cues
    has_mesh: bool

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {f"emb_{k}": v for k, v in self.embeddings.items()}
        out |= {f"patch_{k}": v for k, v in self.patches.items()}
        out["geometry"] = self.geometry
        out["blend"] = np.array([self.blend[k] for k in ("colour", "sharpness", "artifact")], np.float32)
        out["has_mesh"] = np.array(self.has_mesh)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> FaceDescriptor:
        blend = np.asarray(arrays["blend"], np.float32)
        return cls(
            embeddings={k: np.asarray(arrays[f"emb_{k}"], np.float32) for k in ID_PARTS},
            patches={k: np.asarray(arrays[f"patch_{k}"], np.float32) for k in PATCH_PARTS},
            geometry=np.asarray(arrays["geometry"], np.float32),
            blend={"colour": float(blend[0]), "sharpness": float(blend[1]), "artifact": float(blend[2])},
            has_mesh=bool(arrays["has_mesh"]),
        )


def _soft(mask: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    return cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), sigma)[..., None]


def _cells(weight: np.ndarray, side: int) -> np.ndarray:
    """A (CROP, CROP, 1) soft mask averaged onto the embedder's ``side``×``side`` feature-map cells."""
    return cv2.resize(weight[..., 0], (side, side), interpolation=cv2.INTER_AREA)


def _patch(grey: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Zero-mean unit-norm grey patch around a region's points (square box, resized to PATCH×PATCH)."""
    x1, y1 = np.floor(points.min(0)).astype(int)
    x2, y2 = np.ceil(points.max(0)).astype(int)
    cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) / 2 + 2
    xa, ya = int(max(0, cx - half)), int(max(0, cy - half))
    xb, yb = int(min(CROP, cx + half)), int(min(CROP, cy + half))
    if xb - xa < 4 or yb - ya < 4:
        return np.zeros(PATCH * PATCH, np.float32)
    patch = cv2.resize(grey[ya:yb, xa:xb], (PATCH, PATCH), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    patch -= patch.mean()
    return patch / max(float(np.linalg.norm(patch)), 1e-6)


def _blend_cues(crop: np.ndarray, face_mask: np.ndarray) -> dict[str, float]:
    """Colour and sharpness discontinuities across the face boundary (a pasted face rarely matches both)."""
    inner = cv2.erode(face_mask, np.ones((7, 7), np.uint8))
    ring_in = cv2.subtract(face_mask, inner) > 0
    ring_out = cv2.subtract(cv2.dilate(face_mask, np.ones((7, 7), np.uint8)), face_mask) > 0
    core = cv2.erode(face_mask, np.ones((15, 15), np.uint8)) > 0
    if ring_in.sum() < 10 or ring_out.sum() < 10 or core.sum() < 10:
        return {"colour": 0.0, "sharpness": 0.0}
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    colour = float(np.linalg.norm(lab[ring_in].mean(0) - lab[ring_out].mean(0)) / 100.0)
    lap = np.abs(cv2.Laplacian(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32), cv2.CV_32F))
    outside = cv2.dilate(face_mask, np.ones((21, 21), np.uint8)) > 0
    outside &= face_mask == 0
    sharp_out = float(lap[outside].mean()) if outside.sum() > 10 else float(lap[core].mean())
    sharpness = float(np.log((lap[core].mean() + 1.0) / (sharp_out + 1.0)))
    return {"colour": colour, "sharpness": sharpness}


def describe(image: np.ndarray, face: Face, embedder: RegionEmbedder, artifact: float = 0.0,
             feature_map: np.ndarray | None = None) -> FaceDescriptor:
    """Measure one analysed face (``face.mesh`` gives the regions; without it only the global parts are set).

    The identity parts come from one embedder pass: its last feature map (``feature_map`` when the caller has
    it already) pooled over the whole face and over each region's mask. ``artifact`` is the artefact
    detector's manipulation probability for this face (see :func:`describe_with`, which runs the detector too)."""
    crop = face.aligned
    matrix = estimate_norm(face.detection.landmarks)
    idx = region_indices()
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    if face.mesh is not None:
        geometry = transform_points(face.mesh.points, matrix).astype(np.float32)
        face_mask = region_mask(geometry, "face", (CROP, CROP))
        inner = _soft(region_mask(geometry, "inner", (CROP, CROP), dilate=2))
        eyes = _soft(region_mask(geometry, "eyes", (CROP, CROP), dilate=2))
        fmap = embedder.feature_maps(crop[None])[0] if feature_map is None else feature_map
        side = fmap.shape[0]
        regions = np.stack([np.ones((side, side), np.float32), _cells(eyes, side), _cells(inner, side),
                            _cells(1.0 - inner, side)])
        vectors = embedder.embed_pooled(fmap, regions)  # ID_PARTS from one pass: the map pooled per region
        patches = {p: _patch(grey, geometry[list(idx[p])]) for p in PATCH_PARTS}
        blend = _blend_cues(crop, face_mask)
    else:
        geometry = np.zeros((478, 2), np.float32)
        fmap = embedder.feature_maps(crop[None])[0] if feature_map is None else feature_map
        vectors = np.repeat(embedder.embed_maps(fmap[None]), len(ID_PARTS), axis=0)
        patches = {p: np.zeros(PATCH * PATCH, np.float32) for p in PATCH_PARTS}
        blend = {"colour": 0.0, "sharpness": 0.0}
    blend["artifact"] = float(artifact)
    return FaceDescriptor(
        embeddings=dict(zip(ID_PARTS, vectors)), patches=patches, geometry=geometry, blend=blend,
        has_mesh=face.mesh is not None,
    )


def _geometry_deviation(geometry: np.ndarray, mean: np.ndarray, std: np.ndarray, part: str) -> float:
    points = list(region_indices()[part])
    z = (geometry[points] - mean[points]) / np.maximum(std[points], 0.5)
    return float(np.sqrt((z**2).mean()))


def compare(descriptor: FaceDescriptor, profile: Reference) -> np.ndarray:
    """The evidence vector (ordered as :data:`FEATURES`) of a face against a VIP."""
    e = descriptor.embeddings
    c = profile.centres
    values = {
        "sim_global": float(e["global"] @ c["global"]),
        "sim_eyes": float(e["eyes"] @ c["eyes"]),
        "sim_inner": float(e["inner"] @ c["inner"]),
        "sim_outer": float(e["outer"] @ c["outer"]),
        "inner_outer": float(e["inner"] @ e["outer"]),
        "blend_colour": descriptor.blend["colour"],
        "blend_sharpness": descriptor.blend["sharpness"],
        "artifact": descriptor.blend["artifact"],
    }
    for part in PATCH_PARTS:
        values[f"patch_{part}"] = float(descriptor.patches[part] @ profile.patches[part])
    for part in GEOMETRY_PARTS:
        values[f"geom_{part}"] = (
            _geometry_deviation(descriptor.geometry, profile.geometry_mean, profile.geometry_std, part)
            if descriptor.has_mesh else 0.0
        )
    return np.array([values[name] for name in FEATURES], np.float32)


def describe_with(image: np.ndarray, face: Face, embedder: RegionEmbedder, artifact: ArtifactScorer,
                  feature_map: np.ndarray | None = None) -> tuple[FaceDescriptor, ArtifactResult]:
    """Descriptor of ``face`` with the artefact scorer's score in it; returns (descriptor, the scorer's result with
    ``score``, ``boundary`` and ``where``)."""
    result = artifact.score(image, face)
    return describe(image, face, embedder, artifact=result.score, feature_map=feature_map), result
