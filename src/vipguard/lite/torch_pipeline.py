"""The lite check of one face as a differentiable torch function of the photo's pixels, for attack benchmarks.

Why: ``benchmarks/adversarial.py`` (issue #37) measures what a forger with the project's public models can do with
gradients. Each piece of the shipped check has a torch copy here, and the copy computes the shipped value in its
forward pass:

- the alignment warp (:func:`warp`): ``torch.nn.functional.grid_sample`` on the sampling grid ``cv2.warpAffine``
  uses (its fixed-point coordinates on a 1/32-pixel grid, ``BORDER_REFLECT``), so its gradient is the warp's own;
- the identity embedding: :class:`~vipguard.faces.torch_mobilefacenet.TorchMobileFaceNet`;
- the artefact detector's crop (``native`` or ``aligned`` geometry, :mod:`vipguard.artifact.crop`), its JPEG
  re-encoding (``ArtifactConfig.reencode``) and the network from the shipped ``model.safetensors``;
- the decision (:func:`vipguard.lite.decision.decide`): the score is ``min(head, genuine-range anchor, artefact
  term)`` and the verdict is genuine at 0.5, so each term is kept as log-odds (:class:`Terms`) and the verdict is
  genuine exactly when the smallest is ≥ 0.

Steps that have no useful gradient (rounding to uint8, the JPEG re-encoding, cv2's fixed-point interpolation) run
exactly in the forward pass and are passed straight through in the backward pass (BPDA, Athalye et al. 2018): the
value is the shipped one, the gradient that of the smooth copy. The genuine range's Student-t CDF is evaluated by
scipy; its gradient is its local slope. The face geometry is fixed (:class:`FaceGeometry`, from one set of
landmarks): the shipped check detects the face again on the attacked photo, which is why success is only ever
measured by the real ``Guard.check``. Torch is imported lazily.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy import special

from ..artifact.config import ArtifactConfig
from ..artifact.crop import crop_matrix, face_crop
from ..artifact.detector import prepared
from ..faces.align import estimate_norm
from ..faces.quality import noise_level, sharpness
from .decision import SIMILARITY, VETO_POWER, GenuineRange, column, veto_in_force
from .head import LOGIT_EPS
from .profile import VipProfile

CROP = 112  # the embedder's aligned crop side
INTER_TAB = 32  # cv2.warpAffine's sub-pixel grid (INTER_BITS = 5) for 8-bit images
AB_SCALE = 1024  # ... and the fixed-point scale its inverse map is computed in (AB_BITS = 10)
LOGIT_MAX = math.log((1.0 - LOGIT_EPS) / LOGIT_EPS)  # the head reads a probability's log-odds within ±this
CDF_EPS = 1e-12  # decision.anchor_probability clips the genuine CDF to [eps, 1 - eps]


@dataclass(frozen=True)
class FaceGeometry:
    """Where the check looks, fixed from one face's 5 landmarks (photo coordinates): the embedder's 112×112
    ArcFace warp and the artefact detector's crop matrix (photo → crop)."""

    landmarks: np.ndarray
    align: np.ndarray
    artefact: np.ndarray

    @classmethod
    def of(cls, landmarks: np.ndarray, config: ArtifactConfig) -> FaceGeometry:
        lm = np.asarray(landmarks, np.float64).reshape(5, 2)
        return cls(lm, estimate_norm(lm), crop_matrix(lm, config))


def sampling_grid(matrix: np.ndarray, size: int, shape: tuple[int, int], snap: bool = True):
    """(1, size, size, 2) ``grid_sample`` grid (``align_corners=False``) of a 2×3 photo → crop ``matrix`` on a
    photo of ``shape`` (H, W). ``snap``: the source coordinates ``cv2.warpAffine`` computes for 8-bit images —
    each term of the inverse map in 1/1024 pixel, the sum rounded to its 1/32-pixel interpolation grid — so that
    the two differ only by the rounding of the interpolation weights."""
    import torch

    inverse = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    if snap:
        scale, half = float(AB_SCALE), AB_SCALE // INTER_TAB // 2

        def snapped(row: np.ndarray) -> np.ndarray:
            fixed = np.rint((row[1] * ys + row[2]) * scale) + half + np.rint(row[0] * xs * scale)
            return np.floor(fixed / (AB_SCALE // INTER_TAB)) / INTER_TAB

        u, v = snapped(inverse[0]), snapped(inverse[1])
    else:
        u = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
        v = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    h, w = shape
    grid = np.stack([(2.0 * u + 1.0) / w - 1.0, (2.0 * v + 1.0) / h - 1.0], axis=-1)
    return torch.from_numpy(grid[None].astype(np.float32))


def warp(image, matrix: np.ndarray, size: int):
    """Differentiable ``cv2.warpAffine(image, matrix, (size, size), INTER_LINEAR, BORDER_REFLECT)`` of an
    (H, W, 3) float tensor → (size, size, 3) float tensor (not rounded)."""
    import torch.nn.functional as F

    grid = sampling_grid(matrix, size, tuple(image.shape[:2]))
    out = F.grid_sample(image.permute(2, 0, 1)[None], grid, mode="bilinear", padding_mode="reflection",
                        align_corners=False)
    return out[0].permute(1, 2, 0)


def straight_through(soft, exact: np.ndarray):
    """``exact``'s value with ``soft``'s gradient (BPDA)."""
    import torch

    return soft + (torch.from_numpy(np.asarray(exact, np.float32)) - soft).detach()


def quantised(image):
    """The photo rounded to uint8 values as it will be delivered, the gradient passed straight through."""
    return image + (image.clamp(0.0, 255.0).round() - image).detach()


def to_uint8(image) -> np.ndarray:
    """An (H, W, 3) float tensor on 0–255 as the uint8 photo the shipped check would receive."""
    return np.clip(np.rint(image.detach().numpy()), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Terms:
    """One face's decision terms as log-odds (0-d tensors with gradients): the head, the genuine-range anchor and
    the artefact term (None where no veto applies: no veto set, or the crop too blurred to be judged). The
    score is the sigmoid of the smallest; the verdict is genuine iff :attr:`margin` ≥ 0."""

    head: Any
    anchor: Any
    artefact: Any | None
    similarity: Any  # whole-face cosine to the VIP's centre
    artifact_logit: Any  # the detector's log-odds (unclipped)
    judged: bool

    def all(self) -> list[Any]:
        return [t for t in (self.head, self.anchor, self.artefact) if t is not None]

    @property
    def margin(self):
        import torch

        return torch.stack(self.all()).min()

    @property
    def score(self) -> float:
        """The shipped score, ``min(head, anchor, artefact term)``."""
        return float(1.0 / (1.0 + math.exp(-float(self.margin.detach()))))

    @property
    def verdict_genuine(self) -> bool:
        return float(self.margin.detach()) >= 0.0


def anchor_log_odds(similarity, genuine: GenuineRange, rate: float, step: float = 1e-4):
    """The genuine-range term's log-odds (:func:`vipguard.lite.decision.anchor_probability`): its value by scipy
    in float64, its gradient the central difference of that value (the CDF is smooth)."""

    def value(s: float) -> float:
        p = min(max(float(special.stdtr(genuine.dof, (s - genuine.loc) / genuine.scale)), CDF_EPS), 1 - CDF_EPS)
        return math.log(p / (1 - p)) - math.log(rate / (1 - rate))

    s = float(similarity.detach())
    slope = (value(s + step) - value(s - step)) / (2 * step)
    return value(s) + slope * (similarity - similarity.detach())


def artefact_log_odds(logit, veto: float, power: float):
    """The artefact term's log-odds (:func:`vipguard.lite.decision.veto_probability`) from the detector's log-odds
    ``logit``: below the veto ``1 - 0.5·exp(power·(logit - logit(veto)))``, at or above it
    ``0.5·σ(-logit)/(1 - veto)``;
    0 at the veto from both sides. Written on log-odds so that it neither saturates nor loses its gradient where the
    float32 probability rounds to 1."""
    import torch
    import torch.nn.functional as F

    logit = logit.double()
    d = logit - math.log(veto / (1 - veto))
    below = torch.log1p(-0.5 * torch.exp(power * d.clamp(max=0.0))) - (math.log(0.5) + power * d.clamp(max=0.0))
    ratio = 0.5 * torch.exp(F.logsigmoid(-logit) - math.log1p(-veto))  # 0.5·(1 - a)/(1 - veto), ≤ 0.5 above it
    above = torch.log(ratio.clamp(min=1e-300)) - torch.log1p(-ratio.clamp(max=0.5 - 1e-12))
    return torch.where(d < 0, below, above)


class DifferentiableCheck:
    """The shipped check of one face against one VIP, as :class:`Terms` of a float (H, W, 3) photo tensor.

    ``embedder``: a :class:`~vipguard.faces.torch_mobilefacenet.TorchMobileFaceNet`; ``detector``: the artefact
    network (``vipguard.artifact.model.from_pretrained``) and ``config`` its :class:`ArtifactConfig`; ``rate``: the
    operating point (default the profile's); ``veto``: the veto in force (the Guard's: the detector's own; a noisy
    crop gets its own, as the Guard gives it, ``ArtifactConfig.veto_at``).
    ``exact``: the forward pass computes the shipped values (cv2 warp and crop, uint8 rounding, JPEG re-encoding)
    with the smooth copies' gradients; False: the smooth copies alone (the alignment is then the torch warp)."""

    def __init__(self, profile: VipProfile, embedder, detector, config: ArtifactConfig, veto: float | None,
                 rate: float | None = None, exact: bool = True):
        unknown = set(profile.head.features) - {SIMILARITY, "artifact"}
        if unknown:
            raise ValueError(f"the head reads {sorted(unknown)}, which this copy does not compute "
                             "(only the whole-face similarity and the artefact score)")
        self.profile, self.embedder, self.detector, self.config = profile, embedder, detector, config
        self.veto = veto
        self.rate = profile.reject_rate if rate is None else float(rate)
        self.exact = exact
        self._centre = np.asarray(profile.centre, np.float32)
        self._typical_artifact = float(np.asarray(profile.typical).reshape(-1)[column("artifact")])

    def aligned(self, image, geometry: FaceGeometry):
        """The 112×112 ArcFace crop (H, W, 3 float tensor on 0–255)."""
        soft = warp(image, geometry.align, CROP)
        if not self.exact:
            return soft
        exact = cv2.warpAffine(to_uint8(image), geometry.align, (CROP, CROP), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        return straight_through(soft, exact)

    def detector_crop(self, image, geometry: FaceGeometry) -> tuple[Any, bool, float | None]:
        """(the crop the detector's network sees, on 0–255; whether the crop as cut is sharp enough to be judged; the
        veto in force for it, None where none applies). As :meth:`vipguard.lite.guard.Guard.veto_for`: none for a
        crop too blurred to be judged, a noisy crop's own (``ArtifactConfig.veto_at`` of its noise level), else
        :attr:`veto`."""
        soft = warp(image, geometry.artefact, self.config.size)
        crop, _ = face_crop(to_uint8(image), geometry.landmarks, self.config)
        floor = self.config.min_sharpness
        judged = floor is None or sharpness(crop) >= floor
        veto = veto_in_force(self.veto, self.config.veto_at(noise_level(crop)), judged)
        return (straight_through(soft, prepared(crop, self.config)) if self.exact else soft), judged, veto

    def similarity(self, image, geometry: FaceGeometry):
        import torch

        x = self.aligned(quantised(image) if self.exact else image, geometry)
        return (self.embedder(x[None])[0] * torch.from_numpy(self._centre)).sum()

    def artifact_logit(self, image, geometry: FaceGeometry) -> tuple[Any, bool, float | None]:
        """The detector's log-odds for the face, whether its crop is judged and the veto in force for it."""
        crop, judged, veto = self.detector_crop(quantised(image) if self.exact else image, geometry)
        logit, _ = self.detector((crop / 255.0).permute(2, 0, 1)[None])
        return logit[0], judged, veto

    def head_log_odds(self, similarity, artifact_logit, judged: bool):
        """The head's calibrated log-odds (:meth:`vipguard.lite.head.Head.predict` before the sigmoid)."""
        import torch

        head = self.profile.head
        if judged:
            reading = artifact_logit.clamp(-LOGIT_MAX, LOGIT_MAX)
        else:  # decision.for_head: the VIP's typical genuine score stands in for an unjudged crop
            p = min(max(self._typical_artifact, LOGIT_EPS), 1 - LOGIT_EPS)
            reading = torch.tensor(math.log(p / (1 - p)), dtype=torch.float64)
        values = {SIMILARITY: similarity, "artifact": reading}
        z = 0.0
        for name, mean, scale, coef, how in zip(head.features, head.mean, head.scale, head.coef,
                                                head.readings or ("linear",) * len(head.features)):
            x = values[name]
            if name == "artifact" and how != "logit":
                x = (torch.sigmoid(artifact_logit) if judged
                     else torch.tensor(self._typical_artifact, dtype=torch.float64))
            z = z + (x - mean) / scale * coef
        return head.platt_a * (z + head.intercept) + head.platt_b

    def terms(self, image, geometry: FaceGeometry) -> Terms:
        """The decision terms of the face at ``geometry`` in ``image``."""
        sim = self.similarity(image, geometry)
        logit, judged, veto = self.artifact_logit(image, geometry)
        head = self.head_log_odds(sim.double(), logit.double(), judged)
        anchor = anchor_log_odds(sim.double(), self.profile.genuine, self.rate)
        term = artefact_log_odds(logit, veto, VETO_POWER) if veto is not None else None
        return Terms(head, anchor, term, sim, logit, judged)


def load_detector(folder: Path | None = None):
    """(the artefact network from ``model.safetensors`` in eval mode with frozen weights, its config): the torch
    copy of the ONNX model the Guard runs (default: the packaged weights)."""
    from ..artifact.detector import default_weights
    from ..artifact.model import from_pretrained

    folder = Path(folder) if folder is not None else default_weights()
    net = from_pretrained(folder)
    for p in net.parameters():
        p.requires_grad_(False)
    return net, ArtifactConfig.load(folder / "config.json")


@dataclass(frozen=True)
class Step:
    """What an attack objective says of one iterate: ``value`` (a 0-d tensor to maximise), ``progress`` (a float,
    higher is better for the attacker: the iterate kept is the best by it) and ``done`` (the goal is reached with
    the margin the attacker wants, so further steps are wasted)."""

    value: Any
    progress: float
    done: bool


@dataclass(frozen=True)
class AttackResult:
    """The attacked photo (uint8, within ε of the original in every pixel), its objective's progress and the
    gradient steps taken."""

    image: np.ndarray
    progress: float
    steps: int


def pgd(objective, image: np.ndarray, eps: float, steps: int, step: float | None = None) -> AttackResult:
    """L∞ projected gradient ascent (Madry et al. 2018; ``steps`` = 1 with ``step`` = ``eps`` is FGSM) on
    ``objective(x) -> Step`` for an (H, W, 3) float tensor ``x`` on 0–255, from ``image`` (uint8) with no random
    start, each iterate projected on the ε-ball and on [0, 255]. Returns the best iterate by ``Step.progress``
    (rounded to uint8, as delivered). ``step`` defaults to 2.5·ε/steps."""
    import torch

    x0 = torch.tensor(np.asarray(image), dtype=torch.float32)
    alpha = 2.5 * eps / steps if step is None else step
    x = x0.clone()
    best, taken = None, 0
    for taken in range(steps + 1):
        x.requires_grad_(True)
        result = objective(x)
        if best is None or result.progress > best.progress:
            best = AttackResult(to_uint8(x), result.progress, taken)
        if result.done or taken == steps:
            break
        (grad,) = torch.autograd.grad(result.value, x)
        with torch.no_grad():
            x = torch.minimum(torch.maximum(x + alpha * grad.sign(), x0 - eps), x0 + eps).clamp(0.0, 255.0)
    return AttackResult(best.image, best.progress, taken)
