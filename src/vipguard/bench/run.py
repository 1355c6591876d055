"""Run VIPEval-lite: enrol each VIP from its enrolment split, check every test image, compute the metrics.

One run gives, for every scorer in :data:`~.baselines.SCORERS`: metrics pooled over all VIPs, per VIP, per
forgery method (genuine test photos vs that method's forgeries; ``other`` = other people) and averaged over
VIPs; the robustness grid (each degradation applied to the test images); and the enrolment-size ablation
(VIPGuard-lite enrolled from the first 1, 3, 5, … photos that pass the quality filter).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..faces import FaceAnalyzer
from ..faces.embed import DEFAULT_EMBEDDER
from ..infra.io import load_image
from ..infra.registry import Registry
from ..lite.background import load_background
from ..lite.enrol import EnrolConfig, EnrolError, Enroller
from ..lite.evidence import ArtifactScorer
from ..lite.guard import Guard
from ..lite.profile import PROFILE_CODEC
from .baselines import SCORERS, CachedAnalyzer, score_image
from .build import sub_seed
from .degrade import grid
from .manifest import Manifest, Record, group_key
from .metrics import best_threshold, summary

Progress = Callable[[str, int, int], None]
ABLATION_SIZES = (1, 3, 5, 10, 15, 20)


@dataclass(frozen=True)
class RunConfig:
    vips: int | None = None  # at most this many VIPs (default: all in the manifest)
    genuine: int | None = None  # at most this many genuine test photos per VIP
    others: int | None = None  # at most this many other-person photos per VIP
    per_method: int | None = None  # at most this many forgeries per method per VIP
    levels: tuple[int, ...] = (1, 2, 3)  # robustness levels (empty: no robustness study)
    robust_images: int | None = None  # at most this many test images per VIP in the robustness study
    ablation: tuple[int, ...] = ABLATION_SIZES
    ablation_vips: int = 3  # the ablation enrols each VIP len(ablation) times: the first few VIPs only
    n_boot: int = 500
    seed: int = 0

    @classmethod
    def quick(cls, seed: int = 0) -> RunConfig:
        return cls(vips=2, genuine=4, others=2, per_method=1, levels=(2,), robust_images=None,
                   ablation=(1, 5), ablation_vips=1, n_boot=100, seed=seed)


def test_records(manifest: Manifest, vip: str, cfg: RunConfig) -> list[Record]:
    """The VIP's test records, capped per kind/method by ``cfg`` (manifest order, deterministic)."""
    out, counts = [], {}
    caps = {"genuine": cfg.genuine, "other": cfg.others}
    for r in manifest.select(vip=vip, split="test"):
        key = r.kind if r.kind != "fake" else f"fake/{r.method}"
        cap = caps.get(r.kind, cfg.per_method)
        if cap is not None and counts.get(key, 0) >= cap:
            continue
        counts[key] = counts.get(key, 0) + 1
        out.append(r)
    return out


def spread(records: Sequence[Record], n: int | None) -> list[Record]:
    """At most ``n`` records spread evenly over ``records`` (keeps genuine and negatives in proportion)."""
    if n is None or len(records) <= n:
        return list(records)
    idx = np.unique(np.linspace(0, len(records) - 1, n).round().astype(int))
    return [records[i] for i in idx]


def metrics_block(rows: Sequence[dict], n_boot: int, seed: int) -> dict[str, Any]:
    """Per-scorer summaries of ``rows`` (each with ``label`` and ``scores``)."""
    labels = [r["label"] for r in rows]
    return {s: summary(labels, [r["scores"][s] for r in rows], n_boot, seed) for s in SCORERS}


def _value(block: dict | None, metric: str) -> float | None:
    return None if block is None or block.get(metric) is None else block[metric]["value"]


def evaluate(rows: Sequence[dict], n_boot: int, seed: int) -> dict[str, Any]:
    """Pooled, per-VIP, per-method and VIP-averaged metrics of scored ``rows``."""
    vips = sorted({r["vip"] for r in rows})
    groups = sorted({r["group"] for r in rows if r["label"] == 0})
    per_vip = {v: metrics_block([r for r in rows if r["vip"] == v], n_boot, seed) for v in vips}
    per_method = {g: metrics_block([r for r in rows if r["label"] == 1 or r["group"] == g], n_boot, seed)
                  for g in groups}
    mean = {}
    for s in SCORERS:
        mean[s] = {}
        for m in ("auc", "eer", "acc", "ap"):
            vals = [_value(per_vip[v][s], m) for v in vips]
            vals = [x for x in vals if x is not None]
            mean[s][m] = round(float(np.mean(vals)), 5) if vals else None
    return {"overall": metrics_block(rows, n_boot, seed), "per_vip": per_vip, "per_method": per_method,
            "mean_over_vips": mean, "at_verdict": verdict_accuracy(rows)}


def verdict_accuracy(rows: Sequence[dict]) -> dict[str, Any]:
    """Accuracy per group at the project's own verdict (genuine accepted; any other verdict for a negative), and
    similarity alone at its best single threshold on the same rows (:func:`~.metrics.best_threshold`)."""
    groups = [r["group"] for r in rows]
    ours = {g: float(np.mean([(r["verdict"] == "genuine") == (r["label"] == 1) for r in rows if r["group"] == g]))
            for g in dict.fromkeys(groups)}
    threshold, similarity = best_threshold(groups, [r["scores"]["similarity"] for r in rows])
    return {"vipguard": ours, "similarity_best": similarity, "similarity_threshold": threshold}


class _Vip:
    """One enrolled VIP: its registry/guard, centre, one-shot reference and quality-passed enrolment photos."""

    def __init__(self, name: str, guard: Guard, centre: np.ndarray, reference: np.ndarray | None,
                 passed: list[Path], enrol_info: dict[str, Any]) -> None:
        self.name, self.guard, self.centre, self.reference = name, guard, centre, reference
        self.passed, self.enrol_info = passed, enrol_info


def run(manifest: Manifest, analyzer: FaceAnalyzer, cfg: RunConfig = RunConfig(),
        progress: Progress | None = None, *, artifact: ArtifactScorer) -> dict[str, Any]:
    """Everything the benchmark measures, as a JSON-ready dict (see :mod:`.report` for the tables); ``artifact``
    is the artefact scorer of the enrolments and checks."""
    step = progress or (lambda stage, i, n: None)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    cached = CachedAnalyzer(analyzer)
    enroller = Enroller(cached, load_background(), EnrolConfig(seed=cfg.seed),  # type: ignore[arg-type]
                        artifact=artifact)
    vips = manifest.vips[: cfg.vips] if cfg.vips else manifest.vips
    rows: list[dict] = []
    enrolled: dict[str, _Vip] = {}
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="vipguard-bench-") as tmp:
        registry = Registry(Path(tmp) / "registry.db", codec=PROFILE_CODEC)
        guard = Guard(registry, cached, artifact=artifact)  # type: ignore[arg-type]
        # -- enrol and check -------------------------------------------------------------------------------
        for v, vip in enumerate(vips):
            paths = [manifest.resolve(r) for r in manifest.select(vip=vip, split="enrol")]
            try:
                result = enroller.enrol(vip, paths)
            except EnrolError as exc:
                skipped[vip] = str(exc)
                continue
            registry.put(result.profile)
            passed = [Path(p.path) for p in result.photos if p.used]
            first = load_image(passed[0])
            ref_faces = cached.analyze(first, primary_only=True)
            reference = ref_faces[0].embeddings[DEFAULT_EMBEDDER] if ref_faces else None
            enrolled[vip] = _Vip(vip, guard, result.profile.centre, reference, passed,
                                 {"photos": len(paths), "used": result.used, "seconds": round(result.seconds, 2),
                                  "relaxed": result.relaxed, "fakes": result.fakes})
            records = test_records(manifest, vip, cfg)
            for k, record in enumerate(records):
                image = load_image(manifest.resolve(record))
                s = score_image(image, vip, guard, result.profile.centre, reference, cached)
                rows.append({"path": record.path, "vip": vip, "label": record.label, "kind": record.kind,
                             "method": record.method, "group": "genuine" if record.label else group_key(record),
                             "verdict": s.verdict, "has_face": s.has_face,
                             "scores": {n: round(x, 6) for n, x in s.values.items()}})
                step(f"{vip}: check", k + 1, len(records))
            step("VIPs", v + 1, len(vips))
        timings["enrol_and_check"] = time.perf_counter() - t0
        if not rows:
            raise EnrolError("no VIP could be enrolled: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
        main = evaluate(rows, cfg.n_boot, cfg.seed)
        # -- robustness ----------------------------------------------------------------------------------
        t = time.perf_counter()
        robustness = robustness_study(manifest, rows, enrolled, cached, cfg, step)
        timings["robustness"] = time.perf_counter() - t
        # -- ablation -------------------------------------------------------------------------------------
        t = time.perf_counter()
        ablation = ablation_study(manifest, rows, enrolled, enroller, cached, Path(tmp), cfg, step)
        timings["ablation"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    return {
        "benchmark": "VIPEval-lite",
        "dataset": {"root": str(manifest.root), **{k: v for k, v in manifest.meta.items() if k != "forgeries_made"}},
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
        "scorers": SCORERS,
        "vips": list(enrolled), "skipped": skipped,
        "enrolment": {k: v.enrol_info for k, v in enrolled.items()},
        "counts": _counts(rows),
        **main,
        "robustness": robustness,
        "ablation": ablation,
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "analysis_cache": {"hits": cached.hits, "misses": cached.misses},
        "scores": rows,
    }


def _counts(rows: Sequence[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r["group"]] = out.get(r["group"], 0) + 1
    out["no_face"] = sum(not r["has_face"] for r in rows)
    return dict(sorted(out.items()))


def robustness_study(manifest: Manifest, rows: Sequence[dict], enrolled: dict[str, _Vip], cached: CachedAnalyzer,
                     cfg: RunConfig, step: Progress) -> dict[str, Any]:
    """AUC/EER/ACC of every scorer on degraded copies of the test images (Table 10 of the paper)."""
    if not cfg.levels:
        return {}
    clean = metrics_block(rows, 0, cfg.seed)
    subset = [r for vip in enrolled for r in spread([r for r in rows if r["vip"] == vip], cfg.robust_images)]
    out: dict[str, Any] = {"none": {"kind": "none", "level": 0, "label": "clean", "n": len(rows), "metrics": clean}}
    cells = grid(cfg.levels)
    for c, cell in enumerate(cells):
        scored = []
        for k, row in enumerate(subset):
            vip = enrolled[row["vip"]]
            image = cell.apply(load_image(manifest.resolve(_record(row))),
                               np.random.default_rng(sub_seed(cfg.seed, row["path"], cell.key)))
            s = score_image(image, vip.name, vip.guard, vip.centre, vip.reference, cached)
            scored.append({**row, "scores": s.values})
            step(f"robustness {cell.key}", k + 1, len(subset))
        out[cell.key] = {"kind": cell.kind, "level": cell.level, "label": cell.label, "n": len(scored),
                         "metrics": metrics_block(scored, 0, cfg.seed)}
        step("robustness", c + 1, len(cells))
    return out


def _record(row: dict) -> Record:
    return Record(row["path"], row["vip"], row["label"], row["kind"], row["method"], "test")


def ablation_study(manifest: Manifest, rows: Sequence[dict], enrolled: dict[str, _Vip], enroller: Enroller,
                   cached: CachedAnalyzer, tmp: Path, cfg: RunConfig, step: Progress) -> dict[str, Any]:
    """VIPGuard-lite's metrics with the VIP enrolled from the first n quality-passed photos (Figure 6)."""
    if not cfg.ablation:
        return {}
    vips = list(enrolled)[: cfg.ablation_vips]
    out: dict[str, Any] = {"vips": vips, "sizes": {}}
    for n in cfg.ablation:
        registry = Registry(tmp / f"ablation-{n}.db", codec=PROFILE_CODEC)
        guard = Guard(registry, cached, artifact=enroller.artifact)  # type: ignore[arg-type]
        scored, used, seconds = [], [], []
        for vip in vips:
            info = enrolled[vip]
            vip_rows = [r for r in rows if r["vip"] == vip]
            if n >= len(info.passed):  # every usable photo: the main profile
                g, used_n = info.guard, len(info.passed)
                seconds.append(info.enrol_info["seconds"])
            else:
                result = enroller.enrol(vip, info.passed[:n])
                registry.put(result.profile)
                g, used_n = guard, result.used
                seconds.append(result.seconds)
            used.append(used_n)
            for k, row in enumerate(vip_rows):
                image = load_image(manifest.resolve(_record(row)))
                v = g.check(image, vip=vip)
                scored.append({**row, "scores": {"vipguard": 0.0 if v.score is None else float(v.score)}})
                step(f"ablation n={n}: {vip}", k + 1, len(vip_rows))
        labels = [r["label"] for r in scored]
        out["sizes"][str(n)] = {"n_photos": n, "used": used, "enrol_seconds": round(float(np.mean(seconds)), 2),
                                "metrics": summary(labels, [r["scores"]["vipguard"] for r in scored], cfg.n_boot,
                                                   cfg.seed)}
        step("ablation", cfg.ablation.index(n) + 1, len(cfg.ablation))
    return out

