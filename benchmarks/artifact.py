"""Artefact-detector benchmark: the self-blending detector (``vipguard.artifact``) and the lite tier on forgeries made
with targets and seeds never used in training or enrolment.

    python benchmarks/artifact.py                         # 4 VIPs, ~4 min on one core
    python benchmarks/artifact.py --vips Tony_Blair --per-method 20 --genuine 30

For each VIP: enrol from photos _0001–_0020; genuine test = _0021 onward (≤ --genuine). Forgery targets are LFW
photos of people whose names start with M–Z that no part of the system has seen: not a VIP (of this run or the
detector's exclusion list), not a background identity (enrolment negatives / enrolment forgery targets), and not one
of the detector's training crops (the first 4 photos of each non-held-out identity). A seeded pool of --pool such
photos is analysed once; per VIP, the --lookalikes pool photos whose mobilefacenet embedding is nearest the VIP's
enrolled centre (``profile.centre``) are the "lookalike" targets, and forgeries alternate lookalike / random pool
targets. selfswap puts a VIP test photo onto another test photo of the same VIP; morph uses ratio 0.8. Forging
seeds derive from --seed (default 2024; training used seeds 0/1, enrolment 0).

    python benchmarks/artifact.py --artifact-weights OLD --compare NEW   # two detectors side by side
    python benchmarks/artifact.py --fold part=NO_PART --fold ghost=NO_GHOST --fold geometry=NO_GEOMETRY
                                  # (2b): each family's methods scored by the detector trained without it

Tables: (1) per method, on identity-passing forgeries (sim_global ≥ the 5th percentile of that VIP's genuine test
photos), lite-score AUC, similarity-only AUC and each detector's artefact-only AUC (1 − artifact score) vs the
genuine test photos; (2) artefact-only AUC and TPR at threshold per method on all forgeries, per detector; (3) each
detector's false-positive rate on genuine test photos at its operating threshold (clean, JPEG 60, 0.5× resize down
and back up, Gaussian blur σ 1, RGB noise σ 8), at the verdict (on the crops it judges) and raw (every crossing);
(4) ms per face of ``detector.score`` (crop + ONNX), one thread; (5) a second domain, ``hires/`` (higher-resolution
photos): self-blend and pair-blend AUC and false-positive rates per detector; with ``--probe`` (needs torch; v1
detectors only), (6) a logistic probe on the detector's pooled features fitted on *real forgeries* (leave one VIP
and one method out) beside the shipped self-blend read-out: whether the limit is the training target or the
representation. AUCs pool all VIPs. Forgeries where the guard finds no face are left out of the AUCs and counted.
"""

from __future__ import annotations

from one_core import DEFAULT_DATA  # first: pins every thread pool to one core

import argparse  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

DEFAULT_VIPS = ["Tony_Blair", "Colin_Powell", "Serena_Williams", "George_W_Bush"]
# the forgery methods each edit family of the training views stands for (vipguard.train.edits): a method's AUC counts
# as held out only from a detector trained without its family (--fold FAMILY=DIR)
FAMILY_METHODS = {"part": ("selfmouth", "mouth", "eyes", "nose"), "ghost": ("morph",),
                  "geometry": ("reshape", "reenact")}
console = Console(width=140)


@dataclass(frozen=True)
class Scored:
    """One checked test image: the verdict's score, its similarity, every detector's artefact score (the first is the
    Guard's own evidence) and the score with the hard veto in place of the graded term (the shipped rule's peer)."""

    vip: str
    lite: float  # Verdict.score
    sim: float  # sim_global
    arts: tuple[float, ...]  # one per detector, in --artifact-weights, --compare order
    hard: float  # Decision.rescored(math.inf)
    target: str | None = None  # forgeries: the target's kind (lookalike | random | self)

    @classmethod
    def of(cls, vip: str, verdict, arts: tuple[float, ...], target: str | None = None) -> Scored:
        return cls(vip, float(verdict.score), float(verdict.evidence["sim_global"]), tuple(arts),
                   verdict.decision.rescored(math.inf), target)


def auc_value(pos: list[float], neg: list[float]) -> float | None:
    from sklearn.metrics import roc_auc_score

    if not pos or not neg:
        return None
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    return float(roc_auc_score(y, np.r_[pos, neg]))


def fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def jpeg(image: np.ndarray, quality: int = 60) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def blur(image: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma)


def noise(image: np.ndarray, sigma: float = 8.0) -> np.ndarray:
    """Sensor-like RGB Gaussian noise of ``sigma``, the same draw for every photo of a run (seeded per size)."""
    from vipguard.artifact.gate import add_noise

    return add_noise(image, sigma, np.random.default_rng(image.shape[0] * 7919 + image.shape[1]))


def half_resize(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def target_pool(lfw: Path, vips: list[str]) -> list[Path]:
    """M–Z photos never used by the detector's training, the background set or enrolment."""
    from vipguard.lite.background import load_background
    from vipguard.train.artifact_data import VIP_IDENTITIES, is_held_out

    background = set(load_background().identities)
    banned = set(vips) | set(VIP_IDENTITIES) | background
    out = []
    for person in sorted(p for p in lfw.iterdir() if p.is_dir()):
        if not "M" <= person.name[:1].upper() <= "Z" or person.name in banned:
            continue
        photos = sorted(person.glob("*.jpg"))
        # training crops: the first 4 photos of each identity that is not held out
        out.extend(photos if is_held_out(person.name) else photos[4:])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding lfw/")
    ap.add_argument("--vips", nargs="+", default=DEFAULT_VIPS)
    ap.add_argument("--genuine", type=int, default=40, help="genuine test photos per VIP (from _0021)")
    ap.add_argument("--per-method", type=int, default=40, help="forgeries per method per VIP")
    ap.add_argument("--pool", type=int, default=1000,
                    help="unseen M–Z candidate target photos analysed (capped at all of them)")
    ap.add_argument("--lookalikes", type=int, default=20, help="nearest pool photos per VIP used as lookalikes")
    ap.add_argument("--timing-faces", type=int, default=40, help="faces timed for artifact.score")
    ap.add_argument("--timing-reps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--artifact-weights", type=Path, default=None,
                    help="artefact-detector folder to evaluate (default: the packaged weights)")
    ap.add_argument("--compare", type=Path, nargs="*", default=[],
                    help="more artefact-detector folders scored on the same faces, side by side in tables 2-4")
    ap.add_argument("--fold", action="append", default=[], metavar="FAMILY=DIR",
                    help="a detector trained without one edit family (part, ghost, geometry): scored beside the "
                         "others, and table (2b) reads that family's methods from it alone (leave-one-family-out)")
    ap.add_argument("--deliver-jpeg", type=int, default=None, metavar="Q",
                    help="check every genuine test photo and forgery as a JPEG of quality Q, as real images are "
                         "delivered (default: as made, in memory); tables 1-2")
    ap.add_argument("--save-records", type=Path, default=None,
                    help="also write every genuine and forgery record (VIP, lite score, similarity, artefact scores, "
                         "method, target kind) as JSON, for offline study of how the artefact score may enter")
    ap.add_argument("--probe", action="store_true",
                    help="also table (5): a linear probe on the detector's features fitted on forgeries (needs torch)")
    args = ap.parse_args(argv)
    folds = {}
    for item in args.fold:
        family, _, folder = item.partition("=")
        if family not in FAMILY_METHODS or not folder:
            ap.error(f"--fold {item!r}: expected FAMILY=DIR with FAMILY one of {', '.join(FAMILY_METHODS)}")
        folds[family] = Path(folder)

    from vipguard import forge
    from vipguard.artifact.detector import ArtifactDetector
    from vipguard.faces import AnalyzerConfig, FaceAnalyzer
    from vipguard.infra.io import load_image
    from vipguard.infra.registry import Registry
    from vipguard.lite.background import load_background
    from vipguard.lite.enrol import Enroller
    from vipguard.lite.explain import probability_text
    from vipguard.lite.guard import Guard
    from vipguard.lite.profile import PROFILE_CODEC

    console.print("[bold]vipguard artefact-detector benchmark[/] — one thread (OMP/OpenBLAS/OpenCV/onnxruntime = 1). "
                  "Note: timings were taken on a shared machine (2 cores shared with other jobs), so expect noise.")
    t_all = time.perf_counter()
    lfw = args.data / "lfw"
    rng = np.random.default_rng(args.seed)
    pool_all = target_pool(lfw, args.vips)
    pick = sorted(rng.choice(len(pool_all), size=min(args.pool, len(pool_all)), replace=False))
    pool_paths = [pool_all[i] for i in pick]
    methods = list(forge.FORGERS.names)

    genuine: list[Scored] = []
    fakes: dict[str, list[Scored]] = defaultdict(list)
    fails: dict[str, int] = defaultdict(int)
    no_face: dict[str, int] = defaultdict(int)
    def delivered(image: np.ndarray) -> np.ndarray:
        return image if args.deliver_jpeg is None else jpeg(image, args.deliver_jpeg)

    conditions = (("clean", None), ("JPEG 60", jpeg), ("0.5× resize", half_resize), ("blur σ 1", blur),
                  ("noise σ 8", noise))
    # per condition and genuine face, each detector's alarm: its score at or above the veto in force for that crop
    # (ArtifactResult.veto: a noisy crop's own, ArtifactConfig.veto_at; else the detector's threshold), and whether
    # the detector judges the crop (ArtifactResult.judged: sharp enough; the verdict applies no veto to one it does not)
    fpr_alarms: dict[str, list[tuple[bool, ...]]] = {name: [] for name, _ in conditions}
    fpr_judged: dict[str, list[tuple[bool, ...]]] = {name: [] for name, _ in conditions}
    fpr_noface: dict[str, int] = defaultdict(int)
    timing_faces: list[tuple[np.ndarray, object]] = []
    probe_rows: list[tuple[str, str, np.ndarray]] = []  # (vip, method or "genuine", detector crop) for --probe

    with tempfile.TemporaryDirectory() as tmp, FaceAnalyzer(AnalyzerConfig(num_threads=1)) as a:
        artifact = ArtifactDetector(args.artifact_weights, num_threads=1)
        enroller = Enroller(a, load_background(), artifact=artifact)
        reg = Registry(Path(tmp) / "r.db", codec=PROFILE_CODEC)
        guard = Guard(reg, a, artifact=artifact)

        compared = [*args.compare, *folds.values()]
        detectors = [artifact] + [ArtifactDetector(w, num_threads=1) for w in compared]
        names = ([args.artifact_weights.name if args.artifact_weights else "packaged"] + [w.name for w in args.compare]
                 + [f"without {f}" for f in folds])
        thresholds = [float(d.threshold) for d in detectors]

        def arts(image, evidence):
            """The first detector's score (the guard's own evidence) and every other detector's, same face."""
            first = float(evidence["artifact"])
            if len(detectors) == 1:
                return (first,)
            faces = a.analyze(image, primary_only=True, embedders=())
            return (first, *(float(d.score(image, faces[0]).score) if faces else float("nan")
                             for d in detectors[1:]))

        pool = []
        for p in pool_paths:
            img = load_image(p)
            faces = a.analyze(img, primary_only=True)
            if faces and "mobilefacenet" in faces[0].embeddings:
                pool.append((p, img, faces[0]))
        pool_emb = np.stack([f.embeddings["mobilefacenet"] for _, _, f in pool])
        console.print(f"  target pool: {len(pool)} faces from {len(pool_paths)} of {len(pool_all)} unseen M–Z photos "
                      f"({time.perf_counter() - t_all:.0f} s)")

        for vi, vip in enumerate(args.vips):
            photos = sorted((lfw / vip).glob("*.jpg"))
            r = enroller.enrol(vip, photos[:20])
            reg.put(r.profile)
            test = []
            for p in photos[20 : 20 + args.genuine]:
                img = load_image(p)
                shown = delivered(img)
                v = guard.check(shown, vip=vip)
                if v.score is None:
                    no_face["genuine"] += 1
                    continue
                genuine.append(Scored.of(vip, v, arts(shown, v.evidence)))
                if args.probe:
                    probe_rows.append((vip, "genuine", v.face_crop))
                faces = a.analyze(img, primary_only=True)
                if faces:
                    test.append((p, img, faces[0]))
                    if len(timing_faces) < args.timing_faces:
                        timing_faces.append((img, faces[0]))
                for name, fn in conditions:
                    im2 = img if fn is None else fn(img)
                    f2 = faces if fn is None else a.analyze(im2, primary_only=True, embedders=())
                    if not f2:
                        fpr_noface[name] += 1
                        continue
                    results = [d.score(im2, f2[0]) for d in detectors]
                    fpr_alarms[name].append(tuple(r.score >= (r.veto if r.veto is not None else t)
                                                  for r, t in zip(results, thresholds)))
                    fpr_judged[name].append(tuple(r.judged for r in results))

            order = np.argsort(-(pool_emb @ np.asarray(r.profile.centre, np.float32)))
            lookalikes = [pool[i] for i in order[: args.lookalikes]]
            for mi, m in enumerate(methods):
                forger = forge.FORGERS.create(m, ratio=0.8) if m == "morph" else forge.FORGERS.create(m)
                mrng = np.random.default_rng([args.seed, vi, mi])
                made = tries = 0
                while made < args.per_method and tries < 4 * args.per_method and len(test) >= 2:
                    tries += 1
                    si = int(mrng.integers(len(test)))
                    sp, simg, sface = test[si]
                    if m in forge.SELF_TARGET_METHODS:
                        ti = int(mrng.integers(len(test) - 1))
                        (tp, timg, tface), kind = test[ti + (ti >= si)], "self"
                    elif made % 2 == 0:
                        (tp, timg, tface), kind = lookalikes[(made // 2) % len(lookalikes)], "lookalike"
                    else:
                        (tp, timg, tface), kind = pool[int(mrng.integers(len(pool)))], "random"
                    try:
                        res = forger.forge(forge.ForgeInput(simg, sface, str(sp)),
                                           forge.ForgeInput(timg, tface, str(tp)),
                                           np.random.default_rng([args.seed, vi, mi, tries]))
                    except forge.ForgeError:
                        fails[m] += 1
                        continue
                    made += 1
                    shown = delivered(res.image)
                    v = guard.check(shown, vip=vip)
                    if v.score is None:
                        no_face[m] += 1
                        continue
                    fakes[m].append(Scored.of(vip, v, arts(shown, v.evidence), kind))
                    if args.probe:
                        probe_rows.append((vip, m, v.face_crop))
            console.print(f"  {vip}: enrolled ({r.seconds:.0f} s), {len(test)} test faces, "
                          f"{sum(len(fakes[m]) for m in methods)} forgeries so far "
                          f"({time.perf_counter() - t_all:.0f} s)")

        # (4) score timing, one thread, per detector
        timings = []
        for det in detectors:
            for img, face in timing_faces[:3]:
                det.score(img, face)  # warm-up
            times = []
            for _ in range(args.timing_reps):
                for img, face in timing_faces:
                    t0 = time.perf_counter()
                    det.score(img, face)
                    times.append(1000 * (time.perf_counter() - t0))
            timings.append(times)

    if args.save_records is not None:
        import json

        args.save_records.write_text(json.dumps({"genuine": [asdict(g) for g in genuine],
                                                 "fakes": {m: [asdict(f) for f in fs] for m, fs in fakes.items()},
                                                 "detectors": names}))
    # identity-passing threshold per VIP: 5th percentile of its genuine sim_global
    sim_floor = {vip: float(np.percentile([g.sim for g in genuine if g.vip == vip], 5))
                 for vip in {g.vip for g in genuine}}
    nd = len(detectors)
    pos_lite = [g.lite for g in genuine]
    pos_sim = [g.sim for g in genuine]
    pos_art = [[1.0 - g.arts[k] for g in genuine] for k in range(nd)]

    def art_auc(recs, k):
        return auc_value(pos_art[k], [1.0 - f.arts[k] for f in recs if np.isfinite(f.arts[k])])

    pos_hard = [g.hard for g in genuine]

    def row_aucs(recs):
        return (auc_value(pos_lite, [f.lite for f in recs]), auc_value(pos_hard, [f.hard for f in recs]),
                auc_value(pos_sim, [f.sim for f in recs]),
                *(art_auc(recs, k) for k in range(nd)))

    t1 = Table(title=f"(1) Identity-passing forgeries (sim_global ≥ VIP's genuine 5th pct) vs {len(genuine)} genuine "
                     f"test photos, {len(args.vips)} VIPs pooled, seed {args.seed}")
    for c in ["method", "n passing / made", "lite AUC (verdict.score)", "lite AUC, hard veto", "similarity-only AUC",
              *(f"artefact-only AUC, {n}" for n in names)]:
        t1.add_column(c, justify="left" if c == "method" else "right")
    passing_all, made_all = [], 0
    for m in methods:
        passing = [f for f in fakes[m] if f.sim >= sim_floor.get(f.vip, np.inf)]
        passing_all += passing
        made_all += len(fakes[m])
        t1.add_row(m, f"{len(passing)} / {len(fakes[m])}", *map(fmt, row_aucs(passing)))
    t1.add_row("all identity-passing", f"{len(passing_all)} / {made_all}", *map(fmt, row_aucs(passing_all)),
               style="bold")
    for kind in ("lookalike", "random", "self"):
        sub = [f for f in passing_all if f.target == kind]
        t1.add_row(f"  … {kind} targets", f"{len(sub)}", *map(fmt, row_aucs(sub)))
    console.print(t1)

    def tpr(scores, k):
        return fmt(float(np.mean(np.array(scores) >= thresholds[k]))) if scores else None

    t2 = Table(title="(2) Artefact-only AUC / TPR at each detector's threshold, per method on all forgeries (the "
                     "detectors were trained on pseudo-fakes only, never on these methods); thresholds "
                     + ", ".join(f"{n} {probability_text(t)}" for n, t in zip(names, thresholds)))
    t2.add_column("method")
    t2.add_column("n", justify="right")
    for n in names:
        t2.add_column(f"AUC {n}", justify="right")
        t2.add_column(f"TPR {n}", justify="right")
    t2.add_column("forge failures / no face", justify="right")
    all_f = []
    for m in methods:
        recs = fakes[m]
        all_f += recs
        cells = [c for k in range(nd) for c in (fmt(art_auc(recs, k)), tpr([f.arts[k] for f in recs], k))]
        t2.add_row(m, str(len(recs)), *cells, f"{fails[m]} / {no_face[m]}")
    cells = [c for k in range(nd) for c in (fmt(art_auc(all_f, k)), tpr([f.arts[k] for f in all_f], k))]
    t2.add_row("all forgeries", str(len(all_f)), *cells,
               f"{sum(fails.values())} / {sum(no_face[m] for m in methods)}", style="bold")
    console.print(t2)
    if folds:
        t2b = Table(title="(2b) Leave-one-family-out: each method's artefact-only AUC / TPR from the detector trained "
                          "without its edit family (held out), beside the first detector's")
        for c in ["family", "method", "n", f"AUC {names[0]}", "AUC held out", f"TPR {names[0]}", "TPR held out"]:
            t2b.add_column(c, justify="left" if c in ("family", "method") else "right")
        for family in folds:
            k = names.index(f"without {family}")
            for m in FAMILY_METHODS[family]:
                recs = fakes.get(m, [])
                t2b.add_row(family, m, str(len(recs)), fmt(art_auc(recs, 0)), fmt(art_auc(recs, k)),
                            tpr([f.arts[0] for f in recs], 0), tpr([f.arts[k] for f in recs], k))
        console.print(t2b)

    t3 = Table(title="(3) False-positive rate on genuine test photos at each detector's threshold, a noisy crop's "
                     "at its noise veto (target ≤ 3 %): at the verdict (alarms on crops the detector judges; a "
                     "blurred crop is shown, not judged) / every crossing, judged or not")
    t3.add_column("condition")
    t3.add_column("n", justify="right")
    for n in names:
        t3.add_column(f"FPR {n}", justify="right")
        t3.add_column("judged", justify="right")
    t3.add_column("no face", justify="right")
    for name, alarms in fpr_alarms.items():
        s = np.array(alarms, bool).reshape(len(alarms), nd)
        j = np.array(fpr_judged[name], bool).reshape(len(alarms), nd)
        cells = []
        for k in range(nd):
            cells += [f"{100 * float(np.mean(s[:, k] & j[:, k])):.1f} / {100 * float(np.mean(s[:, k])):.1f} %",
                      f"{100 * float(np.mean(j[:, k])):.0f} %"] if len(s) else ["–", "–"]
        t3.add_row(name, str(len(s)), *cells, str(fpr_noface[name]))
    console.print(t3)

    t4 = Table(title="(4) artefact score cost per face (crop + ONNX), one thread — shared 2-core machine, noisy")
    t4.add_column("detector")
    t4.add_column("ms per face, mean / median / p90", justify="right")
    for n, times in zip(names, timings):
        if times:
            t4.add_row(n, f"{statistics.fmean(times):.2f} / {statistics.median(times):.2f} / "
                          f"{float(np.percentile(times, 90)):.2f}  (n={len(times)}; target ≤ 25)")
    t4.add_row("whole run", f"{time.perf_counter() - t_all:.0f} s")
    console.print(t4)
    if (args.data / "hires").is_dir():
        domain_table(args.data / "hires", detectors, names, args.seed)
    if args.probe:
        probe_table(probe_rows, methods, args.artifact_weights)
    return 0


def domain_table(folder: Path, detectors: list, names: list[str], seed: int) -> None:
    """(5) A second domain: the higher-resolution photos (deepface's test images, ≤ 1024 px, never trained on).
    Per detector: AUC of its own self-blends and Face X-ray pair blends of these faces vs the clean photos, and its
    false-positive rate at threshold, clean and after JPEG 60."""
    from vipguard.faces import AnalyzerConfig, FaceAnalyzer
    from vipguard.infra.io import InputError, load_image
    from vipguard.train.artifact_data import crop_face
    from vipguard.train.sbi import nearest_donors, pair_blend, self_blend

    found = []
    with FaceAnalyzer(AnalyzerConfig(embedders=(), num_threads=1)) as a:
        for path in sorted(folder.glob("*.jpg")):
            try:
                rgb = load_image(path)
            except InputError:
                continue
            faces = a.analyze(rgb, primary_only=True, embedders=())
            if faces:
                found.append((rgb, faces[0]))
    t5 = Table(title=f"(5) Second domain: {len(found)} faces of {folder.name}/ (higher resolution, never trained on)")
    for c in ["detector", "AUC self-blend", "AUC pair blend", "FPR clean", "FPR JPEG 60"]:
        t5.add_column(c, justify="left" if c == "detector" else "right")
    for det, name in zip(detectors, names):
        crops = [crop_face(rgb, f.detection.landmarks, f.mesh.points if f.mesh else None, det.config)
                 for rgb, f in found]
        if len(crops) < 4:
            continue
        lms = np.stack([c[1] for c in crops])
        donors = nearest_donors(lms, np.arange(len(crops)).astype(str), k=1)[:, 0]
        real = [det.score_crop(c, lm).score for c, lm, _ in crops]
        sb = [det.score_crop(self_blend(c, lm, pt, np.random.default_rng([seed, i])).image, lm).score
              for i, (c, lm, pt) in enumerate(crops)]
        pb = [det.score_crop(pair_blend(c, lm, pt, crops[d][0], crops[d][1], np.random.default_rng([seed, i])).image,
                             lm).score for i, ((c, lm, pt), d) in enumerate(zip(crops, donors))]
        jp = [det.score_crop(jpeg(c), lm).score for c, lm, _ in crops]
        t5.add_row(name, fmt(auc_value([1 - r for r in real], [1 - x for x in sb])),
                   fmt(auc_value([1 - r for r in real], [1 - x for x in pb])),
                   f"{100 * float(np.mean(np.array(real) >= det.threshold)):.1f} %",
                   f"{100 * float(np.mean(np.array(jp) >= det.threshold)):.1f} %")
    console.print(t5)


def probe_table(rows: list[tuple[str, str, np.ndarray]], methods: list[str], weights: Path | None) -> None:
    """(5) Is the detector limited by its self-blend training target or by its representation? A logistic probe on
    its pooled features (``ArtifactNet.features``) is fitted on genuine photos vs *real forgeries* — for each
    (VIP, method), on the other VIPs and the other methods only — and scored on that VIP's genuine photos and that
    method's forgeries. If the probe does no better than the self-blend read-out, more training on the same
    backbone with other targets will not help; a stronger representation is needed."""
    try:
        import torch
    except ImportError:
        console.print("(5) skipped: the linear probe needs torch (pip install 'vipguard[mllm]')")
        return
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from vipguard.artifact.detector import default_weights
    from vipguard.artifact.model import from_pretrained

    net = from_pretrained(weights or default_weights())
    if net.config.backbone:
        console.print("(6) skipped: --probe reads the v1 network's pooled features (ArtifactNet.features); give "
                      "--artifact-weights a v1 folder (git history of src/vipguard/artifact/weights)")
        return
    crops = np.stack([c for _, _, c in rows]).astype(np.float32) / 255.0
    with torch.no_grad():
        feats = torch.cat([net.features(torch.from_numpy(crops[i : i + 64]).permute(0, 3, 1, 2))
                           for i in range(0, len(crops), 64)])
        readout = net.classifier(feats).squeeze(1).numpy()
    feats = feats.numpy()
    vip = np.array([r[0] for r in rows])
    method = np.array([r[1] for r in rows])
    real = method == "genuine"
    t6 = Table(title="(6) Linear probe on the detector's features, fitted on real forgeries of the other VIPs by the "
                     "other methods (leave one VIP and one method out), vs the shipped self-blend read-out")
    for c in ["method", "n", "self-blend read-out AUC", "forgery-fitted probe AUC"]:
        t6.add_column(c, justify="left" if c == "method" else "right")
    for m in methods:
        probe = np.full(len(rows), np.nan)
        for v in np.unique(vip):
            train = (vip != v) & (method != m)  # genuine photos and the other methods' forgeries
            test = (vip == v) & (real | (method == m))
            if not (test & ~real).any() or len(np.unique(real[train])) < 2:
                continue
            model = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=3000, class_weight="balanced"))
            probe[test] = model.fit(feats[train], ~real[train]).decision_function(feats[test])
        fake = method == m
        scored = ~np.isnan(probe)  # a VIP with no forgery of this method has no probe of its own
        t6.add_row(m, str(int(fake.sum())), fmt(auc_value(list(readout[fake]), list(readout[real]))),
                   fmt(auc_value(list(probe[fake & scored]), list(probe[real & scored]))))
    console.print(t6)


if __name__ == "__main__":
    raise SystemExit(main())
