"""Pseudo-fakes with Face X-ray boundary targets (Li et al., 2020): self-blended images (Shiohara & Yamasaki,
CVPR 2022) and Face X-ray's blended images of two different people.

A face is blended with a slightly transformed copy of itself inside a deformed, softened landmark mask: the
result carries the statistical traces of a face swap (a colour / frequency / geometry mismatch along a blending
boundary) without any identity change. Every function is pure and draws its randomness from the
:class:`numpy.random.Generator` it is given, so outputs are deterministic given a seed.

All images are aligned crops (see :mod:`vipguard.train.artifact_data`); geometry is in the crop frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from ..infra.imageops import jpeg, rescale

BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
HULL_KINDS = ("face", "inner", "lower", "arc")
HULL_WEIGHTS = (0.5, 0.15, 0.15, 0.2)


@dataclass(frozen=True)
class SelfBlend:
    """One pseudo-fake: ``image`` (uint8 RGB), the soft blending ``mask`` M in [0, 1] (float32, before the
    blend ratio), the Face X-ray ``boundary`` 4·M·(1−M), the blend ``ratio`` and the hull kind used."""

    image: np.ndarray
    mask: np.ndarray
    boundary: np.ndarray
    ratio: float
    hull: str


@cache
def _mesh_sets() -> dict[str, np.ndarray]:
    """Mesh index sets used by the hull variants: the face oval in ring order, and the inner face."""
    from ..faces.regions import region_indices

    idx = region_indices()
    return {"oval": np.array(idx["outline"], np.int64), "inner": np.array(idx["inner"], np.int64),
            "nose": np.array(idx["nose"], np.int64), "mouth": np.array(idx["mouth"], np.int64)}


def boundary_target(mask: np.ndarray) -> np.ndarray:
    """Face X-ray boundary of a soft mask: 4·M·(1−M) (1 where M = ½, 0 where M is 0 or 1)."""
    m = np.asarray(mask, np.float32)
    return 4.0 * m * (1.0 - m)


def _fill(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255)
    return mask


def ellipse_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """uint8 0/255 face ellipse from the 5 landmarks (used when no mesh is available)."""
    lm = np.asarray(landmarks, np.float64).reshape(5, 2)
    eyes, mouth = lm[:2].mean(0), lm[3:].mean(0)
    eye_dist = float(np.linalg.norm(lm[1] - lm[0]))
    down = mouth - eyes
    height = float(np.linalg.norm(down)) or eye_dist
    centre = eyes + 0.35 * down
    angle = float(np.degrees(np.arctan2(down[0], down[1])))
    axes = (max(1, int(round(1.0 * eye_dist))), max(1, int(round(1.55 * height))))
    mask = np.zeros(shape, np.uint8)
    cv2.ellipse(mask, (int(round(centre[0])), int(round(centre[1]))), axes, -angle, 0, 360, 255, -1)
    return mask


def hull_mask(landmarks: np.ndarray, points: np.ndarray | None, shape: tuple[int, int],
              rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A random landmark hull (uint8 0/255) and its kind.

    With mesh ``points`` (478, 2): the face oval, the inner face, the lower face, or the oval with a random arc
    removed; without (or with NaN points): an ellipse fitted to the 5 landmarks.
    """
    if points is None or not np.all(np.isfinite(points)):
        return ellipse_mask(landmarks, shape), "ellipse"
    sets = _mesh_sets()
    kind = HULL_KINDS[int(rng.choice(len(HULL_KINDS), p=HULL_WEIGHTS))]
    oval = points[sets["oval"]]
    if kind == "face":
        pts = oval
    elif kind == "inner":
        pts = points[sets["inner"]]
    elif kind == "lower":
        eye_y = float(np.asarray(landmarks)[:2, 1].mean())
        pts = np.concatenate([oval[oval[:, 1] > eye_y], points[sets["nose"]], points[sets["mouth"]]])
    else:  # "arc": drop a contiguous arc (by angle around the centre) of up to 40 % of the oval
        centre = oval.mean(0)
        ang = np.arctan2(oval[:, 1] - centre[1], oval[:, 0] - centre[0])
        start = rng.uniform(-np.pi, np.pi)
        width = rng.uniform(0.15, 0.4) * 2 * np.pi
        keep = ((ang - start) % (2 * np.pi)) > width
        pts = np.concatenate([oval[keep], points[sets["inner"]]])
    return _fill(pts, shape), kind


def deform_mask(mask: np.ndarray, rng: np.random.Generator, amplitude: float = 0.03) -> np.ndarray:
    """Smooth elastic deformation (a random 4×4 displacement grid, cubic-upsampled) of a uint8 mask."""
    h, w = mask.shape
    amp = amplitude * max(h, w)
    dx = cv2.resize(rng.normal(0.0, amp, (4, 4)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(rng.normal(0.0, amp, (4, 4)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    out = cv2.remap(mask, gx + dx, gy + dy, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return np.where(out >= 128, 255, 0).astype(np.uint8)


def soften_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random erosion or dilation, then Gaussian blur (twice, SBI style); float32 in [0, 1] with max 1."""
    size = mask.shape[0]
    k = int(rng.integers(1, max(2, size // 20)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    op = rng.random()
    if op < 0.4:
        mask = cv2.erode(mask, kernel)
    elif op < 0.8:
        mask = cv2.dilate(mask, kernel)
    m = mask.astype(np.float32) / 255.0
    s1 = rng.uniform(0.005, 0.02) * size
    m = cv2.GaussianBlur(m, (0, 0), s1)
    m[m < 0.99] = 0.0  # keep the solid core, then blur again: the soft edge lies mostly inside the hull
    s2 = rng.uniform(0.01, 0.04) * size
    m = cv2.GaussianBlur(m, (0, 0), s2)
    peak = float(m.max())
    if peak <= 1e-6:  # the hull eroded away: fall back to a single blur of the hull itself
        m = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), s2)
        peak = max(float(m.max()), 1e-6)
    return np.clip(m / peak, 0.0, 1.0).astype(np.float32)


def colour_jitter(image: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Random RGB shift, hue / saturation / value shift, brightness and contrast (uint8 in, uint8 out)."""
    img = image.astype(np.float32)
    img += rng.uniform(-20, 20, 3).astype(np.float32) * strength
    img = np.clip(img, 0, 255).astype(np.uint8)
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-10, 10) * strength) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * (1 + rng.uniform(-0.3, 0.3) * strength), 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * (1 + rng.uniform(-0.15, 0.15) * strength), 0, 255)
    img = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    contrast = 1 + rng.uniform(-0.15, 0.15) * strength
    brightness = rng.uniform(-15, 15) * strength
    img = (img - img.mean()) * contrast + img.mean() + brightness
    return np.clip(img, 0, 255).astype(np.uint8)


def frequency_jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One of: downscale-upscale, Gaussian blur, unsharp masking, JPEG re-compression, or nothing."""
    op = int(rng.integers(0, 5))
    if op == 0:
        return rescale(image, rng.uniform(0.4, 0.85), int(rng.choice([cv2.INTER_LINEAR, cv2.INTER_CUBIC])))
    if op == 1:
        return cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.5))
    if op == 2:
        blurred = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.8, 2.0))
        return cv2.addWeighted(image, 1 + rng.uniform(0.3, 1.0), blurred, -rng.uniform(0.3, 1.0), 0)
    if op == 3:
        return jpeg(image, int(rng.integers(30, 80)))
    return image


def affine_jitter(image: np.ndarray, rng: np.random.Generator, shift: float = 0.03,
                  scale: float = 0.05) -> np.ndarray:
    """Small random translation (fraction of the size) and scale about the centre."""
    h, w = image.shape[:2]
    s = 1 + rng.uniform(-scale, scale)
    tx, ty = rng.uniform(-shift, shift, 2) * np.array([w, h])
    matrix = np.array([[s, 0, (1 - s) * w / 2 + tx], [0, s, (1 - s) * h / 2 + ty]], np.float32)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def resample_jitter(image: np.ndarray, rng: np.random.Generator, amplitude: tuple[float, float] = (0.3, 1.5),
                    ) -> np.ndarray:
    """Resample through a smooth random sub-pixel displacement field (bilinear), as any landmark warp does.

    The content barely moves, but every pixel is interpolated: the texture loses the photo's own fine grain and
    compression grid, which is what a warped-in face carries even when its colours match perfectly.
    """
    h, w = image.shape[:2]
    amp = float(rng.uniform(*amplitude))
    grid = int(rng.integers(3, 7))
    dx = cv2.resize(rng.uniform(-amp, amp, (grid, grid)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(rng.uniform(-amp, amp, (grid, grid)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, gx + dx, gy + dy, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def source_transform(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The slightly transformed copy that is blended back: colour (of random strength, down to nearly seamless,
    as after a colour transfer or Poisson blend), frequency, sub-pixel resampling and geometry jitter."""
    out = colour_jitter(image, rng, strength=float(rng.uniform(0.1, 1.0)))
    out = frequency_jitter(out, rng)
    if rng.random() < 0.5:
        out = resample_jitter(out, rng)
    return affine_jitter(out, rng)


def self_blend(image: np.ndarray, landmarks: np.ndarray, points: np.ndarray | None,
               rng: np.random.Generator) -> SelfBlend:
    """Blend ``image`` with a transformed copy of itself inside a random, deformed, soft landmark mask."""
    h, w = image.shape[:2]
    source, target = source_transform(image, rng), image
    if rng.random() < 0.5:  # SBI: either side may carry the transformation
        source, target = target, source
    hull, kind = hull_mask(landmarks, points, (h, w), rng)
    mask = soften_mask(deform_mask(hull, rng), rng)
    return compose(source, target, mask, rng, kind)


def compose(source: np.ndarray, target: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
            hull: str) -> SelfBlend:
    """``source`` over ``target`` inside the soft ``mask``, at a blend ratio drawn from :data:`BLEND_RATIOS`."""
    ratio = float(BLEND_RATIOS[int(rng.integers(len(BLEND_RATIOS)))])
    m = (mask * ratio)[..., None]
    out = source.astype(np.float32) * m + target.astype(np.float32) * (1.0 - m)
    blended = np.clip(np.round(out), 0, 255).astype(np.uint8)
    return SelfBlend(image=blended, mask=mask, boundary=boundary_target(mask), ratio=ratio, hull=hull)


def nearest_donors(landmarks: np.ndarray, identities: np.ndarray, k: int = 16) -> np.ndarray:
    """(N, k) indices of the faces whose 5-landmark layout (normalised for position and scale) is nearest each
    face's, among faces of *other* identities: Face X-ray's donors, so that a blend needs little warping."""
    lm = np.asarray(landmarks, np.float64).reshape(len(landmarks), 5, 2)
    centred = lm - lm.mean(1, keepdims=True)
    norm = centred / np.linalg.norm(centred, axis=(1, 2), keepdims=True).clip(1e-6)
    flat = norm.reshape(len(lm), -1)
    sq = (flat**2).sum(1)
    dist = sq[:, None] + sq[None, :] - 2.0 * flat @ flat.T
    ids = np.asarray(identities)
    dist[ids[:, None] == ids[None, :]] = np.inf
    k = max(1, min(k, len(lm) - 1))
    return np.argsort(dist, axis=1)[:, :k]


def pair_blend(image: np.ndarray, landmarks: np.ndarray, points: np.ndarray | None, donor: np.ndarray,
               donor_landmarks: np.ndarray, rng: np.random.Generator) -> SelfBlend:
    """Face X-ray's blended image (Li et al. 2020): another person's face, similarity-aligned on the 5 landmarks
    (resampled), colour-corrected towards ``image`` by a random amount and frequency-jittered, blended into
    ``image`` inside a deformed, softened landmark hull of ``image``'s face."""
    from ..faces.align import similarity_transform
    from ..forge.warp import match_colour

    h, w = image.shape[:2]
    matrix = similarity_transform(np.asarray(donor_landmarks, np.float64), np.asarray(landmarks, np.float64))
    warped = cv2.warpAffine(donor, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    hull, kind = hull_mask(landmarks, points, (h, w), rng)
    mask = soften_mask(deform_mask(hull, rng), rng)
    matched = match_colour(warped, image, hull)
    amount = float(rng.uniform(0.6, 1.0))
    source = np.clip(matched.astype(np.float32) * amount + warped.astype(np.float32) * (1 - amount), 0, 255)
    source = frequency_jitter(source.astype(np.uint8), rng)
    return compose(source, image, mask, rng, f"pair:{kind}")


NOISE_SIGMA = (2.0, 12.0)  # range of the sensor-noise augmentation's standard deviation (0–255 RGB)


def sensor_noise(image: np.ndarray, rng: np.random.Generator, sigma: tuple[float, float] = NOISE_SIGMA) -> np.ndarray:
    """Zero-mean Gaussian noise, independent per pixel and RGB channel, σ drawn from ``sigma`` (a camera's read and
    shot noise, to first order)."""
    s = float(rng.uniform(*sigma))
    noisy = image.astype(np.float32) + rng.normal(0.0, s, image.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def degrade(image: np.ndarray, rng: np.random.Generator, p_jpeg: float = 0.5, p_resize: float = 0.4,
            p_colour: float = 0.3, p_sharpen: float = 0.0, p_noise: float = 0.0) -> np.ndarray:
    """Augmentation applied to real and fake alike: global colour jitter, resize or (``p_sharpen``) unsharp
    masking of the whole crop — the crisp look of a large photo shrunk to the crop — then (``p_noise``) sensor
    noise, then JPEG re-compression. A probability of 0 draws nothing, so a recipe without a step is reproduced
    exactly as it was before the step existed."""
    out = image
    if rng.random() < p_colour:
        out = colour_jitter(out, rng, strength=0.5)
    if p_sharpen > 0 and rng.random() < p_sharpen:
        blurred = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.6, 1.5))
        amount = rng.uniform(0.3, 1.0)
        out = cv2.addWeighted(out, 1 + amount, blurred, -amount, 0)
    elif rng.random() < p_resize:
        out = rescale(out, rng.uniform(0.4, 0.95), int(rng.choice([cv2.INTER_LINEAR, cv2.INTER_CUBIC])))
    if p_noise > 0 and rng.random() < p_noise:
        out = sensor_noise(out, rng)
    if rng.random() < p_jpeg:
        out = jpeg(out, int(rng.integers(40, 96)))
    return out
