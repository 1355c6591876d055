"""Frozen result types of the face pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class Detection:
    """One detected face: box (x1, y1, x2, y2) in pixels, confidence, and 5 landmarks (x, y).

    Landmark order is the ArcFace template's: eye on the image's left, eye on the image's right, nose tip,
    mouth corner on the image's left, mouth corner on the image's right.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray  # (5, 2) float32

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def to_dict(self) -> dict:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks],
        }


@dataclass(frozen=True, slots=True)
class Pose:
    """Head pose in degrees: yaw (left/right), pitch (up/down), roll (in-plane)."""

    yaw: float
    pitch: float
    roll: float

    def to_dict(self) -> dict:
        return {"yaw": round(self.yaw, 2), "pitch": round(self.pitch, 2), "roll": round(self.roll, 2)}


@dataclass(frozen=True, slots=True)
class Mesh:
    """MediaPipe dense mesh in image pixels: points (478, 3) with z in pixel-like units, blendshapes, pose."""

    points: np.ndarray
    blendshapes: dict[str, float]
    matrix: np.ndarray  # (4, 4) facial transformation matrix
    pose: Pose


@dataclass(frozen=True, slots=True)
class Quality:
    """Measured quality of a face: size in pixels (shorter box side), blur (variance of Laplacian on the
    aligned crop; higher is sharper) and the pose when known."""

    face_size: float
    blur: float
    pose: Pose | None = None

    def problems(self, min_size: float = 40.0, min_blur: float = 15.0, max_angle: float = 15.0) -> list[str]:
        out = []
        if self.face_size < min_size:
            out.append(f"face too small ({self.face_size:.0f} px < {min_size:.0f})")
        if self.blur < min_blur:
            out.append(f"too blurry (sharpness {self.blur:.0f} < {min_blur:.0f})")
        if self.pose is not None:
            if abs(self.pose.yaw) >= max_angle:
                out.append(f"head turned (yaw {self.pose.yaw:+.0f}°, limit ±{max_angle:.0f}°)")
            if abs(self.pose.pitch) >= max_angle:
                out.append(f"head tilted (pitch {self.pose.pitch:+.0f}°, limit ±{max_angle:.0f}°)")
        return out

    def to_dict(self) -> dict:
        return {
            "face_size": round(self.face_size, 1),
            "blur": round(self.blur, 1),
            "pose": self.pose.to_dict() if self.pose else None,
        }


@dataclass(frozen=True, slots=True)
class Face:
    """Everything the pipeline measured about one face."""

    detection: Detection
    aligned: np.ndarray  # (112, 112, 3) RGB uint8, ArcFace-aligned
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)  # embedder name -> L2-normalised vector
    mesh: Mesh | None = None
    quality: Quality | None = None

    @property
    def pose(self) -> Pose | None:
        return self.mesh.pose if self.mesh is not None else None

    def to_dict(self) -> dict:
        out = self.detection.to_dict()
        out["pose"] = self.pose.to_dict() if self.pose else None
        out["quality"] = self.quality.to_dict() if self.quality else None
        out["embeddings"] = {k: int(v.shape[0]) for k, v in self.embeddings.items()}
        return out
