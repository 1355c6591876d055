"""Traces that need no training (#35): do the pixel and expression traces a local edit leaves tell the VIP's own
edits (``selfmouth``, ``reshape``) from genuine photos? Measured, not shipped (docs/artifact.md, "Traces that need
no training").

    python benchmarks/traces.py --out out/traces        # 5 VIPs, 10 forgeries of each kind, ~4 min on one core

Nothing here is fitted to a forgery, so every number is held out. Per face:

1. **noise**: the log ratio of Immerkær's noise estimate inside each part's hull (eyes, nose, mouth) to the face's
   skin outside the parts. A pasted or resampled part should read smoother (or, where colour matching stretched it,
   noisier) than the skin around it. AUC of the part's ratio, both ways (the larger of AUC and 1 − AUC is shown, with
   the direction);
2. **grid**: the strength of the photo's 8×8 JPEG grid in the face's skin, as a share of its strength in the
   background around the face. The grid's phase is estimated from the whole photo's clipped neighbour differences
   (right on every LFW and ``hires/`` photo, also after a crop by 3×5 px). A face resampled after the photo was last
   compressed (warped in, reshaped, morphed) loses the grid the rest of the photo keeps. Faces whose background grid
   is weak (below ``--min-grid``) are not judged. Reported: false alarms on genuine photos at the threshold that
   rejects 1 % of clean genuine photos (LFW under JPEG 60 / 85, 0.5× resize, blur σ 1, noise σ 8, and ``hires/``),
   and each kind rejected at it, delivered in memory, as JPEG 95 and as JPEG 85;
3. **expression**: MediaPipe's mouth and jaw blendshapes predicted from the others (eyes, brows, cheeks, nose) by a
   ridge regression fitted on genuine photos of A–L background people; the Mahalanobis distance of the residual.
   A mouth from another photo should disagree with the eyes and cheeks it was pasted under;
4. **the mesh under a reshape**: each feature of ``--follow`` genuine photos per VIP reshaped (``reshape``, the
   feature fixed) and the mesh fitted again: the change in the spread of the feature's mesh points as a share of
   the forger's own scale change, and the move of their centre as a share of its shift. Geometry read from the mesh
   can see no more of a reshape than the mesh follows.
"""

from __future__ import annotations

from one_core import DEFAULT_DATA, report  # first: pins every thread pool to one core
from artifact import blur, half_resize, jpeg, noise  # noqa: E402  the detector benchmark's degradations
from verdict import VIPS, auc, forge_results_of  # noqa: E402  the verdict benchmark's VIPs and forgeries

import argparse  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

PARTS = ("eyes", "nose", "mouth")
GENUINE_CONDITIONS = {"clean": None, "JPEG 60": lambda im: jpeg(im, 60), "JPEG 85": lambda im: jpeg(im, 85),
                      "0.5× resize": half_resize, "blur σ 1": blur, "noise σ 8": noise}
DELIVERIES = {"in memory": None, "JPEG 95": lambda im: jpeg(im, 95), "JPEG 85": lambda im: jpeg(im, 85)}
SHOWN = ("selfmouth", "reshape", "mouth", "selfswap", "reenact", "efs", "morph@0.8", "lookalike", "swap")


def grid_profile(grey: np.ndarray, mask: np.ndarray, clip: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Mean absolute neighbour difference at each of the 8 grid phases, across columns and across rows, over the
    pairs of pixels both inside ``mask`` (differences clipped at ``clip`` grey levels where given)."""
    out = []
    for axis in (1, 0):
        d = np.abs(np.diff(grey, axis=axis))
        m = mask[:, :-1] & mask[:, 1:] if axis == 1 else mask[:-1, :] & mask[1:, :]
        if clip is not None:
            d = np.minimum(d, clip)
        phase = (lambda o: (slice(None), slice(o, None, 8))) if axis == 1 else (lambda o: (slice(o, None, 8),))
        out.append(np.array([d[phase(o)][m[phase(o)]].mean() if m[phase(o)].any() else np.nan for o in range(8)]))
    return out[0], out[1]


def grid_phase(grey: np.ndarray) -> tuple[int, int]:
    """The JPEG grid's phase (column, row) of the block boundaries: where the clipped differences peak."""
    px, py = grid_profile(grey, np.ones(grey.shape, bool), clip=2.0)
    return int(np.nanargmax(px)), int(np.nanargmax(py))


def grid_strength(grey: np.ndarray, mask: np.ndarray, phase: tuple[int, int]) -> float:
    """How much larger the differences across block boundaries are than inside blocks, in ``mask`` (0: no grid)."""
    def one(profile: np.ndarray, o: int) -> float:
        rest = np.nanmean(np.delete(profile, o))
        return float((profile[o] - rest) / (rest + 1e-3))

    px, py = grid_profile(grey, mask, clip=None)
    return 0.5 * (one(px, phase[0]) + one(py, phase[1]))


def traces(image: np.ndarray, face) -> dict[str, float]:
    """Every trace of one face (its mesh is needed): ``noise_<part>``, ``grid_back``, ``grid_skin``."""
    from vipguard.faces import region_mask
    from vipguard.faces.quality import NOISE_MASK  # Immerkær's mask, as the detector's noise level uses it

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    pts = face.mesh.points
    whole = region_mask(pts, "face", image.shape) > 0
    skin = whole & ~(region_mask(pts, "inner", image.shape) > 0)
    response = np.abs(cv2.filter2D(grey, cv2.CV_32F, NOISE_MASK))
    level = lambda m: float(response[m].mean()) + 1e-3 if m.any() else float("nan")  # noqa: E731
    out = {f"noise_{p}": float(np.log(level(region_mask(pts, p, image.shape, dilate=3) > 0) / level(skin)))
           for p in PARTS}
    x0, y0, x1, y1 = face.detection.box
    cx, cy, bw, bh = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    yy, xx = np.mgrid[0:grey.shape[0], 0:grey.shape[1]]
    near = (np.abs(xx - cx) <= 1.5 * bw) & (np.abs(yy - cy) <= 1.5 * bh)
    back = near & (((xx - cx) / (0.65 * bw)) ** 2 + ((yy - cy) / (0.7 * bh)) ** 2 > 1)
    phase = grid_phase(grey)
    out["grid_back"] = grid_strength(grey, back, phase)
    out["grid_skin"] = grid_strength(grey, skin, phase)
    return out


def expression_model(rows: list[dict[str, float]]):
    """(score function, mouth names): the Mahalanobis distance of the mouth and jaw blendshapes from a ridge
    regression on the other blendshapes, fitted on ``rows`` (genuine photos' blendshapes)."""
    from sklearn.linear_model import Ridge

    names = sorted(k for k in rows[0] if k != "_neutral")
    mouth = [n for n in names if n.startswith(("mouth", "jaw"))]
    rest = [n for n in names if n not in mouth]
    table = lambda rs, cols: np.array([[r[c] for c in cols] for r in rs])  # noqa: E731
    model = Ridge(alpha=1.0).fit(table(rows, rest), table(rows, mouth))
    residual = table(rows, mouth) - model.predict(table(rows, rest))
    inverse = np.linalg.inv(np.cov(residual.T) + 1e-4 * np.eye(len(mouth)))

    def score(rs: list[dict[str, float]]) -> np.ndarray:
        r = table(rs, mouth) - model.predict(table(rs, rest))
        return np.einsum("ij,jk,ik->i", r, inverse, r)

    return score, mouth


def two_way(pos: np.ndarray, neg: np.ndarray) -> str:
    """AUC of ``pos`` against ``neg`` either way round: '0.71 ↓' (forgeries lower) or '0.64 ↑'."""
    a = auc(pos, neg)
    return f"{max(a, 1 - a):.2f} {'↑' if a >= 0.5 else '↓'}"


def collect(args):
    from vipguard.faces import FaceAnalyzer
    from vipguard.infra.io import load_image

    lfw = args.data / "lfw"
    rng = np.random.default_rng(args.seed)
    mz = sorted(d.name for d in lfw.iterdir() if d.is_dir() and "M" <= d.name[:1].upper() <= "Z" and d.name not in VIPS)
    al = sorted(d.name for d in lfw.iterdir() if d.is_dir() and d.name[:1].upper() <= "L" and d.name not in VIPS)
    measured: dict[tuple[str, str], list[dict]] = defaultdict(list)  # (kind, condition) → traces
    followed: dict[str, list[tuple[float, float]]] = defaultdict(list)  # feature → (share of scale, of shift)
    shapes: dict[str, list[dict]] = defaultdict(list)  # kind → blendshapes (in memory)
    t0 = time.perf_counter()
    with FaceAnalyzer() as a:
        def face_of(image):
            faces = a.analyze(image, max_faces=1, embedders=())
            return faces[0] if faces and faces[0].mesh is not None else None

        def analysed(path):
            image = load_image(path)
            face = face_of(image)
            return (image, face) if face is not None else None

        for name in [al[i] for i in rng.choice(len(al), min(args.fit_people, len(al)), replace=False)]:
            for path in sorted((lfw / name).glob("*.jpg"))[:2]:
                face = face_of(load_image(path))
                if face is not None:
                    shapes["fit"].append(dict(face.mesh.blendshapes))
        for path in sorted((args.data / "hires").glob("*.jpg")):
            image = load_image(path)
            for face in a.analyze(image, embedders=()):
                if face.mesh is not None:
                    measured[("genuine", "hires/")].append(traces(image, face))
        print(f"  fitted on {len(shapes['fit'])} photos, hires/ measured; {time.perf_counter() - t0:.0f} s", flush=True)
        others = [o for o in (analysed(sorted((lfw / n).glob("*.jpg"))[0])
                              for n in [mz[i] for i in rng.choice(len(mz), args.others, replace=False)]) if o]
        for vip in args.vips:
            photos = sorted((lfw / vip).glob("*.jpg"))
            test = [t for t in (analysed(p) for p in photos[20: 20 + args.genuine]) if t is not None]
            for i, (image, face) in enumerate(test[: args.follow]):
                for feature, share in mesh_follows(image, face, face_of, np.random.default_rng([args.seed, i])):
                    followed[feature].append(share)
            for image, face in test:
                shapes["genuine"].append(dict(face.mesh.blendshapes))
                for condition, degrade in GENUINE_CONDITIONS.items():
                    seen = image if degrade is None else degrade(image)
                    f = face if degrade is None else face_of(seen)
                    if f is not None:
                        measured[("genuine", condition)].append(traces(seen, f))
            for kind, result in forge_results_of(test, others, np.arange(min(5, len(others))), args.per_kind,
                                                 args.seed):
                for delivery, degrade in DELIVERIES.items():
                    seen = result.image if degrade is None else degrade(result.image)
                    f = face_of(seen)
                    if f is None:
                        continue
                    measured[(kind, delivery)].append(traces(seen, f))
                    if degrade is None:
                        shapes[kind].append(dict(f.mesh.blendshapes))
            print(f"  {vip}: {time.perf_counter() - t0:.0f} s so far", flush=True)
    return measured, shapes, followed


def mesh_follows(image, face, face_of, rng):
    """Yield (feature, (share of the scale change, share of the shift)) that the mesh fitted again on a reshape of
    ``image`` follows, for each of the reshape's features."""
    from vipguard import forge
    from vipguard.forge.selfedit import FEATURES, feature_points

    source = forge.ForgeInput(image, face)
    for feature in FEATURES:
        result = forge.FORGERS.create("reshape", feature=feature).forge(source, source, rng)
        again = face_of(result.image)
        if again is None:
            continue
        before, after = (feature_points(f.mesh.points, feature)[:, :2] for f in (face, again))
        spread = lambda pts: float(np.sqrt(((pts - pts.mean(0)) ** 2).sum(1).mean()))  # noqa: E731
        scale, shift = result.params["scale"], float(np.linalg.norm(result.params["shift_px"]))
        moved = float(np.linalg.norm(after.mean(0) - before.mean(0)))
        yield feature, ((spread(after) / spread(before) - 1) / (scale - 1), moved / max(shift, 1e-3))


def judged_skin(rows: list[dict], min_grid: float) -> np.ndarray:
    """The grid's strength in the skin as a share of the background's; a face whose background grid is weaker than
    ``min_grid`` is not judged and reads as a typical genuine face (1)."""
    return np.array([r["grid_skin"] / r["grid_back"] if r["grid_back"] >= min_grid else 1.0 for r in rows])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--vips", nargs="+", default=VIPS)
    p.add_argument("--genuine", type=int, default=40, help="held-out genuine photos per VIP (from _0021)")
    p.add_argument("--others", type=int, default=60, help="M–Z people as forgery targets")
    p.add_argument("--per-kind", type=int, default=10, help="forgeries of each kind per VIP")
    p.add_argument("--fit-people", type=int, default=700, help="A–L people (2 photos each) the expression model fits")
    p.add_argument("--min-grid", type=float, default=0.15, help="background grid strength below which a face is "
                                                                "not judged by the grid trace")
    p.add_argument("--follow", type=int, default=6, help="genuine photos per VIP reshaped for the mesh test")
    p.add_argument("--seed", type=int, default=4321)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    if not (args.data / "lfw").is_dir():
        p.error(f"no LFW photos under {args.data} (expected {args.data / 'lfw'})")
    measured, shapes, followed = collect(args)
    kinds = [k for k in SHOWN if (k, "in memory") in measured]
    results: dict = {"noise": {}, "grid": {}, "expression": {}}
    lines = ["# Traces that need no training (#35)", "",
             f"5 VIPs, held-out photos ({len(measured[('genuine', 'clean')])} genuine), {args.per_kind} forgeries "
             f"per kind and VIP (seed {args.seed}). AUC against genuine photos, either way round "
             "(↓: forgeries read lower).", "",
             "## 1. Noise in each part against the face's skin", "",
             "| kind | " + " | ".join(f"{p} in memory | {p} JPEG 85" for p in PARTS) + " |",
             "|---|" + "---|" * (2 * len(PARTS))]
    for k in kinds:
        cells = []
        for part in PARTS:
            for delivery, genuine in (("in memory", "clean"), ("JPEG 85", "JPEG 85")):
                pos = np.array([r[f"noise_{part}"] for r in measured[(k, delivery)]])
                neg = np.array([r[f"noise_{part}"] for r in measured[("genuine", genuine)]])
                cells.append(two_way(pos, neg))
                results["noise"][f"{k}/{part}/{delivery}"] = auc(pos, neg)
        lines.append(f"| {k} | " + " | ".join(cells) + " |")

    clean = judged_skin(measured[("genuine", "clean")], args.min_grid)
    at = float(np.quantile(clean, 0.01))
    genuine_conditions = list(GENUINE_CONDITIONS) + ["hires/"]
    alarms = {c: float(np.mean(judged_skin(measured[("genuine", c)], args.min_grid) < at)) for c in genuine_conditions}
    judged = {c: float(np.mean([r["grid_back"] >= args.min_grid for r in measured[("genuine", c)]]))
              for c in genuine_conditions}
    results["grid"] = {"threshold": at, "false_alarms": alarms, "judged": judged, "kinds": {}}
    lines += ["", "## 2. The JPEG grid in the face's skin against the background's", "",
              f"Threshold: the skin keeps less than {at:.3f} of the background's grid (1 % of clean genuine photos "
              f"below it); faces with a background grid under {args.min_grid} are not judged.", "",
              "| genuine photos | " + " | ".join(genuine_conditions) + " |", "|---|" + "---|" * len(genuine_conditions),
              "| judged | " + " | ".join(f"{100 * judged[c]:.0f} %" for c in genuine_conditions) + " |",
              "| false alarms | " + " | ".join(f"{100 * alarms[c]:.1f} %" for c in genuine_conditions) + " |", "",
              "| kind | " + " | ".join(f"{d}: rejected / AUC" for d in DELIVERIES) + " |", "|---|" + "---|" * 3]
    for k in kinds:
        cells = []
        for delivery in DELIVERIES:
            v = judged_skin(measured[(k, delivery)], args.min_grid)
            ref = clean if delivery == "in memory" else judged_skin(measured[("genuine", "JPEG 85")], args.min_grid)
            cells.append(f"{100 * np.mean(v < at):.0f} % / {auc(-v, -ref):.2f}")
            results["grid"]["kinds"][f"{k}/{delivery}"] = [float(np.mean(v < at)), auc(-v, -ref)]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")

    score, mouth = expression_model(shapes["fit"])
    genuine = score(shapes["genuine"])
    lines += ["", "## 3. The mouth's expression against the rest of the face", "",
              f"Ridge of {len(mouth)} mouth and jaw blendshapes on the others, fitted on {len(shapes['fit'])} A–L "
              "photos; AUC of the residual's Mahalanobis distance (in memory).", "",
              "| kind | AUC |", "|---|---|"]
    for k in kinds:
        a = auc(score(shapes[k]), genuine)
        results["expression"][k] = a
        lines.append(f"| {k} | {a:.3f} |")
    lines += ["", "## 4. How much of a reshape the mesh follows", "",
              f"{args.follow} genuine photos per VIP, each feature reshaped and the mesh fitted again; medians.", "",
              "| feature | n | share of the scale change | share of the shift |", "|---|---|---|---|"]
    results["mesh_follows"] = {}
    for feature, shares in followed.items():
        scale, shift = (float(np.median([s[i] for s in shares])) for i in (0, 1))
        results["mesh_follows"][feature] = {"n": len(shares), "scale": scale, "shift": shift}
        lines.append(f"| {feature} | {len(shares)} | {scale:.2f} | {shift:.2f} |")
    report("\n".join(lines), results, args.out, "traces")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
