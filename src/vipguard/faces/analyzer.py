"""FaceAnalyzer: composes a detector, embedders and the mesh into one call per image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..infra.weights import ModelStore
from .align import norm_crop
from .detect import Detector, create_detector
from .embed import DEFAULT_EMBEDDER, Embedder, create_embedder
from .mesh import Mesher, create_mesher, known_mesher
from .quality import measure, primary_index
from .types import Face


@dataclass(frozen=True)
class AnalyzerConfig:
    detector: str = "yunet"
    embedders: tuple[str, ...] = (DEFAULT_EMBEDDER,)
    mesh: bool = True
    # the dense mesh of analyze() / with_mesh(), a name in faces.mesh.MESHERS: MediaPipe's task by default, since
    # enrolment's forgeries and profile statistics are made from it (a check may ask for another: GuardConfig.mesher)
    mesher: str = "mediapipe"
    num_threads: int | None = None  # inference threads of each model (None: the runtime's default)

    def __post_init__(self) -> None:
        known_mesher(self.mesher)  # raises ValueError naming the registered meshers


@dataclass
class FaceAnalyzer:
    """Detect → align → embed → mesh/pose → quality for each face in an RGB image.

    Models are built lazily on first use of each part, from ``store`` (verified files only).
    """

    config: AnalyzerConfig = field(default_factory=AnalyzerConfig)
    store: ModelStore = field(default_factory=ModelStore)

    def __post_init__(self) -> None:
        self._detector: Detector | None = None
        self._embedders: dict[str, Embedder] = {}
        self._meshers: dict[str, Mesher] = {}

    @property
    def detector(self) -> Detector:
        if self._detector is None:
            # onnxruntime's default pool (one thread per core, spinning) costs more than it gains on one photo at a
            # time, and oversubscribes a core that is pinned: one thread unless configured, as the artefact detector
            self._detector = create_detector(self.config.detector, store=self.store,
                                             num_threads=self.config.num_threads or 1)
        return self._detector

    def embedder(self, name: str) -> Embedder:
        if name not in self._embedders:
            self._embedders[name] = create_embedder(name, store=self.store, num_threads=self.config.num_threads)
        return self._embedders[name]

    @property
    def mesher(self) -> Mesher:
        """The configured mesher (``AnalyzerConfig.mesher``)."""
        return self.mesher_named(self.config.mesher)

    def mesher_named(self, name: str) -> Mesher:
        """The mesher registered as ``name`` in :data:`.mesh.MESHERS` (built on first use, then kept)."""
        if name not in self._meshers:
            self._meshers[name] = create_mesher(name, store=self.store, num_threads=self.config.num_threads)
        return self._meshers[name]

    def close(self) -> None:
        """Release native resources (MediaPipe's graph, where that mesher was used)."""
        for mesher in self._meshers.values():
            mesher.close()
        self._meshers.clear()

    def __enter__(self) -> FaceAnalyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def with_mesh(self, image: np.ndarray, face: Face, mesher: str | None = None) -> Face:
        """``face`` (analysed without the dense mesh) with its mesh, pose and quality measured now, by ``mesher``
        (a name in :data:`.mesh.MESHERS`; default ``AnalyzerConfig.mesher``)."""
        if face.mesh is not None:
            return face
        face_mesh = self.mesher_named(mesher or self.config.mesher).mesh(image, face.detection)
        return replace(face, mesh=face_mesh,
                       quality=measure(face.detection, face.aligned, face_mesh.pose if face_mesh else None))

    def reframe(self, image: np.ndarray, face: Face) -> Face:
        """``face`` (detection and mesh kept) on ``image``, a same-geometry copy of its photo (resampled, blurred,
        recompressed): aligned crop and quality measured again on the new pixels, embeddings dropped."""
        aligned = norm_crop(image, face.detection.landmarks)
        return replace(face, aligned=aligned, embeddings={},
                       quality=measure(face.detection, aligned, face.pose))

    def analyze(self, image: np.ndarray, max_faces: int | None = None, primary_only: bool = False,
                embedders: Sequence[str] | None = None, mesh: bool | None = None) -> list[Face]:
        """Faces in ``image``, the dominant face first. ``primary_only`` keeps just the dominant face."""
        detections = self.detector.detect(image)
        if not detections:
            return []
        first = primary_index(detections, image.shape)
        order = [first] + [i for i in range(len(detections)) if i != first]
        detections = [detections[i] for i in order]
        if primary_only:
            detections = detections[:1]
        if max_faces is not None:
            detections = detections[:max_faces]
        names = tuple(embedders) if embedders is not None else self.config.embedders
        vectors = {n: self.embedder(n).embed(image, detections) for n in names}
        want_mesh = self.config.mesh if mesh is None else mesh
        faces = []
        for i, det in enumerate(detections):
            aligned = norm_crop(image, det.landmarks)
            face_mesh = self.mesher.mesh(image, det) if want_mesh else None
            faces.append(Face(
                detection=det,
                aligned=aligned,
                embeddings={n: v[i] for n, v in vectors.items()},
                mesh=face_mesh,
                quality=measure(det, aligned, face_mesh.pose if face_mesh else None),
            ))
        return faces
