"""The verdict, measured where users meet it: 5 LFW VIPs, held-out photos, forgeries made with seeds and targets
never used at enrolment, accuracy at the project's own verdict beside every AUC, and the do-no-harm table.

    python benchmarks/verdict.py                         # 5 VIPs, ~6 min on one core
    python benchmarks/verdict.py --out out/verdict --plot docs/eval/morph_strictness.png

Per VIP: enrol from ``_0001``–``_0020``; genuine test = ``_0021`` onward (≤ --genuine); other people = one photo of
each of --others people whose names start with M–Z (the bundled background and the genuine prior use A–L); forgeries
= every ``vipguard.forge`` method with a VIP test photo as the source and an M–Z person as the target (self-swap and
self-mouth: another VIP test photo; reshape edits the test photo alone), plus look-alike swaps (targets: the M–Z
people nearest the VIP) and morphs at ratios 0.5…0.9; ``efs`` (the entire-face-synthesis proxy, never in enrolment)
takes the look-alikes as targets too, with its ratio drawn per seed. Seeds differ from enrolment's.

Reported:
1. accuracy at the verdict per category (genuine accepted; each forgery kind and other people rejected, i.e. any
   verdict but ``genuine``), AUC of the score beside it, and similarity alone at its best single threshold;
2. forgeries below the VIP's own held-out genuine 2nd percentile of similarity: share given a non-genuine verdict;
3. do-no-harm: for each held-out method (leave-one-method-out: the head is refitted without that method's
   enrolment forgeries), AUC of the score with and without each candidate evidence term; (3b) the hard artefact
   veto at three thresholds; (3c) the graded artefact term below the veto, by its power;
4. the rejection rate of morphs by ratio at three strictness settings, with their genuine-accept rates (plot).
"""

from __future__ import annotations

from one_core import DEFAULT_DATA, report  # first: pins every thread pool to one core

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

VIPS = ["Tony_Blair", "George_W_Bush", "Colin_Powell", "Serena_Williams", "Junichiro_Koizumi"]
RATIOS = (0.5, 0.6, 0.7, 0.8, 0.9)
STRICT = ("lenient", "default", "strict")
LOOKALIKE_KINDS = ("lookalike", "efs")  # forgery kinds whose targets are the people nearest the VIP
LATE_KINDS = ("selfmouth", "reshape")  # identity-keeping edits of the VIP's own photos (#35), forged last


@dataclass
class Row:
    vip: str
    kind: str  # genuine | other | a method | lookalike | morph@0.7 (efs: onto look-alikes, like lookalike)
    evidence: np.ndarray  # ordered as decision.FEATURES, or None when no face
    judged: bool = True  # the artefact score is judged (the crop is sharp enough: ArtifactConfig.min_sharpness)
    veto: float | None = None  # the veto in force for this crop (ArtifactResult.veto: a noisy crop's is higher)


def auc(pos, neg) -> float:
    from sklearn.metrics import roc_auc_score

    if not len(pos) or not len(neg):
        return float("nan")
    return float(roc_auc_score(np.r_[np.ones(len(pos)), np.zeros(len(neg))], np.r_[pos, neg]))


def forgery_jobs() -> list[tuple[str, float | None, str]]:
    """(method, morph ratio, kind) of every forgery kind, in this benchmark's order: each forger that is not a
    look-alike kind or a late kind, look-alike swaps, morphs at each of RATIOS, efs, then the LATE_KINDS (each
    added after the ones before it, so that the earlier kinds' seeded draws stay as they were)."""
    from vipguard import forge

    jobs = [(m, None, m) for m in forge.FORGERS.names if m not in LOOKALIKE_KINDS + LATE_KINDS]
    jobs += [("swap", None, "lookalike")] + [("morph", r, f"morph@{r:.1f}") for r in RATIOS]
    return jobs + [("efs", None, "efs")] + [(m, None, m) for m in LATE_KINDS]


def forgeries_of(test: list, targets: list, near: np.ndarray, per_kind: int, seed: int):
    """Yield (kind, forged photo): up to ``per_kind`` forgeries of each kind (:func:`forgery_jobs`) with a test
    photo of the VIP as the source — (photo, face) pairs, ``test`` — onto one of ``targets`` (other people, the same
    pairs), a self-swap onto another test photo and a look-alike kind onto one of the ``near`` targets (indices).
    The draws are seeded by ``seed`` alone, so every benchmark that forges with it forges the same photos."""
    for kind, result in forge_results_of(test, targets, near, per_kind, seed):
        yield kind, result.image


def forge_results_of(test: list, targets: list, near: np.ndarray, per_kind: int, seed: int):
    """:func:`forgeries_of` with each forger's whole result (the forged photo and its mask): (kind, ForgeResult)."""
    from vipguard import forge
    from vipguard.forge.morph import make_morph

    rng = np.random.default_rng(seed + 1)
    for method, ratio, kind in forgery_jobs():
        forger = make_morph(ratio) if ratio is not None else forge.FORGERS.create(method)
        made = tries = 0
        while made < per_kind and tries < 4 * per_kind and len(test) >= 2:
            tries += 1
            si = int(rng.integers(len(test)))
            if method in forge.SELF_TARGET_METHODS:
                ti = int(rng.integers(len(test) - 1))
                target = test[ti + (ti >= si)]
            elif kind in LOOKALIKE_KINDS:
                target = targets[int(near[int(rng.integers(len(near)))])]
            else:
                target = targets[int(rng.integers(len(targets)))]
            try:
                result = forger.forge(forge.ForgeInput(*test[si]), forge.ForgeInput(*target),
                                      np.random.default_rng(10_000 + seed + tries))
            except forge.ForgeError:
                continue
            yield kind, result
            made += 1


def collect(args) -> tuple[list[Row], dict, dict]:
    from vipguard.artifact.detector import ArtifactDetector
    from vipguard.faces import FaceAnalyzer
    from vipguard.faces.embed import DEFAULT_EMBEDDER
    from vipguard.infra.imageops import jpeg
    from vipguard.infra.io import load_image
    from vipguard.lite.background import load_background
    from vipguard.lite.enrol import Enroller
    from vipguard.lite.evidence import compare, describe_with

    lfw = args.data / "lfw"
    rng = np.random.default_rng(args.seed)
    mz = sorted(d.name for d in lfw.iterdir() if d.is_dir() and "M" <= d.name[:1].upper() <= "Z" and d.name not in VIPS)
    other_names = [mz[i] for i in sorted(rng.choice(len(mz), size=min(args.others, len(mz)), replace=False))]
    rows: list[Row] = []
    profiles, trainings = {}, {}
    t0 = time.perf_counter()
    with FaceAnalyzer() as a:
        artifact = ArtifactDetector(args.artifact_weights)
        enroller = Enroller(a, load_background(args.background), artifact=artifact)

        def analysed(path):
            image = load_image(path)
            faces = a.analyze(image, primary_only=True, embedders=())
            return (image, faces[0]) if faces and faces[0].mesh is not None else None

        def row(vip, kind, image, profile) -> Row:
            faces = a.analyze(image, max_faces=1, embedders=())
            if not faces:
                return Row(vip, kind, None)
            descriptor, result = describe_with(image, faces[0], enroller.embedder, artifact)
            return Row(vip, kind, compare(descriptor, profile), result.judged, result.veto)

        others = [(n, analysed(sorted((lfw / n).glob("*.jpg"))[0])) for n in other_names]
        others = [(n, o) for n, o in others if o is not None]
        other_vecs = np.stack([a.embedder(DEFAULT_EMBEDDER).embed_aligned(o[1].aligned[None])[0] for _, o in others])
        for vip in args.vips:
            photos = sorted((lfw / vip).glob("*.jpg"))
            result = enroller.enrol(vip, photos[:20])
            profile = profiles[vip] = result.profile
            trainings[vip] = result.training
            test = [t for t in (analysed(p) for p in photos[20: 20 + args.genuine]) if t is not None]
            for image, _ in test:
                rows.append(row(vip, "genuine", image, profile))
            for _, (image, _) in others:
                rows.append(row(vip, "other", image, profile))
            near = np.argsort(-(other_vecs @ profile.centre))[:5]
            for kind, image in forgeries_of(test, [o for _, o in others], near, args.per_method, args.seed):
                image = image if args.deliver_jpeg is None else jpeg(image, args.deliver_jpeg)
                rows.append(row(vip, kind, image, profile))
            print(f"  {vip}: enrolled {result.used} photos, floor {profile.meta['similarity_floor']:.3f}; "
                  f"{time.perf_counter() - t0:.0f} s so far", flush=True)
    return rows, profiles, trainings


def ceiling(rows, profiles, floors: dict[str, float], kind: str, accept: float) -> tuple[float, float]:
    """How many forgeries of ``kind`` the score's own evidence rejects when the rule is told the answers: a linear
    rule on (similarity - the VIP's floor, ``floors``) alone, and with the artefact score as the head reads it, each
    fitted on this very test set (genuine rows against ``kind``'s, pooled over VIPs) and cut where it accepts the
    share ``accept`` of genuine photos, as the verdict does. An oracle for reference, like similarity at its best
    threshold; being one rule for all VIPs, a per-VIP head can still beat it. Unjudged crops read the VIP's typical
    genuine artefact value, as the head does."""
    from sklearn.linear_model import LogisticRegression

    from vipguard.lite.decision import SIMILARITY, readings, value
    from vipguard.lite.head import read

    keep = [r for r in rows if r.evidence is not None and r.kind in ("genuine", kind)]
    if not keep or all(r.kind == "genuine" for r in keep):
        return float("nan"), float("nan")
    names = (SIMILARITY, "artifact")
    x = read(np.array([[value(profiles[r.vip].head_evidence(r.evidence, r.judged), n) for n in names]
                       for r in keep]), readings(names))
    x[:, 0] -= np.array([floors[r.vip] for r in keep])
    y = np.array([r.kind == "genuine" for r in keep])
    out = []
    for cols in ([0], [0, 1]):
        margin = LogisticRegression(C=100.0, max_iter=2000).fit(x[:, cols], y).decision_function(x[:, cols])
        cut = np.quantile(margin[y], 1 - accept)
        out.append(100 * float(np.mean(margin[~y] < cut)))
    return out[0], out[1]


def judge(rows, profiles, heads, rate_of, veto: float | None = None) -> tuple[np.ndarray, list[str]]:
    """Every row's score and verdict, by the Guard's own rule (:func:`vipguard.lite.decision.decide`) with ``heads``,
    each profile's genuine-reject rate from ``rate_of`` and the artefact veto ``veto`` (None: none), raised to a
    row's own where its crop has a higher one (``Row.veto``: a noisy crop's, as ``Guard.veto_for`` applies it)."""
    from vipguard.lite.decision import SIMILARITY, value
    from vipguard.lite.guard import GuardConfig

    select = GuardConfig().select_threshold
    score, verdict = np.zeros(len(rows)), []
    for i, r in enumerate(rows):
        if r.evidence is None:
            verdict.append("no_face")
            continue
        p = profiles[r.vip]
        head = float(heads[r.vip].predict(p.head_evidence(r.evidence, r.judged))[0])
        d = p.decide(r.evidence, value(r.evidence, SIMILARITY), select, rate=rate_of(p), head=head,
                     artifact=value(r.evidence, "artifact"),
                     veto=None if veto is None or not r.judged else max(veto, r.veto or veto))
        score[i] = d.score
        verdict.append(d.verdict)
    return score, verdict


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--vips", nargs="+", default=VIPS)
    ap.add_argument("--genuine", type=int, default=40)
    ap.add_argument("--others", type=int, default=200)
    ap.add_argument("--per-method", type=int, default=10)
    ap.add_argument("--seed", type=int, default=4321)
    ap.add_argument("--artifact-weights", type=Path, default=None,
                    help="artefact-detector folder whose score is the 'artifact' evidence (default: the packaged one)")
    ap.add_argument("--background", type=Path, default=None,
                    help="background folder (tools/build_background.py --out; default: the bundled one) — rebuild it "
                         "with the same --artifact-weights, or the head meets two detectors' scores")
    ap.add_argument("--deliver-jpeg", type=int, default=None, metavar="Q",
                    help="encode every test forgery as a JPEG of quality Q before it is checked, as real forgeries "
                         "are delivered (the genuine and other-person photos are JPEG files already); default: "
                         "checked as made, in memory")
    ap.add_argument("--out", type=Path, default=None, help="write results.md and results.json here")
    ap.add_argument("--plot", type=Path, default=None, help="morph ratio vs strictness plot (PNG)")
    ap.add_argument("--save-rows", type=Path, default=None,
                    help="also save every row's evidence and each VIP's training set (npz) for offline study")
    args = ap.parse_args(argv)

    from vipguard.lite.decision import FEATURE_TABLE, SCORED, SIMILARITY, reject_rate, value
    from vipguard.lite.enrol import EnrolConfig, fit_score_head
    from vipguard.lite.explain import probability_text

    start = time.perf_counter()
    rows, profiles, trainings = collect(args)
    cfg = EnrolConfig()
    if args.save_rows:
        keep = [r for r in rows if r.evidence is not None]
        extra = {f"{v}/{k}": getattr(t, k) for v, t in trainings.items() for k in ("x", "y", "groups")}
        extra |= {f"{v}/methods": np.array(t.methods) for v, t in trainings.items()}
        extra |= {f"{v}/genuine": np.array(list(p.genuine.to_dict().values())) for v, p in profiles.items()}
        args.save_rows.parent.mkdir(parents=True, exist_ok=True)
        np.savez(args.save_rows, vip=np.array([r.vip for r in keep]), kind=np.array([r.kind for r in keep]),
                 evidence=np.stack([r.evidence for r in keep]), judged=np.array([r.judged for r in keep]), **extra)
    heads = {v: p.head for v, p in profiles.items()}
    from vipguard.artifact.detector import ArtifactDetector

    shipped_veto = ArtifactDetector(args.artifact_weights).config.veto  # what the Guard applies
    score, verdict = judge(rows, profiles, heads, lambda p: p.reject_rate, shipped_veto)
    plain = judge(rows, profiles, heads, lambda p: p.reject_rate)[0]  # head and genuine range, no veto
    sim = np.array([-1.0 if r.evidence is None else value(r.evidence, SIMILARITY) for r in rows])
    kinds = list(dict.fromkeys(r.kind for r in rows))
    by_kind = {k: np.array([r.kind == k for r in rows]) for k in kinds}
    gen = by_kind["genuine"]
    lines = [f"# Verdict benchmark ({len(args.vips)} VIPs: {', '.join(args.vips)}; seed {args.seed})", ""]
    unjudged = {k: int(sum(1 for r, x in zip(rows, m) if x and r.evidence is not None and not r.judged))
                for k, m in by_kind.items()}
    lines += ["Artefact score not judged (crop below the detector's min_sharpness): "
              + (", ".join(f"{k} {n}" for k, n in unjudged.items() if n) or "none") + ".", ""]

    # similarity alone at its best single threshold: the one that maximises the balanced accuracy (genuine
    # accepted, and the mean over the negative categories rejected, weighted equally)
    def sim_acc(t):
        return {k: float(np.mean(sim[m] >= t)) if k == "genuine" else float(np.mean(sim[m] < t))
                for k, m in by_kind.items()}

    def balanced(t):
        acc = sim_acc(t)
        return 0.5 * acc["genuine"] + 0.5 * np.mean([v for k, v in acc.items() if k != "genuine"])
    grid = np.linspace(0.3, 0.95, 131)
    best = max(grid, key=balanced)
    base = sim_acc(best)

    lines += ["## 1. Accuracy at the verdict (genuine accepted; every other row rejected) and AUC", "",
              f"Similarity alone: one threshold for all VIPs, the best for it on this very test set ({best:.3f}).", "",
              "| category | n | VIPGuard-lite verdict ACC % | score AUC % | similarity-only ACC % (best threshold) "
              "| similarity AUC % |", "|---|---|---|---|---|---|"]
    results = {"similarity_threshold": float(best), "categories": {}}
    for k, m in by_kind.items():
        ok = [(v == "genuine") == (k == "genuine") for v, keep in zip(verdict, m) if keep]
        a = "" if k == "genuine" else f"{100 * auc(score[gen], score[m]):.2f}"
        sa = "" if k == "genuine" else f"{100 * auc(sim[gen], sim[m]):.2f}"
        acc = 100 * float(np.mean(ok))
        results["categories"][k] = {"n": int(m.sum()), "acc": acc, "sim_acc": 100 * base[k],
                                    "auc": float(a) if a else None, "sim_auc": float(sa) if sa else None}
        lines.append(f"| {k} | {int(m.sum())} | {acc:.2f} | {a} | {100 * base[k]:.2f} | {sa} |")
    fakes = np.array([k not in ("genuine", "other") for k in (r.kind for r in rows)])
    results["categories"]["all forgeries"] = {
        "n": int(fakes.sum()), "acc": 100 * float(np.mean([v != "genuine" for v, f in zip(verdict, fakes) if f])),
        "sim_acc": 100 * float(np.mean(sim[fakes] < best)), "auc": 100 * auc(score[gen], score[fakes]),
        "sim_auc": 100 * auc(sim[gen], sim[fakes])}
    lines += [f"| all forgeries | {int(fakes.sum())} | "
              f"{100 * np.mean([v != 'genuine' for v, f in zip(verdict, fakes) if f]):.2f} | "
              f"{100 * auc(score[gen], score[fakes]):.2f} | "
              f"{100 * np.mean(sim[fakes] < best):.2f} | {100 * auc(sim[gen], sim[fakes]):.2f} |", ""]
    # the full and look-alike swaps that pass (#15 asks >= 95 % of them rejected): what their evidence says
    floors = {v: p.genuine.floor(p.reject_rate) for v, p in profiles.items()}
    passed = [(r, s, sc) for r, v, s, sc in zip(rows, verdict, sim, score)
              if r.kind in ("swap", "lookalike") and v == "genuine"]
    lines += ["Swaps and look-alike swaps called genuine: "
              + ("; ".join(f"{r.kind} of {r.vip} (similarity {s:.3f}, floor {floors[r.vip]:.3f}; artefact "
                           f"{probability_text(value(r.evidence, 'artifact'))}; score {sc:.2f})"
                           for r, s, sc in passed) or "none") + ".", ""]
    accept = float(np.mean([v == "genuine" for v, g in zip(verdict, gen) if g]))
    lines += [f"The same evidence with the answers known (`ceiling`: one linear rule for all VIPs fitted on this "
              f"test set, at the verdict's {100 * accept:.1f} % of genuine photos accepted), rejected %: "
              + "; ".join("{}: similarity above the floor alone {:.1f}, with the artefact log-odds {:.1f}".format(
                  k, *ceiling(rows, profiles, floors, k, accept)) for k in ("swap", "lookalike") if k in by_kind) + ".", ""]

    # 2. forgeries below each VIP's own held-out genuine 2nd percentile
    below = []
    for vip in args.vips:
        p2 = np.percentile(sim[gen & np.array([r.vip == vip for r in rows])], 2)
        below += [v != "genuine" for r, v, s, f in zip(rows, verdict, sim, fakes) if f and r.vip == vip and s < p2]
    lines += ["## 2. Forgeries less similar than the VIP's own held-out genuine 2nd percentile", "",
              f"{len(below)} such forgeries; given a non-genuine verdict: **{100 * np.mean(below):.2f} %**.", ""]
    results["below_p2_rejected"] = 100 * float(np.mean(below)) if below else None

    # 3. do-no-harm: leave-one-method-out heads, with and without each candidate term
    # every term but similarity, the anchor of all of them: a scored term is measured by taking it out of the score
    candidates = [f.name for f in FEATURE_TABLE if f.name != SIMILARITY and (f.sign != 0 or f.name in SCORED)]
    held = [k for k in kinds if k not in ("genuine", "other")]
    lines += ["## 3. Do no harm: AUC % of the score without → with each evidence term, per held-out method", "",
              "Each method's enrolment forgeries are left out of the head's training (look-alike swaps, morphs by "
              "ratio, reenactment and efs are never in enrolment). A term may enter the score only if no cell drops "
              "by more than 0.5 points, and it is worth adding only where it gains somewhere. A scored term (marked) "
              "is measured against the score without it; the others against the score as shipped.", "",
              "| term | " + " | ".join(held) + " | worst Δ | best Δ | harm-free |", "|---" * (len(held) + 4) + "|"]
    harm = {}
    for term in ["(scored: " + ", ".join(SCORED) + ")", *candidates]:
        cells, deltas = [], []
        for k in held:
            method = k.split("@")[0] if k != "lookalike" else "swap"
            scored_term = term in SCORED
            feats_without = tuple(f for f in SCORED if f != term)
            feats_with = SCORED if term.startswith("(") or scored_term else (*SCORED, term)
            h0 = {v: fit_score_head(t, cfg, feats_without, exclude_method=method) for v, t in trainings.items()}
            h1 = h0 if term.startswith("(") else {v: fit_score_head(t, cfg, feats_with, exclude_method=method)
                                                  for v, t in trainings.items()}
            s0 = judge(rows, profiles, h0, lambda p: p.reject_rate)[0]
            s1 = s0 if h1 is h0 else judge(rows, profiles, h1, lambda p: p.reject_rate)[0]
            a0, a1 = 100 * auc(s0[gen], s0[by_kind[k]]), 100 * auc(s1[gen], s1[by_kind[k]])
            deltas.append(a1 - a0)
            cells.append(f"{a0:.1f}" if h1 is h0 else f"{a0:.1f}→{a1:.1f}")
        worst = min(deltas)
        harm[term] = worst
        enters = "(scored)" if term.startswith("(") else ("yes" if worst >= -0.5 else "no")
        if term in SCORED:
            enters, term = f"{enters}, scored", f"{term} (scored)"
        lines.append(f"| {term} | " + " | ".join(cells) + f" | {worst:+.2f} | {max(deltas):+.2f} | {enters} |")
    results["do_no_harm_worst_delta"] = harm
    lines.append("")

    # 3b. the artefact score as a veto at the detector's own operating threshold: a rule that reads no forgery of
    # any vipguard.forge method (the detector never saw one), so every method is held out by construction
    from vipguard.lite.decision import ACCEPT, veto_probability
    t_art = ArtifactDetector(args.artifact_weights).threshold
    # a score that is not judged (too blurred) neither vetoes nor grades: as a blend probability of 0
    art = np.array([0.0 if r.evidence is None or not r.judged else value(r.evidence, "artifact") for r in rows])
    # the threshold and two stricter ones, its distance from 1 divided by 3 and by 10 (0.967 → 0.989, 0.9967): on an
    # over-confident detector (0.999936) a fixed grid such as 0.98 / 0.99 would lie below its threshold
    cuts = sorted({float(t_art), 1 - (1 - t_art) / 3, 1 - (1 - t_art) / 10})
    lines += ["## 3b. Artefact veto (hard): score → min(score, 1 if artefact < t else below 0.5)", "",
              f"t = the detector's own threshold ({probability_text(t_art)}) and stricter ones. No forgery of any "
              "method is used to set it. AUC % and rejected % at the verdict (genuine: accepted %), without → with.",
              "", "| category | " + " | ".join(f"AUC, t {probability_text(t)} | rejected, t {probability_text(t)}"
                                                for t in cuts) + " |",
              "|---" * (1 + 2 * len(cuts)) + "|"]
    vetoes = {t: np.minimum(plain, [veto_probability(a, t, math.inf) for a in art]) for t in cuts}
    worst = {t: 0.0 for t in cuts}
    for k, m in by_kind.items():
        cells = []
        for t, vetoed in vetoes.items():
            if k == "genuine":
                cells += ["", f"{100 * np.mean(plain[m] >= ACCEPT):.1f} → {100 * np.mean(vetoed[m] >= ACCEPT):.1f}"]
                continue
            a0, a1 = 100 * auc(plain[gen], plain[m]), 100 * auc(vetoed[gen], vetoed[m])
            if k != "other":
                worst[t] = min(worst[t], a1 - a0)
            cells += [f"{a0:.1f} → {a1:.1f}",
                      f"{100 * np.mean(plain[m] < ACCEPT):.1f} → {100 * np.mean(vetoed[m] < ACCEPT):.1f}"]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    lines += ["", "Worst AUC change on a forgery kind: " + ", ".join(f"t {probability_text(t)}: {w:+.2f}"
                                                                    for t, w in worst.items()),
              ""]
    results["artifact_veto_worst_delta"] = {str(t): w for t, w in worst.items()}

    # 3c. below the shipped veto the artefact term is graded (decision.veto_probability, VETO_POWER): it changes no
    # verdict, only how accepted faces rank. Each power against the hard veto, on every forgery kind (do-no-harm)
    # and on the identity-passing forgeries (similarity at or above the VIP's genuine test 5th percentile)
    if shipped_veto is not None:  # a detector without a veto has no artefact term to grade
        from vipguard.lite.decision import VETO_POWER
        vip_of = np.array([r.vip for r in rows])
        p5 = {v: np.percentile(sim[gen & (vip_of == v)], 5) for v in args.vips}
        passing = fakes & np.array([s >= p5[v] for s, v in zip(sim, vip_of)])
        powers = sorted({0.2, 0.3, 0.4, 0.5, 1.0, float(VETO_POWER), math.inf})
        graded = {k: np.minimum(plain, [veto_probability(a, shipped_veto, k) for a in art]) for k in powers}
        lines += ["## 3c. Graded artefact term below the veto: AUC % per forgery kind, hard veto → power k", "",
                  f"Veto at {probability_text(shipped_veto)}; the term is 1 − 0.5·(odds(artefact) / odds(veto))^k "
                  f"below it (k = ∞: the hard veto), so no verdict changes. Shipped: k = {VETO_POWER:g}. "
                  f"Identity-passing: the {int(passing.sum())} forgeries at or above their VIP's genuine 5th "
                  "percentile of similarity. "
                  "Worst Δ: against the hard veto, and against no artefact term at all (the do-no-harm rule).", "",
                  "| k | identity-passing AUC | " + " | ".join(held) + " | worst Δ vs hard | worst Δ vs none |",
                  "|---" * (len(held) + 4) + "|"]
        hard = graded[math.inf]
        results["graded_veto"] = {}
        for k in powers:
            sk = graded[k]
            deltas = [100 * (auc(sk[gen], sk[by_kind[m]]) - auc(hard[gen], hard[by_kind[m]])) for m in held]
            harm_none = min(100 * (auc(sk[gen], sk[by_kind[m]]) - auc(plain[gen], plain[by_kind[m]])) for m in held)
            ip = auc(sk[gen], sk[passing])
            label = "∞ (hard)" if math.isinf(k) else f"{k:g}" + (" (shipped)" if k == VETO_POWER else "")
            cells = " | ".join(f"{100 * auc(sk[gen], sk[by_kind[m]]):.1f}" for m in held)
            lines.append(f"| {label} | {ip:.3f} | {cells} | {min(deltas):+.2f} | {harm_none:+.2f} |")
            results["graded_veto"][str(k)] = {"identity_passing_auc": ip, "worst_delta": min(deltas),
                                              "worst_delta_vs_none": harm_none}
        lines.append(f"\nSimilarity alone on the identity-passing forgeries: AUC {auc(sim[gen], sim[passing]):.3f}.\n")

    # 4. morph ratio × strictness
    lines += ["## 4. Morph rejection by ratio at three strictness settings", "",
              "| strictness (genuine-reject target) | genuine accepted % | " +
              " | ".join(f"morph {r}" for r in RATIOS) + " |", "|---" * (len(RATIOS) + 2) + "|"]
    curves = {}
    for name in STRICT:
        rate = reject_rate(name)
        _, v = judge(rows, profiles, heads, lambda p, rate=rate: rate, shipped_veto)
        accept = 100 * np.mean([x == "genuine" for x, g in zip(v, gen) if g])
        rej = [100 * np.mean([x != "genuine" for x, m in zip(v, by_kind[f"morph@{r:.1f}"]) if m]) for r in RATIOS]
        curves[name] = (rate, accept, rej)
        lines.append(f"| {name} ({100 * rate:.0f} %) | {accept:.1f} | " + " | ".join(f"{x:.1f}" for x in rej) + " |")
    results["morph_strictness"] = {k: {"rate": c[0], "genuine_accept": c[1], "morph_reject": c[2]}
                                   for k, c in curves.items()}
    lines += ["", f"Whole run: {time.perf_counter() - start:.0f} s."]
    report("\n".join(lines), results, args.out, "results")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.6))
        for name, (rate, accept, rej) in curves.items():
            ax.plot(RATIOS, rej, marker="o", label=f"{name}: genuine accepted {accept:.1f} %")
        ax.set_xlabel("morph ratio (share of the VIP)")
        ax.set_ylabel("morphs rejected (%)")
        ax.set_ylim(0, 102)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title("Morph rejection vs strictness (held-out photos, 5 LFW VIPs)", fontsize=9)
        fig.tight_layout()
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot, dpi=120)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
