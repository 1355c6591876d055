"""Inference: the trained artefact detector on onnxruntime (torch not needed).

``ArtifactDetector().score(image_rgb, face)`` aligns the face to the detector's wider crop, runs the ONNX model
and returns an :class:`ArtifactResult`: the probability that the face was blended in, the boundary map in the
aligned-crop frame, and a short description of where the boundary concentrates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from ..faces.align import transform_points
from ..faces.quality import noise_level, sharpness
from ..infra.imageops import jpeg
from ..infra.weights import WeightsError, sha256_of
from .config import ArtifactConfig
from .crop import face_crop

NO_BOUNDARY = "no clear boundary"
ZONES = ("at the forehead", "around the eyes", "around the nose", "around the mouth", "along the cheeks",
         "along the jaw")


class ArtifactWeightsError(WeightsError):
    """The detector's weight folder is missing a file or its ONNX file does not match the recorded SHA-256."""


@dataclass(frozen=True, slots=True)
class ArtifactResult:
    """``score``: probability of manipulation in [0, 1]; ``boundary``: (S, S) float32 map in [0, 1] in the
    aligned-crop frame (S = the detector's crop size); ``where``: where the boundary concentrates, named only when
    the score reaches ``ArtifactConfig.names_region_at`` (else :data:`NO_BOUNDARY`); ``judged``:
    whether the crop is sharp enough for the detector's operating point (``ArtifactConfig.min_sharpness``) — a score
    that is not judged may explain, never veto."""

    score: float
    boundary: np.ndarray
    where: str
    crop: np.ndarray | None = None  # the aligned crop the map refers to (set by ``score``)
    sharpness: float | None = None  # the crop's sharpness (faces.quality.sharpness)
    min_sharpness: float | None = None  # the detector's floor for judging (None: none)
    noise: float | None = None  # the crop's noise level (faces.quality.noise_level)
    veto: float | None = None  # the veto in force for this crop (ArtifactConfig.veto_at; None: the detector's)

    @property
    def judged(self) -> bool:
        return self.min_sharpness is None or self.sharpness is None or self.sharpness >= self.min_sharpness

    def to_dict(self) -> dict:
        return {"score": round(self.score, 4), "where": self.where, "judged": self.judged}


def prepared(crop: np.ndarray, config: ArtifactConfig) -> np.ndarray:
    """A crop as the network sees it: re-encoded as JPEG at ``ArtifactConfig.reencode``, if set (the one place;
    the threshold is chosen on crops prepared the same way, :func:`vipguard.artifact.gate.choose_threshold`)."""
    return crop if config.reencode is None else jpeg(crop, config.reencode)


def default_weights() -> Path:
    """The weights shipped in the package (``vipguard/artifact/weights``)."""
    return Path(str(resources.files("vipguard.artifact") / "weights"))


def zone_map(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(size, size) int map of :data:`ZONES` indices (−1 outside) from 5 landmarks in the crop frame."""
    lm = np.asarray(landmarks, np.float64).reshape(5, 2)
    eye_y, mouth_y = lm[:2, 1].mean(), lm[3:, 1].mean()
    cx = lm[:, 0].mean()
    d = float(np.linalg.norm(lm[1] - lm[0])) or size / 4
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    dx = np.abs(xs - cx)
    zones = np.full((size, size), -1, np.int64)
    inside = dx < 1.25 * d
    zones[inside & (ys < eye_y - 0.35 * d)] = 0
    zones[inside & (np.abs(ys - eye_y) <= 0.35 * d)] = 1
    mid = (ys > eye_y + 0.35 * d) & (ys < mouth_y + 0.3 * d)
    zones[inside & mid] = 4
    zones[mid & (dx < 0.35 * d) & (ys < mouth_y - 0.2 * d)] = 2
    zones[(np.abs(ys - mouth_y) < 0.3 * d) & (dx < 0.6 * d)] = 3
    zones[inside & (ys >= mouth_y + 0.3 * d)] = 5
    return zones


def describe(boundary: np.ndarray, zones: np.ndarray, min_peak: float = 0.35) -> str:
    """Where the strong part of ``boundary`` lies, in words (one or two zones, or the whole outline)."""
    peak = float(boundary.max()) if boundary.size else 0.0
    if peak < min_peak:
        return NO_BOUNDARY
    strong = boundary * (boundary >= 0.5 * peak)
    mass = np.array([strong[zones == z].sum() for z in range(len(ZONES))])
    if mass.sum() <= 0:
        return NO_BOUNDARY
    share = mass / mass.sum()
    if share[0] > 0.15 and share[4] > 0.15 and share[5] > 0.15:
        return "around the whole face outline"
    order = np.argsort(-share)
    if share[order[1]] >= 0.6 * share[order[0]]:
        return f"{ZONES[order[0]]} and {ZONES[order[1]]}"
    return ZONES[order[0]]


class ArtifactDetector:
    """Runs ``model.onnx`` from ``folder`` (default: the packaged weights) after checking its SHA-256."""

    def __init__(self, folder: Path | None = None, num_threads: int = 1):
        import onnxruntime as ort

        self.folder = Path(folder) if folder is not None else default_weights()
        config_path, onnx_path = self.folder / "config.json", self.folder / "model.onnx"
        for p in (config_path, onnx_path):
            if not p.is_file():
                raise ArtifactWeightsError(f"artifact detector file missing: {p} "
                                           "(train one with `vipguard artifact train` or reinstall vipguard)")
        self.config = ArtifactConfig.load(config_path)
        digest = sha256_of(onnx_path)
        if not self.config.onnx_sha256 or digest != self.config.onnx_sha256:
            raise ArtifactWeightsError(
                f"{onnx_path} does not match config.json: SHA-256 {digest}, expected "
                f"{self.config.onnx_sha256 or '(none recorded)'}; the weights are corrupt or from another run")
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._zones: dict[tuple, np.ndarray] = {}

    @property
    def threshold(self) -> float:
        return self.config.threshold

    @property
    def veto(self) -> float | None:
        """The artefact veto this detector's operating point sets (``ArtifactConfig.veto``; None: no veto)."""
        return self.config.veto

    @property
    def size(self) -> int:
        return self.config.size

    def crop(self, image_rgb: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(crop, its 5 landmarks in the crop frame) in this detector's crop geometry (:mod:`.crop`)."""
        crop, matrix = face_crop(image_rgb, landmarks, self.config)
        return crop, transform_points(landmarks, matrix).astype(np.float32)

    def prepare(self, crop: np.ndarray) -> np.ndarray:
        """The crop as the network sees it (:func:`prepared`)."""
        return prepared(crop, self.config)

    def predict(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw outputs for (N, S, S, 3) uint8 crops, as given (no :meth:`prepare`): probabilities (N,) and boundary
        maps (N, b, b)."""
        x = np.ascontiguousarray(np.asarray(crops, np.float32).transpose(0, 3, 1, 2) / 255.0)
        prob, boundary = self._session.run(None, {"image": x})
        return prob.astype(np.float32), boundary.astype(np.float32)

    def score_crop(self, crop: np.ndarray, landmarks: np.ndarray | None = None) -> ArtifactResult:
        """Score one ``size``×``size`` RGB crop (landmarks in the crop frame; default: the template), prepared as
        :meth:`prepare` says."""
        if crop.shape != (self.size, self.size, 3):
            raise ValueError(f"expected a {self.size}×{self.size}×3 aligned crop, got {crop.shape}")
        prob, boundary = self.predict(self.prepare(crop)[None])
        full = cv2.resize(boundary[0], (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        if landmarks is None:
            from ..faces.align import template

            landmarks = template(self.size, self.config.margin)
        key = tuple(np.round(np.asarray(landmarks), 0).ravel())
        zones = self._zones.get(key)
        if zones is None:
            zones = zone_map(landmarks, self.size)
            if len(self._zones) < 64:
                self._zones[key] = zones
        score = float(prob[0])
        where = describe(full, zones) if score >= self.config.names_region_at else NO_BOUNDARY
        level = noise_level(crop)
        return ArtifactResult(score=score, boundary=full, where=where, sharpness=sharpness(crop),
                              min_sharpness=self.config.min_sharpness, noise=level, veto=self.config.veto_at(level))

    def score(self, image_rgb: np.ndarray, face: object) -> ArtifactResult:
        """Score the ``face`` (a :class:`~vipguard.faces.Face`) found in ``image_rgb``."""
        crop, lms = self.crop(image_rgb, face.detection.landmarks)
        return replace(self.score_crop(crop, lms), crop=crop)
