"""Self-blending artefact detector (Face X-ray / Self-Blended Images style).

Inference (:class:`ArtifactDetector`) needs only onnxruntime; training (:mod:`.train`, :mod:`.model`) needs torch
and is imported only when used.
"""

from .config import ArtifactConfig
from .detector import ArtifactDetector, ArtifactResult, ArtifactWeightsError, default_weights
from .sbi import SelfBlend, boundary_target, self_blend

__all__ = [
    "ArtifactConfig", "ArtifactDetector", "ArtifactResult", "ArtifactWeightsError", "SelfBlend", "boundary_target",
    "default_weights", "self_blend",
]
