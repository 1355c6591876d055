"""Head pose from a dense mesh: MediaPipe's face geometry pipeline, in numpy.

MediaPipe's FaceLandmarker gives a *facial transformation matrix*: the weighted orthogonal Procrustes fit (with
scale) of its canonical face model to the mesh, after the mesh is lifted from the screen into metric space with a
virtual perspective camera (63° vertical field of view, near plane 1) in two scale-estimation passes
(``geometry_pipeline.cc``: ScreenToMetricSpaceConverter). :func:`pose_transform` is that computation; given the
same landmarks and frame it reproduces MediaPipe's matrix to ~2e-5 (``tests/test_faces.py``). The canonical model
and the Procrustes weights come from ``geometry_pipeline_metadata_landmarks.binarypb`` inside the verified
``face_landmarker.task`` (:meth:`CanonicalFace.from_metadata`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..infra import protowire as pw

# geometry_pipeline_metadata.proto: GeometryPipelineMetadata{canonical_mesh = 1, procrustes_landmark_basis = 2,
# input_source = 3}; Mesh3d{vertex_type = 1, vertex_buffer = 3}; WeightedLandmarkRef{landmark_id = 1, weight = 2}
VERTEX_PT = 0  # Mesh3d.VertexType: position (x, y, z) then texture (u, v) per vertex
FACE_DETECTION_PIPELINE = 2  # InputSource whose landmarks have no depth (not the landmark model's metadata)
FOV_DEGREES, NEAR = 63.0, 1.0  # MediaPipe's default environment (perspective camera)


class GeometryError(ValueError):
    """The metadata is not a face geometry pipeline for the dense landmark model."""


@dataclass(frozen=True)
class CanonicalFace:
    """MediaPipe's canonical face model: ``points`` (3, V) metric positions and ``weights`` (V,) Procrustes
    weights (non-zero on a few stable landmarks)."""

    points: np.ndarray
    weights: np.ndarray

    @property
    def basis(self) -> np.ndarray:
        """Indices of the landmarks with a Procrustes weight (the only ones a weighted fit depends on)."""
        return np.flatnonzero(self.weights)

    @classmethod
    def from_metadata(cls, data: bytes) -> CanonicalFace:
        """From a ``geometry_pipeline_metadata_landmarks.binarypb``."""
        message = pw.fields(data)
        source = pw.first(message, 3)
        if source is not None and pw.varint(source) == FACE_DETECTION_PIPELINE:
            raise GeometryError("the geometry metadata is for face-detection landmarks, not the dense mesh")
        mesh = pw.first(message, 1)
        if mesh is None:
            raise GeometryError("the geometry metadata has no canonical mesh")
        mesh_fields = pw.fields(mesh)
        kind = pw.first(mesh_fields, 1)
        if kind is not None and pw.varint(kind) != VERTEX_PT:
            raise GeometryError("the canonical mesh is not stored as position + texture vertices")
        vertices = np.asarray(pw.floats(mesh_fields, 3), np.float64)
        if not len(vertices) or len(vertices) % 5:
            raise GeometryError("the canonical mesh's vertex buffer is not a whole number of vertices")
        points = vertices.reshape(-1, 5)[:, :3].T.copy()
        weights = np.zeros(points.shape[1])
        for n, _, payload in message:
            if n == 2:
                ref = pw.fields(payload)
                landmark = pw.varint(pw.first(ref, 1) or b"\0")
                if landmark >= len(weights):
                    raise GeometryError(f"a Procrustes landmark ({landmark}) is outside the canonical mesh")
                weights[landmark] = pw.floats(ref, 2)[0] if pw.floats(ref, 2) else 0.0
        if not weights.any():
            raise GeometryError("the geometry metadata has no Procrustes landmarks")
        return cls(points=points, weights=weights)


def procrustes(source: np.ndarray, target: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The 4×4 similarity transform (rotation · scale, translation; no reflection) that best maps ``source``
    (3, N) onto ``target`` (3, N) in the weighted least-squares sense."""
    root = np.sqrt(weights)
    ws, wt = source * root, target * root
    total = float(weights.sum())
    centred = ws - ((ws * root).sum(1) / total)[:, None] * root[None]
    u, _, vt = np.linalg.svd(wt @ centred.T)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        u[:, 2] *= -1
    rotation = u @ vt
    scaled = rotation * (((rotation @ centred) * wt).sum() / (centred * ws).sum())
    out = np.eye(4)
    out[:3, :3] = scaled
    out[:3, 3] = ((wt - scaled @ ws) * root).sum(1) / total
    return out


def pose_transform(canonical: CanonicalFace, screen: np.ndarray, width: float, height: float) -> np.ndarray:
    """MediaPipe's facial transformation matrix (4×4, canonical face → metric mesh) for ``screen`` (N, 3)
    landmarks normalised by a ``width``×``height`` frame (x, y in [0, 1] from the top-left corner; z scaled as x)."""
    n = canonical.points.shape[1]
    height_near = 2 * NEAR * math.tan(0.5 * math.radians(FOV_DEGREES))
    width_near = width * height_near / height
    s = np.asarray(screen, np.float64)[:n].T.copy()
    s[1] = 1.0 - s[1]  # origin at the top-left corner
    s *= np.array([width_near, height_near, width_near])[:, None]
    s[0] -= 0.5 * width_near
    s[1] -= 0.5 * height_near
    depth = s[2].mean()  # over every landmark; each fit below is weighted, so only the basis takes part in them
    basis = canonical.basis
    s = s[:, basis]
    source, weights = canonical.points[:, basis], canonical.weights[basis]

    def metric(scale: float) -> np.ndarray:
        m = s.copy()
        m[2] = (m[2] - depth + NEAR) / scale
        m[:2] *= m[2] / NEAR
        m[2] *= -1.0  # screen space is left-handed, metric space right-handed
        return m

    def scale_of(landmarks: np.ndarray) -> float:
        return float(np.linalg.norm(procrustes(source, landmarks, weights)[:3, 0]))

    flipped = s.copy()
    flipped[2] *= -1.0
    first = scale_of(flipped)  # first pass on the projected points: unprojecting needs a scale
    second = scale_of(metric(first))
    return procrustes(source, metric(first * second), weights)
