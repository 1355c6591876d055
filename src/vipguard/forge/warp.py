"""Pure geometric and photometric helpers shared by the forgery methods.

One function per job: mesh points of an input, similarity alignment, piecewise-affine warp over a Delaunay
triangulation, anchor rings and frame points, colour transfer in LAB, feathered alpha, and the two blends
(alpha, Poisson). All functions are pure: they never modify their arguments.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import Delaunay

from .base import ForgeError, ForgeInput


def mesh_points(item: ForgeInput, role: str) -> np.ndarray:
    """The (478, 2) float64 mesh points of ``item``'s face; raises :class:`ForgeError` when there is no mesh."""
    if item.face.mesh is None:
        raise ForgeError(f"no face mesh in {role} ({item.path or 'image'})")
    points = np.asarray(item.face.mesh.points, np.float64)[:, :2]
    if not np.all(np.isfinite(points)):
        raise ForgeError(f"face mesh of {role} has non-finite points ({item.path or 'image'})")
    return points


def similarity_matrix(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2×3 similarity transform (rotation, uniform scale, translation) that best maps ``src`` to ``dst``
    in the least-squares sense (Umeyama, without reflection)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.array([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rotation = u @ np.diag(d) @ vt
    variance = (a**2).sum() / len(src)
    scale = float((s * d).sum() / variance) if variance > 0 else 1.0
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mu_d - scale * rotation @ mu_s
    return matrix


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2×3 affine ``matrix`` to (N, 2) ``points``."""
    return np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def anchor_ring(points: np.ndarray, shape: tuple[int, ...], scale: float = 1.6, count: int = 24) -> np.ndarray:
    """``count`` points on an ellipse around ``points`` (radii ``scale`` × half-extent), clipped to the image.

    Added unchanged to both sides of a warp, they pin the warp to the identity at the ring, so a warped face
    joins its untouched surroundings without a seam.
    """
    pts = np.asarray(points, np.float64)
    lo, hi = pts.min(0), pts.max(0)
    centre, radii = (lo + hi) / 2.0, (hi - lo) / 2.0 * scale
    angles = np.linspace(0.0, 2.0 * np.pi, count, endpoint=False)
    ring = centre + radii * np.stack([np.cos(angles), np.sin(angles)], 1)
    h, w = shape[:2]
    return np.clip(ring, [0.0, 0.0], [w - 1.0, h - 1.0])


def frame_points(shape: tuple[int, ...], per_side: int = 4) -> np.ndarray:
    """Points on the border of an image of ``shape``: the four corners and ``per_side - 1`` evenly spaced points
    inside each side, ``4 · per_side`` in all.

    Added unchanged to both sides of a warp, they make its triangulation cover the whole frame.
    """
    h, w = shape[:2]
    t = np.linspace(0.0, 1.0, max(int(per_side), 1), endpoint=False)
    right, bottom = w - 1.0, h - 1.0
    top = np.stack([t * right, np.zeros_like(t)], 1)
    side = np.stack([np.full_like(t, right), t * bottom], 1)
    base = np.stack([right - t * right, np.full_like(t, bottom)], 1)
    left = np.stack([np.zeros_like(t), bottom - t * bottom], 1)
    return np.concatenate([top, side, base, left])


def piecewise_affine(image: np.ndarray, src_pts: np.ndarray, dst_pts: np.ndarray, shape: tuple[int, ...],
                     border_mode: int = cv2.BORDER_REFLECT_101) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``image`` so that ``src_pts`` land on ``dst_pts``, one affine map per Delaunay triangle of ``dst_pts``.

    Returns ``(warped, valid)``: an image of ``shape`` (zero outside the triangulation) and a uint8 0/255 mask
    of the pixels the triangulation covers. ``border_mode`` (an OpenCV border type) says what is read where a
    triangle maps outside ``image``: mirrored pixels by default, zeros with ``cv2.BORDER_CONSTANT``.
    """
    src_pts = np.asarray(src_pts, np.float64)
    dst_pts = np.asarray(dst_pts, np.float64)
    if src_pts.shape != dst_pts.shape or len(dst_pts) < 3:
        raise ForgeError(f"cannot warp: {len(src_pts)} source points vs {len(dst_pts)} target points")
    h, w = shape[:2]
    x0, y0 = np.clip(np.floor(dst_pts.min(0)).astype(int), 0, [w, h])
    x1, y1 = np.clip(np.ceil(dst_pts.max(0)).astype(int) + 1, 0, [w, h])
    warped = np.zeros((h, w, image.shape[2]), image.dtype)
    valid = np.zeros((h, w), np.uint8)
    if x1 <= x0 or y1 <= y0:
        raise ForgeError("cannot warp: the target face lies outside the image")
    tri = Delaunay(dst_pts)
    owner = triangle_map(tri, (x0, y0, x1, y1))
    covered = owner >= 0
    ys, xs = np.nonzero(covered)
    simplex = owner[ys, xs]
    pixels = np.stack([xs + x0, ys + y0], 1).astype(np.float64)
    affine = barycentric_transforms(tri.points, tri.simplices)[simplex]  # (n, 3, 2), each pixel's triangle
    b = np.einsum("nij,nj->ni", affine[:, :2], pixels - affine[:, 2])
    bary = np.concatenate([b, 1.0 - b.sum(1, keepdims=True)], 1)
    map_xy = np.full((*owner.shape, 2), -1.0, np.float32)
    map_xy[ys, xs] = np.einsum("ni,nij->nj", bary, src_pts[tri.simplices[simplex]])
    roi = cv2.remap(image, map_xy[..., 0], map_xy[..., 1], cv2.INTER_LINEAR, borderMode=border_mode)
    warped[y0:y1, x0:x1][covered] = roi[covered]
    valid[y0:y1, x0:x1][covered] = 255
    return warped, valid


def liquify(image: np.ndarray, centre: np.ndarray, radius: float, scale: float, shift: np.ndarray,
            below: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A "liquify" edit: the pixel at p moves by w(p)·((scale − 1)(p − centre) + shift), w(p) = exp(−|p − centre|² /
    radius²) (times a soft step that keeps the rows above ``below`` in place, when given). The field is smooth and
    one-to-one for the small scales and shifts used, so it is inverted by fixed-point iteration and applied with
    ``cv2.remap``. Returns ``(image, weight, motion)``: the warped image, w at each output pixel (0–1, float32)
    and how far each output pixel's content moved (pixels, float32)."""
    h, w = image.shape[:2]
    centre = np.asarray(centre, np.float64)
    shift = np.asarray(shift, np.float64)
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)), -1)

    def weight(p: np.ndarray) -> np.ndarray:
        out = np.exp(-((p - centre) ** 2).sum(-1) / radius**2)
        if below is not None:
            out = out / (1.0 + np.exp(-(p[..., 1] - below) / (0.125 * radius)))
        return out

    back = grid.copy()  # the output pixel q shows the source pixel p with p + D(p) = q
    for _ in range(8):
        back = grid - weight(back)[..., None] * ((scale - 1.0) * (back - centre) + shift)
    out = cv2.remap(image, back[..., 0].astype(np.float32), back[..., 1].astype(np.float32), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REFLECT_101)
    motion = np.linalg.norm(grid - back, axis=-1).astype(np.float32)
    return out, weight(grid).astype(np.float32), motion


def barycentric_transforms(points: np.ndarray, simplices: np.ndarray) -> np.ndarray:
    """(m, 3, 2) barycentric transforms of the triangles, laid out as scipy's ``Delaunay.transform``
    (``[:, :2]`` = T⁻¹, ``[:, 2]`` = the third vertex r, so that ``b = T⁻¹ (x − r)``); NaN for degenerate
    triangles.

    Closed-form 2×2 inverses in numpy: scipy's version goes through LAPACK, whose thread pool can spin for seconds
    on a busy machine.
    """
    v = np.asarray(points, np.float64)[simplices]
    r = v[:, 2]
    a, c = v[:, 0, 0] - r[:, 0], v[:, 1, 0] - r[:, 0]  # T = [[a, c], [b, d]]: columns v0 − r, v1 − r
    b, d = v[:, 0, 1] - r[:, 1], v[:, 1, 1] - r[:, 1]
    det = a * d - b * c
    scale = np.maximum(np.abs(a * d) + np.abs(b * c), np.finfo(np.float64).tiny)
    ok = np.abs(det) > 1e-10 * scale
    inv_det = np.where(ok, 1.0 / np.where(ok, det, 1.0), np.nan)
    out = np.empty((len(v), 3, 2))
    out[:, 0, 0], out[:, 0, 1] = d * inv_det, -c * inv_det
    out[:, 1, 0], out[:, 1, 1] = -b * inv_det, a * inv_det
    out[:, 2] = np.where(ok[:, None], r, np.nan)
    return out


def triangle_map(tri: Delaunay, roi: tuple[int, int, int, int]) -> np.ndarray:
    """For each pixel of ``roi`` (x0, y0, x1, y1), the index of the triangle of ``tri`` that covers it (-1: none).

    Triangles are rasterised with sub-pixel precision; degenerate (zero-area) ones are skipped.
    """
    x0, y0, x1, y1 = roi
    owner = np.full((y1 - y0, x1 - x0), -1, np.int32)
    usable = np.all(np.isfinite(barycentric_transforms(tri.points, tri.simplices)), axis=(1, 2))
    corners = np.rint((tri.points[tri.simplices] - [x0, y0]) * 16.0).astype(np.int32)
    for k in np.flatnonzero(usable):
        cv2.fillConvexPoly(owner, corners[k], int(k), lineType=cv2.LINE_8, shift=4)
    return owner


def face_size(mask: np.ndarray) -> float:
    """A face's size in pixels: the square root of its mask's area (at least 1)."""
    return max(float(np.sqrt(np.count_nonzero(mask))), 1.0)


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` eroded by an elliptical element of ``radius`` pixels (unchanged for radius ≤ 0)."""
    if radius <= 0:
        return mask.copy()
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.erode(mask, kernel)


def match_colour(image: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` with its LAB mean and standard deviation inside ``mask`` moved to ``reference``'s there."""
    inside = mask > 0
    if np.count_nonzero(inside) < 16:
        return image.copy()
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    ref = cv2.cvtColor(reference, cv2.COLOR_RGB2LAB).astype(np.float32)
    mu_i, sd_i = lab[inside].mean(0), lab[inside].std(0) + 1e-3
    mu_r, sd_r = ref[inside].mean(0), ref[inside].std(0)
    gain = np.clip(sd_r / sd_i, 0.5, 2.0)
    out = (lab - mu_i) * gain + mu_r
    return cv2.cvtColor(np.clip(np.rint(out), 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def feather_alpha(mask: np.ndarray, width: int) -> np.ndarray:
    """A float32 alpha in [0, 1] that ramps from 0 at ``mask``'s edge to 1 about ``width`` pixels inside it.

    The ramp lies entirely inside ``mask``: alpha is exactly 0 wherever ``mask`` is 0.
    """
    radius = max(int(width) // 2, 1)
    core = erode(mask, radius).astype(np.float32) / 255.0
    alpha = cv2.GaussianBlur(core, (2 * radius + 1, 2 * radius + 1), radius / 2.0)
    alpha[mask == 0] = 0.0
    return alpha


def alpha_blend(foreground: np.ndarray, background: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``foreground·α + background·(1-α)`` as uint8; pixels with α = 0 equal ``background`` exactly."""
    a = alpha[..., None].astype(np.float32)
    out = foreground.astype(np.float32) * a + background.astype(np.float32) * (1.0 - a)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def poisson_blend(foreground: np.ndarray, background: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Poisson (gradient-domain) blend of ``foreground`` into ``background`` inside ``mask``
    (``cv2.seamlessClone``, normal clone), with the foreground kept at its own position.

    ``seamlessClone`` also touches pixels near the mask; those are restored, so only ``mask`` changes.
    """
    clone_mask = mask.copy()
    clone_mask[[0, -1], :] = 0
    clone_mask[:, [0, -1]] = 0
    if np.count_nonzero(clone_mask) < 16:
        raise ForgeError("cannot blend: the face mask is empty")
    x, y, w, h = cv2.boundingRect(clone_mask)
    centre = (x + w // 2, y + h // 2)
    cloned = cv2.seamlessClone(foreground, background, clone_mask, centre, cv2.NORMAL_CLONE)
    return np.where(mask[..., None] > 0, cloned, background)
