"""Dense face meshes (478 points, facial transformation matrix, pose), registered by name in :data:`MESHERS`.

* ``mediapipe`` — MediaPipe's FaceLandmarker task on a square crop around one detection: its own face detector
  (BlazeFace) finds the face again in the crop, then the 478-point landmark network, the blendshapes network and
  the geometry pipeline run.
* ``direct`` — the same landmark network, read from the same verified ``face_landmarker.task``, run with
  LiteRT on a crop made from *our* detection (MediaPipe's crop rule: a square around the face box, turned to level
  the eyes, 256×256), and MediaPipe's geometry pipeline in numpy (:mod:`.geometry`) for the pose. No second face
  detector, no blendshapes: about half the time (``benchmarks/README.md``). Its points differ from MediaPipe's by
  about as much as MediaPipe's own move when its crop changes (``tests/test_faces.py`` states the bound).

Points come back in the full image's pixel coordinates; head pose (yaw, pitch, roll) is read from the matrix,
computed in the frame of the square crop around the detection (:func:`square_crop_box`) for both meshers.
"""

from __future__ import annotations

import math
import zipfile
from typing import Protocol

import cv2
import numpy as np

from ..infra.plugins import Registry
from ..infra.nativelog import native_stderr_to_log
from ..infra.weights import ModelStore
from .geometry import CanonicalFace, pose_transform
from .types import Detection, Mesh, Pose


class Mesher(Protocol):
    name: str

    def mesh(self, image: np.ndarray, detection: Detection) -> Mesh | None:
        """The mesh of the face in ``detection`` (RGB uint8 image), or None where no face is there."""

    def close(self) -> None:
        """Release native resources."""


MESHERS: Registry[Mesher] = Registry("face mesher")


def known_mesher(name: str) -> str:
    """``name`` if it is registered in :data:`MESHERS`, else a ValueError naming the choices (for configs)."""
    if name not in MESHERS:
        raise ValueError(f"unknown face mesher {name!r}; choose one of: {', '.join(MESHERS.names)}")
    return name


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


@MESHERS.register("mediapipe")
class FaceMesher:
    """MediaPipe FaceLandmarker in IMAGE mode on the crop around each detection (``num_threads`` cannot be set
    through MediaPipe's Python API; its graph uses its own XNNPACK pool)."""

    name = "mediapipe"

    def __init__(self, store: ModelStore | None = None, crop_scale: float = 1.8, num_threads: int | None = None):
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
        with native_stderr_to_log():  # MediaPipe's absl and LiteRT lines: vipguard --verbose shows them
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


def _frame(box: tuple[int, int, int, int], points: np.ndarray) -> np.ndarray:
    """``points`` (N, 3) in image pixels → normalised by the frame ``box`` (x, y from its top-left; z as x)."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    return np.column_stack([(points[:, 0] - x1) / w, (points[:, 1] - y1) / h, points[:, 2] / w])


@MESHERS.register("direct")
class DirectMesher:
    """MediaPipe's 478-point landmark network run directly on a crop made from the detection.

    The crop follows MediaPipe's rule for its own detector's box (a square 1.5× BlazeFace's box, turned by the
    eye line) with YuNet's box in place of BlazeFace's: BlazeFace's box is square, about 0.84× the longer side of
    YuNet's and its centre 0.09 of that side lower (measured on LFW), hence ``crop_size`` 1.25 and ``crop_shift``
    0.09. The network's presence output gates the mesh as MediaPipe's does (``min_presence``)."""

    name = "direct"
    side = 256  # the network's input (fixed in the export)
    landmarks_file = "face_landmarks_detector.tflite"
    geometry_file = "geometry_pipeline_metadata_landmarks.binarypb"

    def __init__(self, store: ModelStore | None = None, num_threads: int | None = 1, crop_size: float = 1.25,
                 crop_shift: float = 0.09, min_presence: float = 0.3, frame_scale: float = 1.8):
        from ai_edge_litert.interpreter import Interpreter

        store = store or ModelStore()
        with zipfile.ZipFile(store.path("face_landmarker")) as task:
            model, geometry = task.read(self.landmarks_file), task.read(self.geometry_file)
        self.canonical = CanonicalFace.from_metadata(geometry)
        with native_stderr_to_log():
            self._interp = Interpreter(model_content=model, num_threads=num_threads)
            self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()[0]
        by_name = {d["name"]: d["index"] for d in self._interp.get_output_details()}
        self._points, self._presence = by_name["Identity"], by_name["Identity_1"]
        self.crop_size, self.crop_shift, self.min_presence, self.frame_scale = (crop_size, crop_shift, min_presence,
                                                                                 frame_scale)

    def close(self) -> None:
        """Nothing to release (LiteRT frees its interpreter with the object)."""

    def crop_matrix(self, detection: Detection) -> np.ndarray:
        """The 2×3 affine map from the network's input pixels to image pixels for ``detection``."""
        (xa, ya), (xb, yb) = detection.landmarks[0], detection.landmarks[1]
        angle = math.atan2(float(yb - ya), float(xb - xa))
        x1, y1, x2, y2 = detection.box
        longer = max(x2 - x1, y2 - y1)
        centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2 + self.crop_shift * longer])
        c, s = math.cos(angle), math.sin(angle)
        linear = np.array([[c, -s], [s, c]]) * (self.crop_size * longer / self.side)
        return np.hstack([linear, (centre - linear @ np.full(2, self.side / 2))[:, None]])

    def mesh(self, image: np.ndarray, detection: Detection) -> Mesh | None:
        if min(detection.width, detection.height) <= 0:
            return None  # an empty box: nothing to crop
        matrix = self.crop_matrix(detection)
        crop = cv2.warpAffine(image, cv2.invertAffineTransform(matrix), (self.side, self.side),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        self._interp.set_tensor(self._in["index"], (crop.astype(np.float32) * (1 / 255.0))[None])
        self._interp.invoke()
        presence = float(self._interp.get_tensor(self._presence).reshape(-1)[0])
        if 1.0 / (1.0 + math.exp(-max(min(presence, 60.0), -60.0))) < self.min_presence:
            return None
        raw = self._interp.get_tensor(self._points).reshape(-1, 3).astype(np.float64)
        scale = float(np.linalg.norm(matrix[:, 0]))
        points = np.column_stack([raw[:, :2] @ matrix[:, :2].T + matrix[:, 2], raw[:, 2] * scale])
        box = square_crop_box(detection.box, image.shape, self.frame_scale)
        transform = pose_transform(self.canonical, _frame(box, points), box[2] - box[0], box[3] - box[1])
        return Mesh(points=points.astype(np.float32), blendshapes={}, matrix=transform.astype(np.float32),
                    pose=pose_from_matrix(transform))


def create_mesher(name: str = "mediapipe", store: ModelStore | None = None, **kwargs: object) -> Mesher:
    return MESHERS.create(name, store=store, **kwargs)
