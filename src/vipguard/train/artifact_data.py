"""Training data for the artefact detector: aligned face crops of LFW's *other* identities plus their geometry.

The face pipeline runs once per photo; the ``size``×``size`` crops in the detector's crop geometry
(:mod:`vipguard.artifact.crop`: aligned, or the photo's native pixel grid), the 5 landmarks and the 478 mesh points —
both mapped into the crop frame — are cached to one ``.npz`` under a cache directory (never in the repository).
The 19 protected identities are never used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..artifact.config import ArtifactConfig

VIP_IDENTITIES: tuple[str, ...] = (
    "Tony_Blair", "Gerhard_Schroeder", "George_W_Bush", "Donald_Rumsfeld", "Colin_Powell", "Ariel_Sharon",
    "Hugo_Chavez", "Junichiro_Koizumi", "Jean_Chretien", "John_Ashcroft", "Serena_Williams", "Jacques_Chirac",
    "Vladimir_Putin", "Luiz_Inacio_Lula_da_Silva", "Gloria_Macapagal_Arroyo", "Jennifer_Capriati",
    "Arnold_Schwarzenegger", "Lleyton_Hewitt", "Laura_Bush",
)


@dataclass(frozen=True)
class FaceCrops:
    """Aligned crops and their geometry, all in the crop frame.

    ``points`` is (N, 478, 2) with NaN rows where MediaPipe found no mesh; ``landmarks`` is (N, 5, 2).
    """

    images: np.ndarray  # (N, S, S, 3) uint8 RGB
    landmarks: np.ndarray  # (N, 5, 2) float32
    points: np.ndarray  # (N, 478, 2) float32, NaN where no mesh
    identities: np.ndarray  # (N,) str
    paths: np.ndarray  # (N,) str

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, index: Sequence[int] | np.ndarray) -> FaceCrops:
        idx = np.asarray(index, dtype=np.int64)
        return FaceCrops(self.images[idx], self.landmarks[idx], self.points[idx], self.identities[idx],
                         self.paths[idx])

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, images=self.images, landmarks=self.landmarks, points=self.points,
                            identities=self.identities.astype(str), paths=self.paths.astype(str))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> FaceCrops:
        with np.load(path, allow_pickle=False) as z:
            return cls(z["images"], z["landmarks"], z["points"], z["identities"], z["paths"])


def is_held_out(identity: str, fraction: float = 0.1) -> bool:
    """Stable identity-level split: ``fraction`` of identities (by SHA-256 of the name) are held out."""
    h = int.from_bytes(hashlib.sha256(identity.encode()).digest()[:4], "big")
    return h / 2**32 < fraction


def other_photos(lfw_dir: Path, per_identity: int = 4, held_out: bool | None = None,
                 exclude: Iterable[str] = VIP_IDENTITIES) -> list[Path]:
    """LFW photos of identities not in ``exclude`` (at most ``per_identity`` each, in name order).

    ``held_out`` None: all identities; True/False: only the held-out / training identities.
    """
    lfw_dir = Path(lfw_dir)
    if not lfw_dir.is_dir():
        raise FileNotFoundError(f"LFW folder not found: {lfw_dir}")
    banned = set(exclude)
    out: list[Path] = []
    for person in sorted(p for p in lfw_dir.iterdir() if p.is_dir()):
        if person.name in banned:
            continue
        if held_out is not None and is_held_out(person.name) != held_out:
            continue
        out.extend(sorted(person.glob("*.jpg"))[:per_identity])
    return out


def crop_face(image: np.ndarray, landmarks: np.ndarray, mesh_points: np.ndarray | None,
              config: ArtifactConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(crop, landmarks, points) in ``config``'s crop frame; points are NaN when ``mesh_points`` is None."""
    from ..artifact.crop import face_crop
    from ..faces.align import transform_points

    crop, matrix = face_crop(image, landmarks, config)
    lms = transform_points(landmarks, matrix).astype(np.float32)
    if mesh_points is None:
        pts = np.full((478, 2), np.nan, np.float32)
    else:
        pts = transform_points(mesh_points, matrix).astype(np.float32)
    return crop, lms, pts


def build_crops(paths: Sequence[Path], analyzer: object, config: ArtifactConfig, progress: bool = True) -> FaceCrops:
    """Run ``analyzer`` (a :class:`~vipguard.faces.FaceAnalyzer`) on each photo; keep the primary face."""
    from tqdm import tqdm

    from ..infra.io import InputError, load_image

    images, lms, pts, ids, kept = [], [], [], [], []
    for path in tqdm(paths, desc="faces", disable=not progress, mininterval=5.0):
        try:
            rgb = load_image(path)
        except InputError:
            continue
        faces = analyzer.analyze(rgb, primary_only=True, embedders=())
        if not faces:
            continue
        face = faces[0]
        crop, lm, pt = crop_face(rgb, face.detection.landmarks, face.mesh.points if face.mesh else None,
                                 config)
        images.append(crop)
        lms.append(lm)
        pts.append(pt)
        ids.append(Path(path).parent.name)
        kept.append(str(path))
    if not images:
        raise ValueError("no faces found in the given photos")
    return FaceCrops(np.stack(images), np.stack(lms), np.stack(pts), np.array(ids), np.array(kept))


def cache_name(config: ArtifactConfig, per_identity: int) -> str:
    """The cache file's name: one per crop geometry."""
    if config.crop == "native":
        geometry = f"native_s{config.size}_iod{config.iod:g}_r{config.max_rescale:g}"
    else:
        geometry = f"s{config.size}_m{int(config.margin * 100)}"
    return f"lfw_others_{geometry}_p{per_identity}.npz"


def load_or_build(lfw_dir: Path, cache_dir: Path, config: ArtifactConfig, per_identity: int = 4,
                  progress: bool = True) -> FaceCrops:
    """The cached crops of all non-VIP identities (built once, then read from ``cache_dir``)."""
    cache = Path(cache_dir) / cache_name(config, per_identity)
    if cache.is_file():
        return FaceCrops.load(cache)
    from ..faces import AnalyzerConfig, FaceAnalyzer

    paths = other_photos(lfw_dir, per_identity)
    with FaceAnalyzer(AnalyzerConfig(embedders=(), num_threads=1)) as analyzer:
        crops = build_crops(paths, analyzer, config, progress)
    crops.save(cache)
    return crops


def split(crops: FaceCrops, fraction: float = 0.1) -> tuple[FaceCrops, FaceCrops]:
    """(train, held-out) by identity."""
    held = np.array([is_held_out(str(i), fraction) for i in crops.identities], dtype=bool)
    return crops.subset(np.flatnonzero(~held)), crops.subset(np.flatnonzero(held))


def train_val_test(crops: FaceCrops, fraction: float = 0.1) -> tuple[FaceCrops, FaceCrops, FaceCrops]:
    """(train, validation, test) by identity: :func:`split`'s held-out identities halved by SHA-256 of the name
    (validation: epoch selection and the operating threshold; test: the model card). With no training identity
    left (a tiny set), the held-out faces train too."""
    train, held = split(crops, fraction)
    if len(train) == 0:
        train = held
    val_mask = np.array([int(hashlib.sha256(str(i).encode()).hexdigest(), 16) % 2 == 0 for i in held.identities],
                        dtype=bool)
    return train, held.subset(np.flatnonzero(val_mask)), held.subset(np.flatnonzero(~val_mask))
