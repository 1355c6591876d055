"""Self-blending artefact detector (Face X-ray / Self-Blended Images style).

Inference (:class:`ArtifactDetector`) needs only onnxruntime. The networks (:mod:`.model`, :mod:`.backbone`) need
torch and are imported only when used; training and its pseudo-fakes live in :mod:`vipguard.train`.
"""

from .config import ArtifactConfig
from .detector import ArtifactDetector, ArtifactResult, ArtifactWeightsError, default_weights

__all__ = [
    "ArtifactConfig", "ArtifactDetector", "ArtifactResult", "ArtifactWeightsError", "default_weights",
]
