"""End-to-end Guard benchmark: enrolment time, check latency on one core, peak RSS, and per-forgery-method AUC of
the trained head (``verdict.score``) beside the similarity-only baseline (``evidence['sim_global']``).

    python benchmarks/check.py                              # 3 VIPs, ~4 min on one core
    python benchmarks/check.py --vips Tony_Blair --per-method 20

For each VIP: enrol from photos _0001–_0020; genuine test = _0021 onward (≤ --genuine); others = photos of people
whose names start with M–Z (not VIPs; ≤ --others, one per person, seeded); forgeries = every method in
forge.FORGERS with a VIP test photo as source and an M–Z "other" as target (selfswap: another VIP test photo as
target), ≤ --per-method per VIP, seed 1234. AUCs pool all VIPs: genuine test photos (positive) vs each negative set.
"""

from __future__ import annotations

from one_core import DEFAULT_DATA  # first: pins every thread pool to one core

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

console = Console(width=170)


def auc(pos: list[float], neg: list[float]) -> str:
    from sklearn.metrics import roc_auc_score

    if not pos or not neg:
        return "–"
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    return f"{roc_auc_score(y, np.r_[pos, neg]):.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding lfw/")
    ap.add_argument("--vips", nargs="+", default=["Tony_Blair", "Colin_Powell", "Serena_Williams"])
    ap.add_argument("--genuine", type=int, default=20, help="genuine test photos per VIP (from _0021)")
    ap.add_argument("--others", type=int, default=40, help="M–Z non-VIP photos")
    ap.add_argument("--per-method", type=int, default=8, help="forgeries per method per VIP")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--scores", type=Path, default=None,
                    help="write every checked image's VIP, kind, score, verdict and similarity here (JSON), to compare "
                         "two commits row by row (tools/compare_scores.py)")
    args = ap.parse_args(argv)

    from vipguard import forge
    from vipguard.artifact.detector import ArtifactDetector
    from vipguard.faces import AnalyzerConfig, FaceAnalyzer
    from vipguard.infra.io import load_image
    from vipguard.infra.registry import Registry
    from vipguard.lite.background import load_background
    from vipguard.lite.enrol import Enroller
    from vipguard.lite.guard import Guard, GuardConfig
    from vipguard.lite.profile import PROFILE_CODEC

    console.print("[bold]vipguard check benchmark[/] — one thread; note: timings were taken on a shared machine "
                  "(2 cores shared with other jobs), so expect noise.")
    lfw = args.data / "lfw"
    rng = np.random.default_rng(args.seed)
    mz = sorted(d.name for d in lfw.iterdir() if d.is_dir() and "M" <= d.name[:1].upper() <= "Z"
                and d.name not in args.vips)
    other_names = [mz[i] for i in sorted(rng.choice(len(mz), size=min(args.others, len(mz)), replace=False))]
    other_paths = [sorted((lfw / n).glob("*.jpg"))[0] for n in other_names]
    methods = list(forge.FORGERS.names)

    check_s: list[float] = []
    pos_head: list[float] = []
    pos_sim: list[float] = []
    neg_head: dict[str, list[float]] = {"others (M–Z)": []} | {m: [] for m in methods}
    neg_sim: dict[str, list[float]] = {k: [] for k in neg_head}
    fails: dict[str, int] = {m: 0 for m in methods}
    no_face: dict[str, int] = {k: 0 for k in ["genuine", *neg_head]}
    enrol_rows = []

    verdicts: dict[str, list[bool]] = {"genuine": []} | {k: [] for k in neg_head}
    rows: list[dict] = []

    def record(v, key: str | None) -> None:
        score = 0.0 if v.score is None else float(v.score)  # no face: the guard accepts nothing
        sim = float(v.evidence.get("sim_global", -1.0))
        rows.append({"vip": v.vip, "kind": key or "genuine", "score": v.score, "verdict": v.verdict,
                     "similarity": sim})
        # correct at the project's own verdict: genuine accepted, every negative given any other verdict
        verdicts["genuine" if key is None else key].append((v.verdict == "genuine") == (key is None))
        if v.score is None:
            no_face["genuine" if key is None else key] += 1
        if key is None:
            pos_head.append(score)
            pos_sim.append(sim)
        else:
            neg_head[key].append(score)
            neg_sim[key].append(sim)

    fast_s: list[float] = []
    fast_gap: list[float] = []
    fast_changed: list[str] = []  # verdicts --fast gives otherwise than the full check

    def timed_check(g: Guard, img: np.ndarray, vip: str):
        """Full check (timed), then the same image with detail='fast' (timed; same score expected)."""
        t0 = time.perf_counter()
        v = g.check(img, vip=vip)
        check_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        vf = g_fast.check(img, vip=vip)
        fast_s.append(time.perf_counter() - t0)
        if v.score is not None and vf.score is not None:
            fast_gap.append(abs(v.score - vf.score))
        if v.verdict != vf.verdict:
            fast_changed.append(f"{v.verdict} → {vf.verdict}")
        return v

    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, FaceAnalyzer(AnalyzerConfig(num_threads=1)) as a:
        t0 = time.perf_counter()
        artifact = ArtifactDetector(num_threads=1)
        e = Enroller(a, load_background(), artifact=artifact)
        e.targets()  # warm: loads models and the background's forgery targets
        warm_s = time.perf_counter() - t0
        reg = Registry(Path(tmp) / "r.db", codec=PROFILE_CODEC)
        g = Guard(reg, a, artifact=artifact)
        g_fast = Guard(reg, a, GuardConfig(detail="fast"), artifact=artifact)
        others = [(p, load_image(p)) for p in other_paths]
        other_faces = [(p, img, (a.analyze(img, primary_only=True) or [None])[0]) for p, img in others]
        for vip in args.vips:
            photos = sorted((lfw / vip).glob("*.jpg"))
            r = e.enrol(vip, photos[:20])
            reg.put(r.profile)
            enrol_rows.append((vip, r.seconds, r.used, r.fakes))
            test = photos[20 : 20 + args.genuine]
            test_imgs = [(p, load_image(p)) for p in test]
            for p, img in test_imgs:
                record(timed_check(g, img, vip), None)
            for p, img in others:
                record(timed_check(g, img, vip), "others (M–Z)")
            test_faces = [(p, img, (a.analyze(img, primary_only=True) or [None])[0]) for p, img in test_imgs]
            test_faces = [t for t in test_faces if t[2] is not None]
            targets = [t for t in other_faces if t[2] is not None]
            for m in methods:
                forger = forge.FORGERS.create(m)
                mrng = np.random.default_rng(args.seed)
                made = tries = 0
                while made < args.per_method and tries < 4 * args.per_method and len(test_faces) >= 2:
                    tries += 1
                    si = int(mrng.integers(len(test_faces)))
                    sp, simg, sface = test_faces[si]
                    if m in forge.SELF_TARGET_METHODS:
                        ti = int(mrng.integers(len(test_faces) - 1))
                        tp, timg, tface = test_faces[ti + (ti >= si)]
                    else:
                        tp, timg, tface = targets[int(mrng.integers(len(targets)))]
                    try:
                        res = forger.forge(forge.ForgeInput(simg, sface, str(sp)), forge.ForgeInput(timg, tface, str(tp)),
                                           np.random.default_rng(args.seed + tries))
                    except forge.ForgeError:
                        fails[m] += 1
                        continue
                    record(timed_check(g, res.image, vip), m)
                    made += 1
            console.print(f"  {vip}: done ({time.perf_counter() - t_all:.0f} s so far)")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    table = Table(title=f"Detection AUC and accuracy at the verdict per forgery method (genuine test photos vs that method), {len(args.vips)} "
                        f"VIPs pooled, seed {args.seed}; positives n={len(pos_head)}")
    from vipguard.bench.metrics import best_threshold

    groups = ["genuine"] * len(pos_sim) + [k for k in neg_sim for _ in neg_sim[k]]
    threshold, sim_acc = best_threshold(groups, pos_sim + [s for k in neg_sim for s in neg_sim[k]])
    for c in ["negatives", "n", "score AUC", "verdict ACC %", "similarity-only AUC",
              f"sim-only ACC % (best thr {threshold:.3f})", "forge failures", "no face"]:
        table.add_column(c, justify="left" if c == "negatives" else "right")

    def pct(xs) -> str:
        return f"{100 * float(np.mean(xs)):.1f}" if len(xs) else "–"
    table.add_row("genuine (accepted)", str(len(pos_head)), "", pct(verdicts["genuine"]), "",
                  f"{100 * sim_acc['genuine']:.1f}", "", str(no_face["genuine"]))
    for k in neg_head:
        table.add_row(k, str(len(neg_head[k])), auc(pos_head, neg_head[k]), pct(verdicts[k]),
                      auc(pos_sim, neg_sim[k]), f"{100 * sim_acc[k]:.1f}" if k in sim_acc else "–",
                      str(fails.get(k, "–")), str(no_face[k]))
    fake_h = [s for m in methods for s in neg_head[m]]
    fake_s = [s for m in methods for s in neg_sim[m]]
    fake_v = [ok for m in methods for ok in verdicts[m]]
    table.add_row("all forgeries", str(len(fake_h)), auc(pos_head, fake_h), pct(fake_v), auc(pos_sim, fake_s),
                  pct([s < threshold for s in fake_s]), "", "", style="bold")
    table.add_row("all negatives", str(len(fake_h) + len(neg_head["others (M–Z)"])),
                  auc(pos_head, fake_h + neg_head["others (M–Z)"]), pct(fake_v + verdicts["others (M–Z)"]),
                  auc(pos_sim, fake_s + neg_sim["others (M–Z)"]), "", "", "", style="bold")
    console.print(table)

    t2 = Table(title="Cost on one thread — shared 2-core machine, timings are noisy")
    t2.add_column("measure")
    t2.add_column("value", justify="right")
    t2.add_row("check, ms/image (250×250 LFW + forgeries), mean / median / p90",
               f"{1000 * statistics.fmean(check_s):.1f} / {1000 * statistics.median(check_s):.1f} / "
               f"{1000 * float(np.percentile(check_s, 90)):.1f}  (n={len(check_s)}; target ≤ 40)")
    t2.add_row("check --fast (no dense mesh), ms/image, mean / median / p90",
               f"{1000 * statistics.fmean(fast_s):.1f} / {1000 * statistics.median(fast_s):.1f} / "
               f"{1000 * float(np.percentile(fast_s, 90)):.1f}  (max score gap vs full: {max(fast_gap):.1e}; "
               f"{len(fast_changed)} of {len(fast_s)} verdicts changed)")
    for vip, secs, used, fakes in enrol_rows:
        t2.add_row(f"enrol {vip}: 20 photos", f"{secs:.1f} s  (used {used}, {fakes} fakes)")
    t2.add_row("model + background warm-up", f"{warm_s:.1f} s")
    t2.add_row("peak RSS (ru_maxrss)", f"{peak_mb:.0f} MB")
    t2.add_row("whole run", f"{time.perf_counter() - t_all:.0f} s")
    console.print(t2)
    if args.scores is not None:
        import json

        args.scores.write_text(json.dumps(rows, indent=1))
        console.print(f"{len(rows)} rows written to {args.scores}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
