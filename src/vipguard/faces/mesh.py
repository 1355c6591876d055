"""Dense face mesh: MediaPipe FaceLandmarker (478 points, 52 blendshapes, facial transformation matrix).

The mesh is run on a square crop around one detection so that it belongs to that face; points come back in
the full image's pixel coordinates. Head pose (yaw, pitch, roll) is read from the transformation matrix.
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..infra.weights import ModelStore
from .types import Detection, Mesh, Pose


def pose_from_matrix(matrix: np.ndarray) -> Pose:
    """Yaw, pitch, roll in degrees from MediaPipe's 4×4 facial transformation matrix (R = Rz·Ry·Rx)."""
    r = np.asarray(matrix, dtype=np.float64)[:3, :3]
    scale = np.linalg.norm(r[:, 0])
    r = r / max(scale, 1e-12)
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, -r[2, 0]))))
    pitch = math.degrees(math.atan2(r[2, 1], r[2, 2]))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return Pose(yaw=yaw, pitch=pitch, roll=roll)


def square_crop_box(box: tuple[float, float, float, float], shape: tuple[int, ...], scale: float = 1.8
                    ) -> tuple[int, int, int, int]:
    """An enlarged square around a face box, clipped to the image: (x1, y1, x2, y2) integers."""
    h, w = shape[:2]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = max(box[2] - box[0], box[3] - box[1]) * scale / 2
    x1, y1 = max(0, int(cx - half)), max(0, int(cy - half))
    x2, y2 = min(w, int(math.ceil(cx + half))), min(h, int(math.ceil(cy + half)))
    return x1, y1, x2, y2


class FaceMesher:
    """MediaPipe FaceLandmarker in IMAGE mode on the crop around each detection."""

    name = "mediapipe"

    def __init__(self, store: ModelStore | None = None, crop_scale: float = 1.8):
        os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging: warnings and above only
        from mediapipe.tasks.python import BaseOptions, vision

        store = store or ModelStore()
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(store.path("face_landmarker"))),
            running_mode=vision.RunningMode.IMAGE,
            num_faces=1,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
            min_face_detection_confidence=0.3,
            min_face_presence_confidence=0.3,
        )
        self._landmarker = vision.FaceLandmarker.create_from_options(options)
        self.crop_scale = crop_scale

    def close(self) -> None:
        """Release the MediaPipe graph (call before interpreter exit; MediaPipe cannot close it during exit)."""
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def mesh(self, image: np.ndarray, detection: Detection | None = None) -> Mesh | None:
        """The mesh of the face in ``detection`` (or the whole image); None where MediaPipe finds no face."""
        import mediapipe as mp

        if detection is not None:
            x1, y1, x2, y2 = square_crop_box(detection.box, image.shape, self.crop_scale)
        else:
            x1, y1, x2, y2 = 0, 0, image.shape[1], image.shape[0]
        crop = np.ascontiguousarray(image[y1:y2, x1:x2])
        if crop.size == 0:
            return None
        if self._landmarker is None:
            raise RuntimeError("FaceMesher is closed")
        result = self._landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=crop))
        if not result.face_landmarks:
            return None
        ch, cw = crop.shape[:2]
        pts = np.array([[p.x * cw + x1, p.y * ch + y1, p.z * cw] for p in result.face_landmarks[0]], np.float32)
        blend = {c.category_name: float(c.score) for c in result.face_blendshapes[0]} if result.face_blendshapes else {}
        matrix = (np.asarray(result.facial_transformation_matrixes[0], np.float32)
                  if result.facial_transformation_matrixes else np.eye(4, dtype=np.float32))
        return Mesh(points=pts, blendshapes=blend, matrix=matrix, pose=pose_from_matrix(matrix))
