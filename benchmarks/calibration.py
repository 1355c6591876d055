"""Does the operating point hold on people the prior never saw? The genuine range's floor at each strictness against
the held-out genuine photos of the 19 LFW VIPs: the 5 of ``benchmarks/verdict.py`` and 14 that no benchmark and
not the prior use.

    python benchmarks/calibration.py                                  # the bundled prior, ~3 min on one core
    python benchmarks/calibration.py --baseline old_prior.json --out out/calibration   # before → after

Per VIP: enrolment photos ``_0001``–``_0020`` kept as enrolment keeps them (the Enroller's quality screen,
near-duplicate and identity checks: ``Enroller.genuine_photos``; the range needs no forgeries and no head), the
genuine range fitted to their leave-one-out similarities (``GenuineRange.fit``); held-out = every photo from
``_0021`` on with a face, its whole-face similarity to the enrolment centre. Reported per VIP: enrolment photos n,
the floor at the default rate, the held-out 2nd/3rd percentiles, the held-out share below the floor at each
strictness; per group (the 14, the 5, all 19): reject rates as the mean over VIPs and pooled over photos, the mean
distance of a VIP's default reject rate from its target, and the quantile (pinball) loss of the floors, which
rewards floors that are both calibrated and tight. ``--baseline`` (a prior file, e.g. an older
``genuine_prior.json``) adds the same for that prior, before → after.
"""

from __future__ import annotations

from one_core import DEFAULT_DATA, REPO, report  # first: pins every thread pool to one core

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from verdict import VIPS as BENCHMARK_VIPS  # noqa: E402

sys.path.insert(0, str(REPO / "tools"))  # the VIP list and the later-photo embeddings of tools/build_prior.py
PER_VIP, POOLED, OFF, PINBALL, FLOORS = "per_vip", "pooled", "off", "pinball", "floors"  # result keys


def measure(lfw: Path, vips: list[str], enrol_photos: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per VIP: the enrolment photos' leave-one-out similarities and the held-out photos' similarities."""
    from build_prior import later_embeddings

    from vipguard.artifact.detector import ArtifactDetector
    from vipguard.faces import FaceAnalyzer
    from vipguard.lite.background import load_background
    from vipguard.lite.decision import loo_similarities
    from vipguard.lite.enrol import Enroller

    out = {}
    with FaceAnalyzer() as analyzer:
        enroller = Enroller(analyzer, load_background(), artifact=ArtifactDetector(None))
        for vip in vips:
            photos = sorted((lfw / vip).glob("*.jpg"))
            _, genuine, _, _ = enroller.genuine_photos(photos[:enrol_photos])
            enrol = np.stack([d.embeddings["global"] for d in genuine]).astype(np.float64)
            centre = enrol.mean(0) / np.linalg.norm(enrol.mean(0))
            out[vip] = (loo_similarities(enrol), later_embeddings(analyzer, photos[enrol_photos:]) @ centre)
            print(f"  {vip}: {len(enrol)} enrolment photos, {len(out[vip][1])} held out", flush=True)
    return out


def evaluate(sims: dict[str, tuple[np.ndarray, np.ndarray]], prior, rates: np.ndarray) -> dict[str, dict]:
    """Per VIP: n, the floors at ``rates``, the held-out share below each, the pinball loss, p2/p3, m."""
    from vipguard.lite.decision import GenuineRange

    out = {}
    for vip, (loo, held) in sims.items():
        g = GenuineRange.fit(loo, prior)
        floors = np.array([g.floor(r) for r in rates])
        u = held[:, None] - floors[None, :]
        out[vip] = {"n": len(loo), "floors": floors, "rejected": (held[:, None] < floors[None, :]).mean(0),
                    "pinball": float((u * (rates[None, :] - (u < 0))).mean()), "m": len(held),
                    "p2": float(np.percentile(held, 2)), "p3": float(np.percentile(held, 3))}
    return out


def summary(per: dict[str, dict], names: list[str], rates: np.ndarray, default: int) -> dict:
    rows = [per[v] for v in names]
    m = np.array([r["m"] for r in rows], np.float64)
    rej = np.stack([r["rejected"] for r in rows])
    return {"per_vip": rej.mean(0), "pooled": (rej * m[:, None]).sum(0) / m.sum(),
            "off": float(np.mean(np.abs(rej[:, default] - rates[default]))),
            "pinball": float(np.mean([r["pinball"] for r in rows]))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--enrol-photos", type=int, default=20)
    ap.add_argument("--baseline", type=Path, default=None, help="a prior file to compare with (before → after)")
    ap.add_argument("--out", type=Path, default=None, help="write calibration.md and calibration.json here")
    args = ap.parse_args(argv)

    from build_background import VIPS

    from vipguard.lite.decision import STRICTNESS, bundled_prior, load_prior

    start = time.perf_counter()
    names = list(STRICTNESS)
    rates = np.array([STRICTNESS[s] for s in names])
    default = names.index("default")
    vips = sorted(VIPS)
    sims = measure(args.data / "lfw", vips, args.enrol_photos)
    priors = {"after": bundled_prior()}
    if args.baseline:
        priors = {"before": load_prior(args.baseline), **priors}
    per = {k: evaluate(sims, p, rates) for k, p in priors.items()}

    def arrow(values) -> str:
        return " → ".join(values)

    def rates_text(values) -> str:
        return " / ".join(f"{100 * v:.1f}" for v in values)

    held_out = [v for v in vips if v not in BENCHMARK_VIPS]
    groups = {"14 held-out VIPs": held_out, "5 benchmark VIPs": list(BENCHMARK_VIPS), "all 19": vips}
    head = " / ".join(f"{s} ({100 * r:g} %)" for s, r in zip(names, rates))
    lines = [f"# Genuine-range calibration on held-out photos ({len(vips)} VIPs, enrolment _0001–_{args.enrol_photos:04d})",
             "", f"Priors: {' → '.join(priors)}. Reject rates: held-out genuine photos below the floor at "
             f"{head}.", "",
             "| group | genuine accepted % at default, per VIP / pooled | rejected %, mean over VIPs | rejected %, "
             "pooled over photos | mean abs(default rejected - target) % | pinball loss ×1000 |",
             "|---|---|---|---|---|---|"]
    results = {"priors": {k: p.to_dict() for k, p in priors.items()}, "groups": {}, "vips": {}}
    for label, members in groups.items():
        s = {k: summary(per[k], members, rates, default) for k in priors}
        results["groups"][label] = {k: {kk: np.round(vv, 5).tolist() for kk, vv in v.items()} for k, v in s.items()}
        accepted = arrow(f"{100 * (1 - x[PER_VIP][default]):.1f} / {100 * (1 - x[POOLED][default]):.1f}"
                         for x in s.values())
        lines.append(f"| {label} | {accepted} | {arrow(rates_text(x[PER_VIP]) for x in s.values())} "
                     f"| {arrow(rates_text(x[POOLED]) for x in s.values())} "
                     f"| {arrow(f'{100 * x[OFF]:.1f}' for x in s.values())} "
                     f"| {arrow(f'{1000 * x[PINBALL]:.2f}' for x in s.values())} |")
    lines += ["", f"| identity | benchmark | n | floor at {100 * rates[default]:g} % | held-out m | p2 | p3 "
              f"| rejected % {' / '.join(names)} |", "|---|---|---|---|---|---|---|---|"]
    for v in vips:
        last = per[list(priors)[-1]][v]
        floors = arrow(f"{per[k][v][FLOORS][default]:.3f}" for k in priors)
        rejected = arrow(" / ".join(f"{100 * x:.0f}" for x in per[k][v]["rejected"]) for k in priors)
        lines.append(f"| {v} | {'yes' if v in BENCHMARK_VIPS else ''} | {last['n']} | {floors} | {last['m']} "
                     f"| {last['p2']:.3f} | {last['p3']:.3f} | {rejected} |")
        results["vips"][v] = {k: {kk: np.round(vv, 5).tolist() if isinstance(vv, np.ndarray) else vv
                                  for kk, vv in per[k][v].items()} for k in priors}
    lines += ["", f"Whole run: {time.perf_counter() - start:.0f} s."]
    report("\n".join(lines), results, args.out, "calibration")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
