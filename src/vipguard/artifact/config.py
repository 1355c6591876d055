"""The detector's configuration (architecture + operating point), saved as ``config.json`` beside the weights.

Kept free of torch so that inference (onnxruntime) can read it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path


@dataclass(frozen=True)
class ArtifactConfig:
    """Architecture and operating point, saved as ``config.json`` beside the weights."""

    backbone: str = ""  # "" = the small CNN below, from scratch; an EfficientNet-Lite name (artifact.backbone.VARIANTS) = v2
    size: int = 128  # crop side (pixels)
    margin: float = 0.25  # aligned crop margin (fraction of size; keeps the face outline inside)
    crop: str = "aligned"  # "aligned" (similarity warp to the template) or "native" (the photo's own pixel grid)
    iod: float = 43.0  # native crop: the training scale, inter-ocular distance in pixels (LFW median)
    max_rescale: float = 1.25  # native crop: rescale only faces further than this factor from ``iod``
    stem: int = 16
    stages: tuple[tuple[int, int, int, int], ...] = (  # (out channels, blocks, first stride, expansion)
        (24, 1, 2, 2), (32, 2, 1, 4), (64, 2, 2, 4), (96, 2, 2, 4))
    fpn: int = 32  # lateral width of the multi-scale fusion
    head: int = 128  # pooled width of the real/fake read-out
    boundary_size: int = 32
    threshold: float = 0.5  # operating threshold on the probability
    # the JPEG quality every crop is re-encoded at just before the network (None: scored as cropped), so that a
    # photo's compression history is not evidence: a large face shrunk onto the crop, or a forgery made in memory,
    # has no JPEG grid where a camera photo has one (docs/artifact.md, "Re-encoding the crop")
    reencode: int | None = None
    # the artefact veto: a blend probability at or above it rules a genuine verdict out (decision.decide); None =
    # no veto. Set only where benchmarks/verdict.py table 3b measured it harm-free on every held-out method.
    veto: float | None = None
    # the sharpest blur the operating point holds for: a crop whose sharpness (faces.quality.sharpness, the variance
    # of the Laplacian of the crop as cut) is below it is scored and shown but not judged — no veto, no graded
    # term — because blurred genuine faces reach the threshold far more often than it promises (28 % at Gaussian
    # blur σ 2). Set after training on genuine photos only (tools/artifact_gate.py); None = every crop is judged.
    min_sharpness: float | None = None
    # the veto for a noisy crop: from a noise level (faces.quality.noise_level of the crop as cut) of ``noise_band``
    # on, a blend probability must reach ``noise_veto`` to rule a genuine verdict out. The threshold was chosen on
    # clean and lightly degraded genuine faces; under sensor-like noise of σ 8, 4.3 % of them reach it. Both are set
    # on genuine photos only (tools/artifact_gate.py --noise); None = one veto for every crop.
    noise_band: float | None = None
    noise_veto: float | None = None
    # the score at or above which the boundary map's region is named (explanations, reports): below it the map of
    # a crop the detector calls clean still has a peak somewhere, and naming it is a false claim. The shipped
    # detector named one on 53 % of genuine photos with no gate, 3.6 % at 0.99 (benchmarks/localise.py, 2c).
    # None = at ``threshold``.
    region_at: float | None = None
    onnx_sha256: str = ""
    extra: dict = field(default_factory=dict)  # training metrics / provenance (free form)

    @property
    def names_region_at(self) -> float:
        """The score from which a region is named (:attr:`region_at`, else :attr:`threshold`)."""
        return self.threshold if self.region_at is None else self.region_at

    def veto_at(self, noise: float | None) -> float | None:
        """The veto in force for a crop of this noise level: :attr:`noise_veto` in the noise band, else :attr:`veto`
        (None: no veto)."""
        if self.veto is None or self.noise_band is None or self.noise_veto is None or noise is None:
            return self.veto
        return max(self.veto, self.noise_veto) if noise >= self.noise_band else self.veto

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> ArtifactConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown artifact config keys: {sorted(unknown)}")
        data = dict(data)
        if "stages" in data:
            data["stages"] = tuple(tuple(int(v) for v in s) for s in data["stages"])
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> ArtifactConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))
