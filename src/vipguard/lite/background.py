"""The bundled background set: other people's faces that enrolment needs as negatives on a user's machine.

``data/background.npz`` holds VIP-independent descriptors (:class:`~vipguard.lite.evidence.FaceDescriptor`) of a few
hundred LFW faces of people who are none of the benchmark VIPs, and ``data/targets/`` a few dozen of their
photos that enrolment forges the VIP into (their faces pre-computed in ``data/targets.npz``; their descriptors
are part of the background set). Built by ``tools/build_background.py``; see ``data/ATTRIBUTION.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..faces.align import norm_crop
from ..faces.mesh import pose_from_matrix
from ..faces.types import Detection, Face, Mesh
from .evidence import FaceDescriptor


@dataclass(frozen=True)
class Target:
    """A bundled target photo and its pre-computed face (detection and mesh), ready for forging."""

    path: Path
    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray
    points: np.ndarray
    matrix: np.ndarray

    def face(self, image: np.ndarray) -> Face:
        detection = Detection(self.box, self.score, self.landmarks)
        mesh = Mesh(self.points, {}, self.matrix, pose_from_matrix(self.matrix))
        return Face(detection=detection, aligned=norm_crop(image, self.landmarks), mesh=mesh)


@dataclass(frozen=True)
class Background:
    descriptors: list[FaceDescriptor]
    identities: list[str]
    targets: list[Target]


def data_dir() -> Path:
    return Path(str(resources.files("vipguard") / "data"))


def save_descriptors(path: Path, descriptors: list[FaceDescriptor], identities: list[str]) -> None:
    stacked: dict[str, np.ndarray] = {}
    rows = [d.to_arrays() for d in descriptors]
    for key in rows[0]:
        values = np.stack([r[key] for r in rows])
        stacked[key] = values.astype(np.float16) if values.dtype == np.float32 else values
    np.savez_compressed(path, identities=np.array(identities), **stacked)


def load_descriptors(path: Path) -> tuple[list[FaceDescriptor], list[str]]:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    identities = [str(s) for s in arrays.pop("identities")]
    n = len(identities)
    out = []
    for i in range(n):
        row = {k: (v[i].astype(np.float32) if v.dtype == np.float16 else v[i]) for k, v in arrays.items()}
        out.append(FaceDescriptor.from_arrays(row))
    return out, identities


def save_targets(path: Path, names: list[str], faces: list[Face]) -> None:
    np.savez_compressed(
        path, names=np.array(names), boxes=np.array([f.detection.box for f in faces], np.float32),
        scores=np.array([f.detection.score for f in faces], np.float32),
        landmarks=np.stack([f.detection.landmarks for f in faces]).astype(np.float32),
        points=np.stack([f.mesh.points for f in faces]).astype(np.float32),
        matrices=np.stack([f.mesh.matrix for f in faces]).astype(np.float32),
    )


def load_background(folder: Path | None = None) -> Background:
    folder = folder or data_dir()
    descriptors, identities = load_descriptors(folder / "background.npz")
    with np.load(folder / "targets.npz", allow_pickle=False) as npz:
        targets = [
            Target(folder / "targets" / str(name), tuple(float(v) for v in box), float(score), lmk, pts, mat)
            for name, box, score, lmk, pts, mat in zip(
                npz["names"], npz["boxes"], npz["scores"], npz["landmarks"], npz["points"], npz["matrices"])
        ]
    return Background(descriptors, identities, targets)
