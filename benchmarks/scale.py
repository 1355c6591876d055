"""Thousands of VIPs (issue #36 item 2): the registry, the VIP index and adaptive selection with 10,000 enrolled.

    python benchmarks/scale.py                         # 10,000 VIPs, about 6 min
    python benchmarks/scale.py --vips 2000 --out out/scale

The registry (a temporary SQLite file) holds the 5 VIPs of verdict.py, enrolled from their photos _0001-_0020 by
the real Enroller, and synthetic VIPs made from them: a real profile (cycled) whose centres are a bundled background
person's embeddings (vipguard/data/background.npz) — as they are for the first copy of each person, then unit
vectors near them (cosine about 0.9) — each stored by the real ``Registry.put`` (the real codec: JSON and npz blob,
and the centre beside it). Measured against the same registry holding one VIP:

(a) ``put`` of one more VIP, and the writable open before it (what ``vipguard enroll`` adds to the enrolment);
(b) the Guard's VIP selection + decision for one described face (detection, mesh and embedding excluded: they are
    the same work either way), without a VIP name and with the right one; warm (the registry's revision unchanged,
    as in the service) and cold (a fresh Registry: the first check of a `vipguard check` process); also the whole
    ``Guard.check_path`` of one real photo both ways, in-process, and the eager path of before (every profile
    loaded: ``GuardConfig(pick_first=...)`` above the registry's size) for comparison;
(c) first-read time and RSS growth of a fresh process reading the registry: ``Registry.catalogue`` (what a check
    without a name reads) and ``Registry.load`` (every profile decoded: what ``vipguard list`` without a page reads,
    and what ``vipguard check``, ``scan`` and the service's check read before 2026-12-07 to report corrupt rows);
(d) ``list`` (a page of 50 and everything) and ``remove``, and the first check after a removal;
(e) NumPy vs FAISS ``IndexFlatIP`` (both exact) on the registry's centres at 1,000 and all, and on 100,000 random ones;
(f) selection accuracy: held-out genuine photos (_0021 onward) of the 5 real VIPs checked without a name among the 5
    alone (today's bar) and among all; whether their verdicts and scores stay the same; other people nearest the VIPs
    (M-Z, like verdict.py's look-alikes) given ``genuine`` for any VIP; and vip_select.py's probe (faces near known
    centres) against the registry's own centres.

Every thread pool runs one thread (one_core); the process is not pinned to a core.
"""

from __future__ import annotations

from one_core import DEFAULT_DATA, report  # first: pins every thread pool to one thread

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

VIPS = ["Tony_Blair", "George_W_Bush", "Colin_Powell", "Serena_Williams", "Junichiro_Koizumi"]
PAGE = 50


def rss() -> int:
    """This process's resident memory in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        times.append(timed(fn)[0])
    return 1e3 * statistics.median(times)


def synthetic(template, name: str, centres: dict[str, np.ndarray], rng: np.random.Generator, near: float):
    """``template`` renamed, with ``centres`` (one per part) moved to unit vectors at cosine ``near`` to them (1: as
    they are) and its typical evidence jittered: a VIP that is not one of the real five."""
    def moved(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, np.float32) / np.linalg.norm(v)
        if near >= 1:
            return v
        noise = rng.normal(size=v.shape).astype(np.float32)
        noise -= (noise @ v) * v
        noise /= np.linalg.norm(noise)
        return (near * v + np.sqrt(1 - near**2) * noise).astype(np.float32)

    typical = template.typical + rng.normal(scale=0.01, size=template.typical.shape).astype(np.float32)
    return replace(template, name=name, centres={k: moved(c) for k, c in centres.items()}, typical=typical,
                   meta={**template.meta, "synthetic": True})


def build(path: Path, real: list, count: int, background, seed: int) -> tuple[float, float]:
    """A registry at ``path`` with the ``real`` profiles and synthetic ones up to ``count`` VIPs, every one stored by
    ``Registry.put``; returns (seconds in all, median seconds per put)."""
    from vipguard.infra.registry import Registry
    from vipguard.lite.profile import PROFILE_CODEC

    registry = Registry(path, codec=PROFILE_CODEC)
    rng = np.random.default_rng(seed)
    people = background.descriptors
    start, puts = time.perf_counter(), []
    for profile in real[:count]:
        puts.append(timed(registry.put, profile)[0])
    for i in range(max(count - len(real), 0)):
        person = people[i % len(people)]
        profile = synthetic(real[i % len(real)], f"Synthetic_{i:05d}", person.embeddings, rng,
                            1.0 if i < len(people) else 0.9)
        puts.append(timed(registry.put, profile)[0])
    return time.perf_counter() - start, statistics.median(puts)


def probe(db: str, what: str) -> dict:
    """Run in a fresh process (``--probe``): the first read of ``what`` and the RSS it added."""
    from vipguard.infra.registry import Registry
    from vipguard.lite.profile import PROFILE_CODEC

    registry = Registry(db, codec=PROFILE_CODEC, readonly=True)
    before = rss()
    seconds, out = timed(getattr(registry, what))
    if what == "catalogue":
        seconds += timed(lambda: out.index)[0]  # the index is built at the first selection
    return {"seconds": seconds, "rss": rss() - before}


def fresh(db: Path, what: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--probe", str(db), what], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cli(*argv: str) -> float:
    """Wall seconds of ``python -m vipguard ARGV`` (start-up and model loading included)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "vipguard", *argv], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"vipguard {' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()[-500:]}")
    return time.perf_counter() - start


def select_and_decide(guard, descriptor, vip: str | None):
    """The Guard's own steps from the registry to the decision for one described face (Guard.check without the
    face pipeline): the candidates, the refusal check, the selection and the VIP's decision."""
    from vipguard.lite.decision import SIMILARITY, value
    from vipguard.lite.evidence import compare

    vector = descriptor.embeddings["global"][None]
    catalogue = guard.catalogue(vip)
    if catalogue is not None:
        _, vip_i, claimed = guard.select(vector, catalogue.index, None)
        profile = catalogue.profile(vip_i)
        guard.refusal((profile,))
    else:
        candidates = guard.candidates(vip)
        guard.refusal(candidates.profiles)
        all(set(p.head.features) for p in candidates.profiles)  # what Guard.check asks of every profile
        _, vip_i, claimed = guard.select(vector, candidates.index, vip)
        profile = candidates.profiles[vip_i]
    evidence = compare(descriptor, profile)
    return profile.decide(evidence, value(evidence, SIMILARITY), guard.config.select_threshold, claimed,
                          rate=guard.config.rate(profile))


def index_times(names: list[str], centres: np.ndarray, queries: np.ndarray) -> dict:
    from vipguard.infra.index import VipIndex, faiss_available

    out = {}
    for backend in ["numpy"] + (["faiss"] if faiss_available() else []):
        build_s, index = timed(VipIndex, names, centres, backend=backend)
        single = min(timed(lambda: [index.search(q, 1) for q in queries[:200]])[0] for _ in range(3)) / 200
        batch = min(timed(lambda: [index.search(queries[i:i + 64], 1) for i in range(0, len(queries), 64)])[0]
                    for _ in range(3)) / len(queries)
        out[backend] = {"build_ms": build_s * 1e3, "single_us": single * 1e6, "batch64_us": batch * 1e6,
                        "picks": index.search(queries, 1)[1][:, 0]}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vips", type=int, default=10_000, help="VIPs in the large registry (real + synthetic)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--genuine", type=int, default=20, help="held-out photos per real VIP (from _0021)")
    parser.add_argument("--others", type=int, default=4, help="other people nearest each VIP (M-Z) checked")
    parser.add_argument("--repeats", type=int, default=30, help="repetitions of each warm timing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None, help="folder for the registries (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--probe", nargs=2, metavar=("DB", "WHAT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(*args.probe)))
        return

    from vipguard.artifact.detector import ArtifactDetector
    from vipguard.faces import FaceAnalyzer
    from vipguard.faces.embed import DEFAULT_EMBEDDER
    from vipguard.infra.index import faiss_available
    from vipguard.infra.io import load_image
    from vipguard.infra.registry import Registry
    from vipguard.lite.background import load_background
    from vipguard.lite.enrol import Enroller
    from vipguard.lite.evidence import describe_with
    from vipguard.lite.guard import Guard, GuardConfig
    from vipguard.lite.profile import PROFILE_CODEC

    if faiss_available():
        import faiss

        faiss.omp_set_num_threads(1)
    lfw = args.data / "lfw"
    work = Path(args.work or tempfile.mkdtemp(prefix="vipguard-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    one_db, many_db = work / "one.db", work / "many.db"
    for db in (one_db, many_db):
        db.unlink(missing_ok=True)
    results: dict = {"vips": args.vips, "work": str(work)}
    t0 = time.perf_counter()
    analyzer = FaceAnalyzer()
    artifact = ArtifactDetector()
    background = load_background()
    enroller = Enroller(analyzer, background, artifact=artifact)
    real, enrol_s = [], []
    for name in VIPS:
        seconds, result = timed(enroller.enrol, name, sorted((lfw / name).glob("*.jpg"))[:20])
        real.append(result.profile)
        enrol_s.append(seconds)
    print(f"enrolled {len(real)} VIPs in {sum(enrol_s):.0f} s", flush=True)
    build(one_db, real, 1, background, args.seed)
    build_s, put_build = build(many_db, real, args.vips, background, args.seed)
    print(f"built {args.vips} VIPs in {build_s:.0f} s ({1e3 * put_build:.2f} ms a put); "
          f"{many_db.stat().st_size / 2**20:.0f} MiB", flush=True)
    results |= {"enrol_s": statistics.median(enrol_s), "build_s": build_s, "db_mib": many_db.stat().st_size / 2**20}
    sizes = {one_db: 1, many_db: args.vips}

    # (a) one more VIP: the writable open and the put
    rng = np.random.default_rng(args.seed + 1)
    extra = [synthetic(real[0], f"Zextra_{i:03d}", background.descriptors[i].embeddings, rng, 0.9)
             for i in range(args.repeats)]
    put, remove = {}, {}
    for db in (one_db, many_db):
        opens, puts, removes = [], [], []
        for profile in extra:
            seconds, writer = timed(Registry, db, codec=PROFILE_CODEC)
            opens.append(seconds)
            puts.append(timed(writer.put, profile)[0])
        for profile in extra:
            removes.append(timed(Registry(db, codec=PROFILE_CODEC).remove, profile.name)[0])
        put[sizes[db]] = {"open_ms": 1e3 * statistics.median(opens), "put_ms": 1e3 * statistics.median(puts)}
        remove[sizes[db]] = 1e3 * statistics.median(removes)
    results["put"], results["remove_ms"] = put, remove

    # (b) selection + decision, warm and cold; the whole check of one photo
    photo = sorted((lfw / VIPS[0]).glob("*.jpg"))[20]
    image = load_image(photo)
    face = analyzer.analyze(image, primary_only=True, embedders=())[0]
    face = analyzer.with_mesh(image, face, GuardConfig().mesher)
    descriptor, _ = describe_with(image, face, analyzer.embedder(DEFAULT_EMBEDDER), artifact)
    configs = {"now": GuardConfig(), "eager (before)": GuardConfig(pick_first=10**9)}
    selection: dict = {}
    for label, config in configs.items():
        for db in (one_db, many_db):
            if label != "now" and db == one_db:
                continue
            row = {}
            for vip in (None, VIPS[0]):
                guard = Guard(Registry(db, codec=PROFILE_CODEC, readonly=True), analyzer, config, artifact=artifact)
                cold = timed(select_and_decide, guard, descriptor, vip)[0]
                warm = median_ms(lambda: select_and_decide(guard, descriptor, vip), args.repeats)
                picked = select_and_decide(guard, descriptor, vip)
                row["named" if vip else "adaptive"] = {"cold_ms": 1e3 * cold, "warm_ms": warm,
                                                       "score": picked.score}
            selection[f"{label} {sizes[db]}"] = row
            print(f"selection {label} {sizes[db]}: {row}", flush=True)
    checks: dict = {}
    for db in (one_db, many_db):
        row = {}
        for vip in (None, VIPS[0]):
            guard = Guard(Registry(db, codec=PROFILE_CODEC, readonly=True), analyzer, artifact=artifact)
            cold, verdict = timed(guard.check_path, photo, vip)
            warm = median_ms(lambda: guard.check_path(photo, vip), max(args.repeats // 3, 5))
            row["named" if vip else "adaptive"] = {"cold_ms": 1e3 * cold, "warm_ms": warm, "vip": verdict.vip,
                                                   "verdict": verdict.verdict, "score": verdict.score}
        checks[sizes[db]] = row
        print(f"check_path {sizes[db]}: {row}", flush=True)
    results["selection"], results["check"] = selection, checks

    # (c) a fresh process's first read; (d) listing and the CLI
    reads = {sizes[db]: {what: fresh(db, what) for what in ("catalogue", "load")} for db in (one_db, many_db)}
    listing = {}
    for db in (one_db, many_db):
        reader = Registry(db, codec=PROFILE_CODEC, readonly=True)
        listing[sizes[db]] = {"page_ms": 1e3 * timed(reader.page, 0, PAGE)[0],
                              "page_last_ms": 1e3 * timed(reader.page, max(sizes[db] - PAGE, 0), PAGE)[0],
                              "cli_page_s": cli("list", "--db", str(db), "--limit", str(PAGE), "--json"),
                              "cli_all_s": cli("list", "--db", str(db), "--json"),
                              "cli_check_named_s": cli("check", str(photo), "--db", str(db), "--vip", VIPS[0],
                                                       "--json"),
                              "cli_check_adaptive_s": cli("check", str(photo), "--db", str(db), "--json")}
    guard = Guard(Registry(many_db, codec=PROFILE_CODEC, readonly=True), analyzer, artifact=artifact)
    select_and_decide(guard, descriptor, None)
    Registry(many_db, codec=PROFILE_CODEC).remove("Synthetic_00000")
    results["after_remove_ms"] = 1e3 * timed(select_and_decide, guard, descriptor, None)[0]
    results["reads"], results["listing"] = reads, listing
    print(f"reads {reads}\nlisting {listing}", flush=True)

    # (e) index backends
    catalogue = Registry(many_db, codec=PROFILE_CODEC, readonly=True).catalogue()
    names, centres = list(catalogue.names), catalogue.matrix
    qrng = np.random.default_rng(args.seed + 2)

    def near(c: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        truth = qrng.integers(0, len(c), n)
        q = c[truth] + 0.05 * qrng.normal(size=(n, c.shape[1])).astype(np.float32)
        return truth, q

    index = {}
    big = qrng.normal(size=(100_000, centres.shape[1])).astype(np.float32)
    big /= np.linalg.norm(big, axis=1, keepdims=True)
    for label, (n, c) in {"1000": (names[:1000], centres[:1000]), str(len(names)): (names, centres),
                          "100000 random": ([f"v{i}" for i in range(len(big))], big)}.items():
        truth, queries = near(c, 1000)
        timing = index_times(n, c, queries)
        agree = (float(np.mean(timing["numpy"]["picks"] == timing["faiss"]["picks"])) if "faiss" in timing
                 else None)
        index[label] = {b: {k: v for k, v in t.items() if k != "picks"} for b, t in timing.items()}
        index[label]["agree"] = agree
        index[label]["top1"] = float(np.mean(timing["numpy"]["picks"] == truth))
    results["index"] = index
    print(f"index {index}", flush=True)

    # (f) accuracy: genuine held-out photos of the real VIPs, and the other people nearest them
    five = work / "five.db"
    five.unlink(missing_ok=True)
    build(five, real, len(real), background, args.seed)
    guards = {n: Guard(Registry(db, codec=PROFILE_CODEC, readonly=True), analyzer, artifact=artifact)
              for n, db in ((len(real), five), (args.vips, many_db))}
    picks = {n: [] for n in guards}
    same, gaps = [], []
    for name in VIPS:
        for path in sorted((lfw / name).glob("*.jpg"))[20:20 + args.genuine]:
            verdicts = {n: g.check_path(path) for n, g in guards.items()}
            for n, v in verdicts.items():
                picks[n].append(v.vip == name)
            a, b = verdicts[len(real)], verdicts[args.vips]
            if a.vip == b.vip and a.score is not None and b.score is not None:
                same.append(a.verdict == b.verdict)
                gaps.append(abs(a.score - b.score))
    mz = sorted(d.name for d in lfw.iterdir() if d.is_dir() and "M" <= d.name[:1].upper() <= "Z"
                and d.name not in VIPS)
    pool = [sorted((lfw / n).glob("*.jpg"))[0] for n in mz[::max(len(mz) // 300, 1)]]
    embedder = analyzer.embedder(DEFAULT_EMBEDDER)
    vectors = []
    for path in pool:
        faces = analyzer.analyze(load_image(path), primary_only=True, embedders=())
        vectors.append(embedder.embed_aligned(faces[0].aligned[None])[0] if faces else np.zeros(embedder.dim))
    vectors = np.stack(vectors)
    lookalikes = sorted({int(i) for p in real for i in np.argsort(-(vectors @ p.centre))[:args.others]})
    false_genuine = {n: 0 for n in guards}
    for i in lookalikes:
        for n, g in guards.items():
            false_genuine[n] += g.check_path(pool[i]).verdict == "genuine"
    truth, queries = near(centres, 2000)
    probe_top1 = float(np.mean(catalogue.index.search(queries, 1)[1][:, 0] == truth))
    results["accuracy"] = {"picked": {n: float(np.mean(p)) for n, p in picks.items()}, "photos": len(picks[args.vips]),
                           "same_verdict": float(np.mean(same)) if same else None,
                           "max_score_gap": max(gaps) if gaps else None, "lookalikes": len(lookalikes),
                           "lookalike_genuine": false_genuine, "probe_top1": probe_top1}
    results["seconds"] = time.perf_counter() - t0
    analyzer.close()  # MediaPipe cannot close its graph during interpreter exit
    report(markdown(results), results, args.out, "scale")


def markdown(r: dict) -> str:
    n, sel, chk, acc = r["vips"], r["selection"], r["check"], r["accuracy"]
    now, eager = sel[f"now {n}"], sel.get(f"eager (before) {n}")
    ratio = lambda row, key: row["adaptive"][key] / row["named"][key]  # noqa: E731
    lines = [f"Thousands of VIPs: {n:,} enrolled (5 real, {n - 5:,} synthetic), registry {r['db_mib']:.0f} MiB; "
             f"one thread per pool; {r['seconds'] / 60:.0f} min in all.", "",
             "| measure | 1 VIP | " + f"{n:,} VIPs |", "| --- | --- | --- |"]

    def row(label: str, one: str, many: str) -> None:
        lines.append(f"| {label} | {one} | {many} |")

    p, one_sel = r["put"], sel["now 1"]
    row("(a) `put` one more VIP", f"{p[1]['put_ms']:.1f} ms", f"{p[n]['put_ms']:.1f} ms")
    row("(a) writable open before it", f"{p[1]['open_ms']:.1f} ms", f"{p[n]['open_ms']:.1f} ms")
    row("(a) enrolment itself (Enroller, 20 photos; the registry is not read)", f"{r['enrol_s']:.1f} s",
        f"{r['enrol_s']:.1f} s")
    for key, label in (("warm_ms", "warm"), ("cold_ms", "cold, fresh Registry")):
        row(f"(b) selection + decision, {label}: without / with `--vip`",
            f"{one_sel['adaptive'][key]:.2f} / {one_sel['named'][key]:.2f} ms",
            f"{now['adaptive'][key]:.2f} / {now['named'][key]:.2f} ms (× {ratio(now, key):.2f})")
        if eager:
            row(f"(b) the same, eager path of before ({label})", "–",
                f"{eager['adaptive'][key]:.1f} / {eager['named'][key]:.2f} ms")
    for key, label in (("warm_ms", "warm"), ("cold_ms", "cold")):
        row(f"(b) whole `Guard.check_path`, {label}: without / with `--vip`",
            f"{chk[1]['adaptive'][key]:.0f} / {chk[1]['named'][key]:.0f} ms",
            f"{chk[n]['adaptive'][key]:.0f} / {chk[n]['named'][key]:.0f} ms (× {ratio(chk[n], key):.2f})")
    reads, lst = r["reads"], r["listing"]
    for what, label in (("catalogue", "`catalogue()` (names + centres + index)"),
                        ("load", "`load()` (every profile decoded)")):
        row(f"(c) first read, fresh process: {label}",
            f"{1e3 * reads[1][what]['seconds']:.1f} ms, +{reads[1][what]['rss'] / 2**20:.1f} MiB",
            f"{1e3 * reads[n][what]['seconds']:.0f} ms, +{reads[n][what]['rss'] / 2**20:.0f} MiB")
    row(f"(d) `page(0, {PAGE})` / last page", f"{lst[1]['page_ms']:.1f} / {lst[1]['page_last_ms']:.1f} ms",
        f"{lst[n]['page_ms']:.1f} / {lst[n]['page_last_ms']:.1f} ms")
    row(f"(d) `vipguard list --limit {PAGE} --json` / `list --json` (process)",
        f"{lst[1]['cli_page_s']:.1f} / {lst[1]['cli_all_s']:.1f} s", f"{lst[n]['cli_page_s']:.1f} / "
        f"{lst[n]['cli_all_s']:.1f} s")
    row("(d) `remove`", f"{r['remove_ms'][1]:.1f} ms", f"{r['remove_ms'][n]:.1f} ms")
    row("(d) first selection after a removal (catalogue re-read)", "–", f"{r['after_remove_ms']:.0f} ms")
    row("(b) `vipguard check PHOTO --json` without / with `--vip` (process)",
        f"{lst[1]['cli_check_adaptive_s']:.1f} / {lst[1]['cli_check_named_s']:.1f} s",
        f"{lst[n]['cli_check_adaptive_s']:.1f} / {lst[n]['cli_check_named_s']:.1f} s")
    pk, fg = acc["picked"], acc["lookalike_genuine"]
    row(f"(f) held-out genuine photos of the 5 real VIPs ({acc['photos']}): right VIP picked",
        f"{pk[5]:.1%} (among the 5)", f"{pk[n]:.1%}")
    row("(f) same verdict as among the 5 when the same VIP is picked; largest score gap", "–",
        f"{acc['same_verdict']:.1%}; {acc['max_score_gap']:.1e}")
    row(f"(f) other people nearest the VIPs ({acc['lookalikes']}, M-Z) judged `genuine` for any VIP",
        f"{fg[5]} (among the 5)", f"{fg[n]}")
    row("(f) vip_select.py's probe (faces near a known centre, noise 0.05): top-1", "–", f"{acc['probe_top1']:.1%}")
    lines += ["", "| index (exact) | build NumPy / FAISS | 1 face per query NumPy / FAISS | 64 faces per query "
                  "NumPy / FAISS | same picks |", "| --- | --- | --- | --- | --- |"]
    for label, t in r["index"].items():
        f = t.get("faiss")
        fs = (lambda key, fmt: f" / {format(f[key], fmt)}" if f else " / –")
        lines.append(f"| {label} centres | {t['numpy']['build_ms']:.1f}{fs('build_ms', '.1f')} ms | "
                     f"{t['numpy']['single_us']:.0f}{fs('single_us', '.0f')} µs | "
                     f"{t['numpy']['batch64_us']:.1f}{fs('batch64_us', '.1f')} µs | "
                     f"{'–' if t['agree'] is None else format(t['agree'], '.1%')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
