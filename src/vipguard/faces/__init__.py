"""The offline face pipeline: detection, alignment, identity embeddings, dense mesh, pose, regions, quality."""

from .align import ARCFACE_TEMPLATE, estimate_norm, norm_crop
from .analyzer import AnalyzerConfig, FaceAnalyzer
from .detect import DETECTORS, create_detector
from .embed import EMBEDDERS, cosine, create_embedder, face_score, l2_normalise
from .mesh import MESHERS, create_mesher
from .regions import REGIONS, region_indices, region_mask
from .types import Detection, Face, Mesh, Pose, Quality

__all__ = [
    "ARCFACE_TEMPLATE", "AnalyzerConfig", "DETECTORS", "Detection", "EMBEDDERS", "Face", "FaceAnalyzer", "MESHERS",
    "Mesh", "Pose", "Quality", "REGIONS", "cosine", "create_detector", "create_embedder", "create_mesher",
    "estimate_norm", "face_score", "l2_normalise", "norm_crop", "region_indices", "region_mask",
]
