"""Where the evidence points (#35 item 3): does the artefact detector's boundary map, and the region the report
names, lie where the forger changed the face? On held-out identities and forgeries made as verdict.py makes them.

    python benchmarks/localise.py --out out/localise     # 5 VIPs, 10 forgeries of each kind, ~4 min on one core

Per forgery, the forger's own mask (``ForgeResult.mask``: the pixels it changed) is carried into the detector's
crop frame and grown by ``--margin`` of the crop side; that is the *changed region*. Reported per kind:

1. **pointing**: the share of forgeries whose boundary map peaks inside the changed region, beside *chance*, the
   changed region's share of the face (a map that peaked anywhere on the face at random) — for whole-face methods
   chance is near 1 and the column says little; for mouth, eyes, nose and reshapes it is the test;
2. **named**: of the forgeries whose map names a region (``detector.describe`` is not "no clear boundary"), the share
   whose named zone(s) overlap the changed region (at least ``--zone-share`` of the zone); (2b) for the kinds that
   edit one part, which part the map and the part-level identity evidence point at; (2c) naming a region only from
   a detector score (a gate; the detector's ``ArtifactConfig.names_region_at`` is the shipped one): how often a
   genuine photo is given a region, which is a false claim, against how often a forgery is, and rightly;
3. at the verdict, for the identity-passing kinds (their similarity stays in the VIP's range): how many are caught,
   and what the report says decided each (``Verdict.decided_by``): blending artefacts with a region named, blending
   artefacts with none, or the whole face's identity (no region: the identity of the whole face decided).

With ``--out`` it also writes ``report.html``: the report card (``vipguard.apps.report``) of every identity-passing
forgery that is caught (``--cards`` per VIP and kind), so that what decided each, and the region shown on its
boundary map, can be looked at.
"""

from __future__ import annotations

from one_core import DEFAULT_DATA, report  # first: pins every thread pool to one core
from verdict import VIPS, forge_results_of  # noqa: E402  the verdict benchmark's VIPs and forgeries

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from dataclasses import dataclass, replace  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

IDENTITY_PASSING = ("selfswap", "selfmouth", "reshape", "reenact", "lookalike", "morph@0.8", "morph@0.9", "efs")
"""The kinds whose similarity to the VIP usually stays inside the VIP's genuine range (#35, #34)."""


@dataclass(frozen=True)
class Located:
    kind: str
    pointing: bool  # the boundary map peaks inside the changed region
    chance: float  # the changed region's share of the face
    named: str  # the region the boundary map names, before the detector's gate (NO_BOUNDARY when none)
    named_hit: bool | None  # the named zone(s) overlap the changed region (None: no region named)
    verdict: str
    artefact_decided: bool  # blending artefacts decided the verdict (Verdict.decided_by)
    decided_by: str = ""  # what the report says decided it
    score: float = float("nan")  # the artefact detector's score
    truth: str | None = None  # the one facial part the forger edited (eyes, nose, mouth, outline), if one
    departure_raw: str | None = None  # the part the explanation's largest departure names today
    departure_z: str | None = None  # the part departing most in units of the VIP's genuine spread


def changed_region(mask: np.ndarray, landmarks: np.ndarray, config, margin: float) -> np.ndarray:
    """The forger's mask in the detector's crop frame, grown by ``margin`` × the crop side (bool, S×S)."""
    from vipguard.artifact.crop import face_crop

    crop, _ = face_crop(mask, landmarks, config)
    radius = max(1, round(margin * config.size))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate((crop > 127).astype(np.uint8), kernel) > 0


def named_zones(where: str) -> list[int]:
    """The :data:`~vipguard.artifact.detector.ZONES` indices a ``where`` phrase names."""
    from vipguard.artifact.detector import ZONES

    if where == "around the whole face outline":
        return [0, 4, 5]
    return [i for i, z in enumerate(ZONES) if z in where]


def locate(kind: str, verdict, region: np.ndarray, zones: np.ndarray, zone_share: float) -> Located | None:
    """One forgery's localisation against its changed ``region`` (None without a boundary map or a region)."""
    from vipguard.artifact.detector import describe

    face = zones >= 0
    if verdict.boundary is None or not (region & face).any():
        return None
    boundary = np.where(face, verdict.boundary, -1.0)
    peak = np.unravel_index(int(np.argmax(boundary)), boundary.shape)
    where = describe(verdict.boundary, zones)  # the map's own region, before the detector's naming gate
    picked = named_zones(where)
    hit = None if not picked else any((region & (zones == z)).sum() >= zone_share * (zones == z).sum() for z in picked)
    decided = verdict.decided_by or ""
    return Located(kind, bool(region[peak]), float((region & face).sum() / face.sum()), where, hit, verdict.verdict,
                   decided.startswith("blending artefacts"), decided,
                   float(verdict.evidence.get("artifact", float("nan"))))


PART_OF_KIND = {"eyes": "eyes", "nose": "nose", "mouth": "mouth", "selfmouth": "mouth"}
PART_OF_RESHAPE = {"eyes": "eyes", "nose": "nose", "mouth": "mouth", "jaw": "outline"}


def edited_part(kind: str, params: dict) -> str | None:
    """The one facial part a forgery edited (None for whole-face kinds)."""
    if kind == "reshape":
        return PART_OF_RESHAPE.get(params.get("feature"))
    return PART_OF_KIND.get(kind)


def departures(values: dict[str, float], usual: dict[str, float], spread: dict[str, float]) -> tuple:
    """(the part the explanation's largest departure names, the part departing most in units of ``spread``)."""
    from vipguard.lite.decision import BY_NAME, FEATURE_TABLE
    from vipguard.lite.explain import largest_departure

    raw = largest_departure(values, usual)
    z = {f.name: f.sign * (usual[f.name] - values[f.name]) / max(spread[f.name], 1e-3)
         for f in FEATURE_TABLE if f.part in ("eyes", "nose", "mouth", "outline") and f.name in values}
    return (BY_NAME[raw].part if raw else None), (BY_NAME[max(z, key=z.get)].part if z else None)


def collect(args) -> tuple[list[Located], list[tuple[float, str]], list, float]:
    from vipguard.artifact.detector import ArtifactDetector, describe, zone_map
    from vipguard.faces import FaceAnalyzer
    from vipguard.faces.embed import DEFAULT_EMBEDDER
    from vipguard.infra.io import load_image
    from vipguard.infra.registry import Registry
    from vipguard.lite.background import load_background
    from vipguard.lite.enrol import Enroller
    from vipguard.lite.decision import FEATURES
    from vipguard.lite.guard import Guard
    from vipguard.lite.profile import PROFILE_CODEC

    lfw = args.data / "lfw"
    rng = np.random.default_rng(args.seed)
    mz = sorted(d.name for d in lfw.iterdir() if d.is_dir() and "M" <= d.name[:1].upper() <= "Z" and d.name not in VIPS)
    other_names = [mz[i] for i in sorted(rng.choice(len(mz), size=min(args.others, len(mz)), replace=False))]
    rows: list[Located] = []
    genuine: list[tuple[float, str]] = []  # (artefact score, region named) of each held-out genuine photo
    caught_cards: list = []
    shown: dict[tuple[str, str], int] = defaultdict(int)  # report cards per (VIP, kind)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, FaceAnalyzer() as a:
        artifact = ArtifactDetector(args.artifact_weights)
        enroller = Enroller(a, load_background(), artifact=artifact)
        registry = Registry(Path(tmp) / "registry.db", codec=PROFILE_CODEC)
        guard = Guard(registry, a, artifact=artifact)

        def analysed(path):
            image = load_image(path)
            faces = a.analyze(image, primary_only=True, embedders=())
            return (image, faces[0]) if faces and faces[0].mesh is not None else None

        others = [o for o in (analysed(sorted((lfw / n).glob("*.jpg"))[0]) for n in other_names) if o is not None]
        other_vecs = np.stack([a.embedder(DEFAULT_EMBEDDER).embed_aligned(o[1].aligned[None])[0] for o in others])
        for vip in args.vips:
            photos = sorted((lfw / vip).glob("*.jpg"))
            enrolled = enroller.enrol(vip, photos[:20])
            profile = enrolled.profile
            registry.put(profile)
            genuine_rows = enrolled.training.x[enrolled.training.groups == 0]
            spread = dict(zip(FEATURES, genuine_rows.std(0).astype(float)))
            usual = dict(zip(FEATURES, profile.typical.astype(float)))
            test = [t for t in (analysed(p) for p in photos[20: 20 + args.genuine]) if t is not None]
            for image, face in test:
                verdict = guard.check(image, vip=vip, source=f"{vip} genuine")
                if verdict.decision is not None and verdict.boundary is not None:
                    _, landmarks = artifact.crop(image, face.detection.landmarks)
                    genuine.append((float(verdict.evidence.get("artifact", float("nan"))),
                                    describe(verdict.boundary, zone_map(landmarks, artifact.size))))
            near = np.argsort(-(other_vecs @ profile.centre))[:5]
            for kind, result in forge_results_of(test, others, near, args.per_kind, args.seed):
                verdict = guard.check(result.image, vip=vip, source=f"{vip} {kind}")
                faces = a.analyze(result.image, primary_only=True, embedders=(), mesh=False)
                if not faces or verdict.decision is None:
                    continue
                _, landmarks = artifact.crop(result.image, faces[0].detection.landmarks)
                zones = zone_map(landmarks, artifact.size)
                region = changed_region(result.mask, faces[0].detection.landmarks, artifact.config, args.margin)
                row = locate(kind, verdict, region, zones, args.zone_share)
                if row is not None:
                    raw, z = departures(verdict.evidence, usual, spread)
                    rows.append(replace(row, truth=edited_part(kind, result.params), departure_raw=raw,
                                        departure_z=z))
                if (kind in IDENTITY_PASSING and verdict.verdict != "genuine" and args.out is not None
                        and shown[(vip, kind)] < args.cards):
                    shown[(vip, kind)] += 1
                    caught_cards.append((verdict, result.image))
            print(f"  {vip}: {len(rows)} forgeries located; {time.perf_counter() - t0:.0f} s so far", flush=True)
    gate = artifact.config.names_region_at
    return rows, genuine, caught_cards, gate


GATES = (0.0, 0.5, 0.9, 0.99)  # artefact scores below which a region might not be named (with the shipped one)


def tables(rows: list[Located], genuine: list[tuple[float, str]], args, shipped: float) -> tuple[str, dict]:
    from vipguard.artifact.detector import NO_BOUNDARY

    by_kind: dict[str, list[Located]] = defaultdict(list)
    for r in rows:
        by_kind[r.kind].append(r)
    lines = [f"## 1–2. Where the boundary map points (changed region: the forger's mask grown by {args.margin:g} of "
             "the crop side)", "",
             "| kind | n | pointing: peak in the changed region % | chance % | a region named % | named region "
             "right % |", "|---|---|---|---|---|---|"]
    results: dict = {"kinds": {}, "verdict": {}}
    for kind, rs in by_kind.items():
        named = [r for r in rs if r.named_hit is not None]
        cell = {"n": len(rs), "pointing": 100 * np.mean([r.pointing for r in rs]),
                "chance": 100 * np.mean([r.chance for r in rs]), "named": 100 * len(named) / len(rs),
                "named_right": 100 * np.mean([r.named_hit for r in named]) if named else float("nan")}
        results["kinds"][kind] = cell
        lines.append(f"| {kind} | {cell['n']} | {cell['pointing']:.0f} | {cell['chance']:.0f} | {cell['named']:.0f} | "
                     + ("–" if not named else f"{cell['named_right']:.0f}") + " |")
    lines += ["", "## 2b. The one part edited: which part each pointer names, % right (n)", "",
              "| kind | n | boundary map's named zone | largest departure (explanation today) | largest departure in "
              "units of the VIP's genuine spread |", "|---|---|---|---|---|"]
    zone_part = {"eyes": "around the eyes", "nose": "around the nose", "mouth": "around the mouth",
                 "outline": ("along the cheeks", "along the jaw", "around the whole face outline")}
    results["parts"] = {}
    for kind, rs in by_kind.items():
        rs = [r for r in rs if r.truth is not None]
        if not rs:
            continue
        zone = [any(z in r.named for z in np.atleast_1d(zone_part[r.truth])) for r in rs]
        raw = [r.departure_raw == r.truth for r in rs]
        z = [r.departure_z == r.truth for r in rs]
        cell = {"n": len(rs), "zone": 100 * np.mean(zone), "raw": 100 * np.mean(raw), "z": 100 * np.mean(z)}
        results["parts"][kind] = cell
        lines.append(f"| {kind} | {len(rs)} | {cell['zone']:.0f} | {cell['raw']:.0f} | {cell['z']:.0f} |")
    lines += ["", "## 2c. Naming a region only where the detector's score reaches a gate: genuine photos given a "
              "region (a false claim), and forgeries", "",
              "| gate | genuine photos given a region % | forgeries given a region % | of those, right % | part edits "
              "given a region % | of those, right % |", "|---|---|---|---|---|---|"]
    results["gates"] = {}
    parts = [r for r in rows if r.truth is not None]
    for gate in sorted({*GATES, shipped}):
        g = 100 * np.mean([score >= gate and where != NO_BOUNDARY for score, where in genuine]) if genuine else 0.0
        named = [r for r in rows if r.named_hit is not None and r.score >= gate]
        pnamed = [r for r in parts if r.named_hit is not None and r.score >= gate]
        cell = {"genuine_named": g, "named": 100 * len(named) / len(rows),
                "right": 100 * np.mean([r.named_hit for r in named]) if named else float("nan"),
                "part_named": 100 * len(pnamed) / max(len(parts), 1),
                "part_right": 100 * np.mean([r.named_hit for r in pnamed]) if pnamed else float("nan")}
        results["gates"][str(gate)] = cell
        mark = " (shipped: `ArtifactConfig.names_region_at`)" if gate == shipped else ""
        lines.append(f"| {gate:g}{mark} | {g:.1f} ({len(genuine)}) | {cell['named']:.0f} | {cell['right']:.0f} | "
                     f"{cell['part_named']:.0f} | {cell['part_right']:.0f} |")
    lines += ["", "## 3. The identity-passing kinds at the verdict: what decided the ones caught", "",
              "| kind | n | caught (not `genuine`) | decided by blending artefacts, region named | by blending "
              "artefacts, no region named | by the whole face's identity |", "|---|---|---|---|---|---|"]
    for kind in IDENTITY_PASSING:
        rs = by_kind.get(kind, [])
        caught = [r for r in rs if r.verdict != "genuine"]
        art = [r for r in caught if r.artefact_decided]
        named = [r for r in art if "no region" not in r.decided_by]  # as the report names it
        cell = {"n": len(rs), "caught": len(caught), "artefact_named": len(named),
                "artefact_unnamed": len(art) - len(named), "identity": len(caught) - len(art)}
        results["verdict"][kind] = cell
        lines.append(f"| {kind} | {len(rs)} | {len(caught)} | {len(named)} | {len(art) - len(named)} | "
                     f"{len(caught) - len(art)} |")
    return "\n".join(lines), results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--vips", nargs="+", default=VIPS)
    ap.add_argument("--genuine", type=int, default=40)
    ap.add_argument("--others", type=int, default=200)
    ap.add_argument("--per-kind", type=int, default=10)
    ap.add_argument("--seed", type=int, default=4321)
    ap.add_argument("--margin", type=float, default=0.04, help="the mask's growth, as a share of the crop side")
    ap.add_argument("--zone-share", type=float, default=0.1,
                    help="a named zone is right when the changed region covers this share of it")
    ap.add_argument("--cards", type=int, default=1, help="report cards per VIP and identity-passing kind caught")
    ap.add_argument("--artifact-weights", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if not (args.data / "lfw").is_dir():
        ap.error(f"no LFW photos under {args.data} (give --data)")
    t0 = time.perf_counter()
    rows, genuine, cards, shipped = collect(args)
    text, results = tables(rows, genuine, args, shipped)
    text = f"# Where the evidence points ({time.perf_counter() - t0:.0f} s)\n\n{text}"
    report(text, results, args.out, "localise")
    if args.out is not None:
        from vipguard.apps.report import write_report

        write_report(args.out / "report.html", cards, title="vipguard: identity-passing forgeries caught")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
