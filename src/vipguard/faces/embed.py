"""Identity embedders, registered by name: ``mobilefacenet`` (192-d, default) and ``dlib`` (128-d).

Every embedder returns L2-normalised float32 vectors, one row per face, and accepts a batch: of the faces detected
in an image (:meth:`Embedder.embed`, which is :meth:`Embedder.embed_aligned` of :meth:`Embedder.align`) or of crops
already aligned its way. Each
says which weights it runs (:attr:`Embedder.identity`: its name and the SHA-256 the model store verified), so that
what was made with one embedder is never compared with another's vectors. Every embedder is built as
``create_embedder(name, store=..., num_threads=...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..infra.nativelog import native_stderr_to_log
from ..infra.plugins import Registry
from ..infra.weights import ModelStore
from .align import norm_crop
from .tflite_graph import split_head
from .types import Detection


@dataclass(frozen=True, slots=True)
class EmbedderId:
    """Which embedder made a vector: its registered name and the SHA-256 of its weight file (as the model store
    verified it). ``sha256`` None: not recorded (a profile from before the record; see
    :attr:`vipguard.lite.profile.VipProfile.embedder`), taken as any verified weights of that name."""

    name: str
    sha256: str | None

    def accepts(self, other: EmbedderId) -> bool:
        """Whether vectors of ``other`` may be compared with vectors made by this embedder."""
        return self.name == other.name and (self.sha256 is None or self.sha256 == other.sha256)

    def __str__(self) -> str:
        return f"{self.name} (weights SHA-256 {self.sha256[:12] if self.sha256 else 'not recorded'})"

    def to_dict(self) -> dict:
        return {"name": self.name, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: dict) -> EmbedderId:
        return cls(str(data["name"]), None if data["sha256"] is None else str(data["sha256"]))


class Embedder(Protocol):
    """One identity embedder; a registered one subclasses this (or :class:`RegionEmbedder`) for :meth:`embed`."""

    name: str
    dim: int
    size: int  # side of the square aligned crop :meth:`embed_aligned` takes
    identity: EmbedderId

    def embed(self, image: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
        """(N, dim) L2-normalised embeddings of the detected faces in an RGB image."""
        return self.embed_aligned(self.align(image, detections))

    def align(self, image: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
        """(N, size, size, 3) RGB uint8 crops of the detected faces, aligned this embedder's way."""

    def embed_aligned(self, crops: np.ndarray) -> np.ndarray:
        """(N, size, size, 3) RGB uint8 crops aligned this embedder's way → (N, dim) L2-normalised embeddings."""


class RegionEmbedder(Embedder, Protocol):
    """An embedder whose last feature map can be pooled over part of the face (the lite tier's per-region
    identity evidence, :func:`vipguard.lite.evidence.describe`)."""

    def feature_maps(self, crops: np.ndarray) -> np.ndarray:
        """(N, size, size, 3) aligned crops → (N, S, S, C) last feature maps."""

    def embed_maps(self, maps: np.ndarray) -> np.ndarray:
        """(N, S, S, C) feature maps → (N, dim) L2-normalised embeddings (the whole face)."""

    def embed_pooled(self, feature_map: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """One face's (S, S, C) map pooled under R spatial weightings (R, S, S) → (R, dim) L2-normalised."""


EMBEDDERS: Registry[Embedder] = Registry("face embedder")
DEFAULT_EMBEDDER = "mobilefacenet"  # the identity embedder the Guard's evidence and selection use


def l2_normalise(vectors: np.ndarray, axis: int = -1) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norm = np.linalg.norm(vectors, axis=axis, keepdims=True)
    return vectors / np.maximum(norm, 1e-12)


@EMBEDDERS.register("mobilefacenet")
class MobileFaceNetEmbedder(RegionEmbedder):
    """ArcFace-trained MobileFaceNet (TFLite) on 112×112 ArcFace-aligned crops.

    The network is run up to its last 7×7×512 feature map (:func:`.tflite_graph.split_head` patches the graph in
    memory; the file on disk is the verified one) and its linear head runs in numpy: the whole-face embedding
    equals the network's output (to float rounding), and :meth:`embed_pooled` gives region embeddings from the
    same map. One invoke per face at batch 1 (the export's fixed batch of 2 cost a second face's work for one).
    """

    name = "mobilefacenet"
    dim = 192
    size = 112

    def __init__(self, store: ModelStore | None = None, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        store = store or ModelStore()
        model, self.head = split_head(store.path(self.name).read_bytes())
        self.identity = EmbedderId(self.name, store.sha256(self.name))
        with native_stderr_to_log():  # LiteRT's "Created TensorFlow Lite XNNPACK delegate" line
            self._interp = Interpreter(model_content=model, num_threads=num_threads)
            self._in = self._interp.get_input_details()[0]
            self._interp.resize_tensor_input(self._in["index"], [1, 112, 112, 3], strict=False)
            self._interp.allocate_tensors()
        self._out = self._interp.get_output_details()[0]

    def align(self, image: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
        """ArcFace-aligned 112×112 crops (:func:`.align.norm_crop`)."""
        return (np.stack([norm_crop(image, d.landmarks) for d in detections]) if detections
                else np.zeros((0, self.size, self.size, 3), np.uint8))

    def feature_maps(self, crops: np.ndarray) -> np.ndarray:
        """(N, 112, 112, 3) RGB uint8 aligned crops → (N, 7, 7, 512) last feature maps."""
        crops = np.asarray(crops)
        if crops.ndim == 3:
            crops = crops[None]
        x = (crops.astype(np.float32) - 127.5) / 128.0
        maps = []
        for row in x:
            self._interp.set_tensor(self._in["index"], row[None])
            self._interp.invoke()
            maps.append(self._interp.get_tensor(self._out["index"])[0].copy())
        return np.stack(maps) if maps else np.zeros((0, 7, 7, 512), np.float32)

    def embed_maps(self, maps: np.ndarray) -> np.ndarray:
        """(N, 7, 7, 512) feature maps → (N, 192) L2-normalised embeddings."""
        return l2_normalise(self.head.embed(maps)) if len(maps) else np.zeros((0, self.dim), np.float32)

    def embed_pooled(self, feature_map: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """(R, 192) L2-normalised embeddings of one face's (7, 7, 512) map pooled under R spatial weightings
        (R, 7, 7) — the network's global depthwise pooling restricted to a region."""
        weights = np.asarray(weights, np.float32)
        maps = np.broadcast_to(feature_map, (len(weights), *np.shape(feature_map)))
        return l2_normalise(self.head.embed(maps, weights))

    def embed_aligned(self, crops: np.ndarray) -> np.ndarray:
        """(N, 112, 112, 3) RGB uint8 ArcFace-aligned crops → (N, 192)."""
        return self.embed_maps(self.feature_maps(crops))


@EMBEDDERS.register("dlib")
class DlibEmbedder(Embedder):
    """dlib's ResNet (128-d) on 150×150 chips aligned with its own 5-point shape predictor.

    dlib runs the network on the calling thread: ``num_threads`` is accepted (every embedder is built the same way)
    and changes nothing."""

    name = "dlib"
    dim = 128
    size = 150

    def __init__(self, store: ModelStore | None = None, num_threads: int | None = None):
        import dlib

        store = store or ModelStore()
        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(store.path("dlib_shape5")))
        self._net = dlib.face_recognition_model_v1(str(store.path("dlib_resnet")))
        self.identity = EmbedderId(self.name, store.sha256("dlib_resnet"))

    def align(self, image: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
        """150×150 chips aligned with dlib's 5-point shape predictor (``dlib.get_face_chip``)."""
        dlib = self._dlib
        image = np.ascontiguousarray(image)
        out = []
        for d in detections:
            x1, y1, x2, y2 = (int(round(v)) for v in d.box)
            shape = self._shape(image, dlib.rectangle(x1, y1, x2, y2))
            out.append(np.asarray(dlib.get_face_chip(image, shape, size=self.size, padding=0.25)))
        return np.stack(out) if out else np.zeros((0, self.size, self.size, 3), np.uint8)

    def embed_aligned(self, crops: np.ndarray) -> np.ndarray:
        """(N, 150, 150, 3) RGB uint8 chips aligned as ``dlib.get_face_chip`` does (:meth:`align`) → (N, 128)."""
        crops = np.asarray(crops, np.uint8)
        if crops.ndim == 3:
            crops = crops[None]
        if not len(crops):
            return np.zeros((0, self.dim), np.float32)
        vectors = self._net.compute_face_descriptor([np.ascontiguousarray(c) for c in crops])
        return l2_normalise(np.asarray(vectors, dtype=np.float32))


def create_embedder(name: str = DEFAULT_EMBEDDER, store: ModelStore | None = None,
                    num_threads: int | None = None) -> Embedder:
    return EMBEDDERS.create(name, store=store, num_threads=num_threads)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of L2-normalised vectors (broadcasts over leading axes)."""
    return np.sum(np.asarray(a, np.float32) * np.asarray(b, np.float32), axis=-1)


def face_score(cos: float | np.ndarray) -> int | np.ndarray:
    """The paper's FACE_SCORE: cosine similarity to the VIP's centre as an integer 0–100 (negative → 0)."""
    value = np.clip(np.asarray(cos, np.float64) * 100.0, 0.0, 100.0)
    return int(round(float(value))) if np.ndim(value) == 0 else np.rint(value).astype(int)
