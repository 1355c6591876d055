"""Build a VIPEval-lite dataset from a folder of people's photos (LFW layout: ``<Name>/<Name>_NNNN.jpg``).

Per VIP (the people with the most photos): the enrolment split (the first ``enrol`` photos, ``_0001``–``_0020``
in LFW), up to ``genuine`` test photos from the rest (never an enrolment photo), photos of other people (random
ones and the most similar-looking by embedding) and forgeries by every registered method (the VIP's test photos
as sources, other people as targets chosen by the ``lookalike`` policy; ``selfswap`` onto another test photo of
the VIP). Other people come only from names starting with ``others_from``–Z (M–Z by default) because the
package's bundled background set, used at enrolment, holds people from A–L. Deterministic given the seed.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import forge
from ..faces import FaceAnalyzer, cosine
from ..faces.embed import DEFAULT_EMBEDDER
from ..forge.output import write_item
from ..infra.io import IMAGE_SUFFIXES, InputError
from .manifest import MANIFEST, Manifest, ManifestError, Record, relative

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BuildConfig:
    vips: int = 10
    names: tuple[str, ...] = ()  # explicit VIP names (default: the people with the most photos)
    min_photos: int = 41  # a VIP needs at least this many photos (enrolment + test)
    enrol: int = 20  # photos _0001.._0020
    genuine: int = 20  # genuine test photos per VIP (at most)
    others_random: int = 5
    others_lookalike: int = 5
    per_method: int = 3  # forgeries per method per VIP
    methods: tuple[str, ...] = ()  # default: every registered method
    pool: int = 300  # other people analysed (one photo each) for targets and lookalikes
    lookalike_k: int = 15  # forgery targets: the k others nearest the VIP
    others_from: str = "M"  # other people: names from this letter to Z
    seed: int = 0


def sub_seed(seed: int, *parts: object) -> int:
    """A stable seed for one part of the build (independent of Python's hash randomisation)."""
    return int(np.random.SeedSequence([seed, *(zlib.crc32(str(p).encode()) for p in parts)]).generate_state(1)[0])


def people(photos: Path) -> dict[str, list[Path]]:
    """``{name: sorted photo paths}`` for each sub-folder of ``photos`` with at least one image."""
    if not photos.is_dir():
        raise ManifestError(f"{photos}: not a folder of people (expected <Name>/<Name>_NNNN.jpg)")
    out = {}
    for folder in sorted(p for p in photos.iterdir() if p.is_dir()):
        images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            out[folder.name] = images
    return out


def choose_vips(everyone: dict[str, list[Path]], cfg: BuildConfig) -> list[str]:
    if cfg.names:
        missing = [n for n in cfg.names if n not in everyone]
        if missing:
            raise ManifestError(f"no photos for {', '.join(missing)}")
        return list(cfg.names)
    eligible = [n for n, ps in everyone.items() if len(ps) >= cfg.min_photos]
    eligible.sort(key=lambda n: (-len(everyone[n]), n))
    return eligible[: cfg.vips]


def split_photos(photos: Sequence[Path], cfg: BuildConfig, rng: np.random.Generator) -> tuple[list[Path], list[Path]]:
    """(enrolment photos, genuine test photos): the first ``cfg.enrol``, then a seeded sample of the rest."""
    ordered = sorted(photos)
    enrol, rest = ordered[: cfg.enrol], ordered[cfg.enrol:]
    if len(rest) > cfg.genuine:
        keep = sorted(rng.choice(len(rest), cfg.genuine, replace=False))
        rest = [rest[i] for i in keep]
    return enrol, rest


def other_people(everyone: dict[str, list[Path]], vips: Sequence[str], cfg: BuildConfig) -> list[Path]:
    """One seeded photo each of up to ``cfg.pool`` people whose names start with ``others_from``–Z."""
    start = cfg.others_from.upper()
    names = [n for n in everyone if n[:1].upper() >= start and n not in vips]
    rng = np.random.default_rng(sub_seed(cfg.seed, "pool"))
    names = [names[i] for i in sorted(rng.choice(len(names), min(cfg.pool, len(names)), replace=False))]
    return [everyone[n][int(rng.integers(len(everyone[n])))] for n in names]


def analyse_all(paths: Sequence[Path], analyzer: FaceAnalyzer, progress: Progress, stage: str
                ) -> list[forge.ForgeInput]:
    items = []
    for k, path in enumerate(paths):
        try:
            items.append(forge.prepare_input(str(path), analyzer))
        except (InputError, forge.ForgeError):
            pass  # counted by the caller (len(items) < len(paths))
        progress(stage, k + 1, len(paths))
    return items


def build(photos: Path, out: Path, analyzer: FaceAnalyzer, cfg: BuildConfig = BuildConfig(),
          progress: Progress | None = None) -> Manifest:
    """Build the dataset under ``out`` (forgeries in ``out/fakes``) and write ``out/manifest.json``."""
    step = progress or (lambda stage, i, n: None)
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    everyone = people(photos)
    vips = choose_vips(everyone, cfg)
    if not vips:
        raise ManifestError(f"{photos}: nobody has {cfg.min_photos}+ photos")
    methods = list(cfg.methods or forge.FORGERS.names)
    unknown = [m for m in methods if m not in forge.FORGERS]
    if unknown:
        raise ManifestError(f"unknown forgery method(s): {', '.join(unknown)}")
    pool = analyse_all(other_people(everyone, vips, cfg), analyzer, step, "other people")
    records: list[Record] = []
    made: dict[str, dict[str, int]] = {}
    for v, vip in enumerate(vips):
        rng = np.random.default_rng(sub_seed(cfg.seed, vip, "split"))
        enrol, test = split_photos(everyone[vip], cfg, rng)
        records += [Record.genuine(relative(p, out), vip, "enrol") for p in enrol]
        records += [Record.genuine(relative(p, out), vip, "test") for p in test]
        enrol_items = analyse_all(enrol, analyzer, step, f"{vip}: enrolment photos")
        sources = analyse_all(test, analyzer, step, f"{vip}: test photos")
        if not enrol_items or not sources:
            continue
        centre = forge.identity_centre(enrol_items)
        sims = np.array([float(cosine(t.face.embeddings[DEFAULT_EMBEDDER], centre)) for t in pool])
        order = np.argsort(-sims, kind="stable")
        lookalikes = [int(i) for i in order[: cfg.others_lookalike]]
        rest = [int(i) for i in order[cfg.others_lookalike:]]
        pick = np.random.default_rng(sub_seed(cfg.seed, vip, "others")).choice(
            len(rest), min(cfg.others_random, len(rest)), replace=False)
        for policy, ids in (("lookalike", lookalikes), ("random", sorted(rest[i] for i in pick))):
            records += [Record(relative(pool[i].path, out), vip, 0, "other", policy, "test",
                               extra={"similarity": round(float(sims[i]), 4)}) for i in ids]
        made[vip] = {}
        for m, method in enumerate(methods):
            targets, policy = (sources, "random") if method in forge.SELF_TARGET_METHODS else (pool, "lookalike")
            report = forge.forge_batch(method, sources, targets, cfg.per_method, sub_seed(cfg.seed, vip, method),
                                       analyzer, targets_policy=policy, centre=centre, lookalike_k=cfg.lookalike_k)
            folder = out / "fakes" / vip / method
            for k, item in enumerate(report.items):
                path = write_item(item, folder, k)
                records.append(Record(relative(path, out), vip, 0, "fake", method, "test",
                                      source=relative(item.result.source, out) if item.result.source else None,
                                      target=relative(item.result.target, out) if item.result.target else None,
                                      extra={"face_score": item.face_score}))
            made[vip][method] = len(report.items)
            step(f"{vip}: forgeries", m + 1, len(methods))
        step("VIPs", v + 1, len(vips))
    meta = {"name": "VIPEval-lite", "source": "build", "photos": str(photos), "seed": cfg.seed,
            "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
            "forgeries_made": made, "seconds": round(time.perf_counter() - start, 1)}
    manifest = Manifest(tuple(records), out, meta)
    problems = manifest.problems()
    if problems:
        raise ManifestError("; ".join(problems[:5]))
    manifest.write(out / MANIFEST)
    return manifest
