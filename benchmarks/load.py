"""Loopback load test of `vipguard serve`: 50 concurrent clients checking real photos, alone and mixed with hostile
files, against what the CLI does on the same cores in the same run.

    python benchmarks/load.py [--clients 50] [--requests 400] [--hostile 0.5] [--phases clean,mixed]
                              [--cli-photos 100] [--max-seconds 300] [--workers 1] [--processes 1] [--db PATH]

Starts the service with uvicorn in a subprocess on 127.0.0.1 (a free port, a random API key), enrols Colin_Powell
from 8 photos of ../shared/data/lfw unless --db names a registry with a VIP, builds the hostile-input corpus of
tests/test_hostile.py in a temporary folder, then runs each phase against the same server: ``clean`` sends
``--requests`` POST /v1/check of real 250x250 LFW JPEGs, ``mixed`` as many again of which a share ``--hostile`` are
corpus files (truncated, bombs, garbage, 16-bit, ...); both are bounded in time too, from concurrent httpx clients,
while a probe times GET /healthz every 0.1 s and the server's resident memory is sampled (every process of the
service). The CLI baseline is ``vipguard check`` of ``--cli-photos`` of the same photos in one process, its
start-up (the same command on one photo) subtracted; it runs while the server is idle.

Prints a Markdown table per phase: latencies, requests/s, clean checks/s (real photos answered 200 per second) and
their ratio to the CLI's and to the clean phase, statuses of valid and hostile requests, 5xx (must be 0), /healthz
p50/p95/max, the server's RSS before/peak/after, and the tracebacks in the server's log (must be 0). Exits 1 on any
5xx or traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LFW = Path(os.environ.get("VIPGUARD_DATA", ROOT.parent / "shared" / "data")) / "lfw"
VIP = "Colin_Powell"
MiB = 1024 * 1024


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """A memory figure of process ``pid`` from /proc (VmRSS: resident now; VmHWM: peak resident), in MiB (nan once
    the process is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return float("nan")
    for line in lines:
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the service's worker processes with ``--processes``)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return out


def tree_rss(pid: int, field: str = "VmRSS") -> float:
    """:func:`rss_mib` summed over ``pid`` and its descendants (shared pages counted in each: an upper bound)."""
    return float(np.nansum([rss_mib(p, field) for p in tree(pid)]))


def hostile_payloads(folder: Path) -> list[tuple[str, bytes]]:
    """(kind, bytes) of every regular file of the test suite's hostile-input corpus."""
    sys.path.insert(0, str(ROOT))
    from tests.test_hostile import build_corpus

    return [(case.kind, case.path.read_bytes()) for case in build_corpus(folder) if case.regular]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vipguard(*args: str, env: dict | None = None) -> list[str]:
    return [sys.executable, "-c", "import sys; from vipguard.cli import main; sys.exit(main())", *args]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with status {proc.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("the server did not become ready in time")


async def run_load(url: str, key: str, payloads: list[tuple[str, bytes]], clients: int, max_seconds: float,
                   pid: int) -> dict:
    """Send every payload once (``("valid" | hostile kind, bytes)``, in the given order) from ``clients``
    concurrent clients; returns latencies, statuses by group, /healthz latencies, RSS samples and the elapsed time."""
    latencies: list[float] = []
    statuses: dict[str, Counter] = {"valid": Counter(), "hostile": Counter()}
    health: list[float] = []
    rss: list[float] = []
    queue = list(enumerate(payloads))[::-1]
    deadline = time.monotonic() + max_seconds
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=clients + 2, max_keepalive_connections=clients + 2)

    async with httpx.AsyncClient(base_url=url, timeout=max_seconds + 30, limits=limits) as client, \
            httpx.AsyncClient(base_url=url, timeout=30) as prober:
        async def worker() -> None:
            while queue and time.monotonic() < deadline:
                i, (kind, data) = queue.pop()
                group = "valid" if kind == "valid" else "hostile"
                start = time.perf_counter()
                try:
                    r = await client.post("/v1/check", headers=headers, files={"file": (f"{i}.bin", data)})
                    statuses[group][r.status_code] += 1
                except httpx.HTTPError as exc:
                    statuses[group][type(exc).__name__] += 1
                    continue
                latencies.append(time.perf_counter() - start)

        async def probe() -> None:  # its own connection: the probe never queues behind the checks' connections
            while queue and time.monotonic() < deadline:
                start = time.perf_counter()
                await prober.get("/healthz")
                health.append(time.perf_counter() - start)
                rss.append(tree_rss(pid))
                await asyncio.sleep(0.1)

        start = time.perf_counter()
        await asyncio.gather(probe(), *(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return {"latencies": latencies, "statuses": statuses, "health": health, "rss": rss, "elapsed": elapsed,
            "unsent": len(queue)}


def percentiles(values: list[float]) -> str:
    v = np.array(values) * 1e3
    return (f"p50 {np.percentile(v, 50):.0f} ms, p95 {np.percentile(v, 95):.0f} ms, max {v.max():.0f} ms"
            if len(v) else "-")


def five_xx(run: dict) -> int:
    return sum(n for group in run["statuses"].values() for s, n in group.items() if isinstance(s, int) and s >= 500)


def clean_rate(run: dict) -> float:
    """Real photos answered 200, per second of the phase."""
    return run["statuses"]["valid"][200] / run["elapsed"]


def table(args: argparse.Namespace, phase: str, run: dict, cli: float, clean: float | None, tracebacks: int,
          errors: int) -> str:
    """One phase's Markdown table; ``cli`` is the CLI's checks/s, ``clean`` the clean phase's clean rate."""
    sent = sum(sum(group.values()) for group in run["statuses"].values())
    health = np.array(run["health"]) * 1e3
    rate = clean_rate(run)
    versus = f"{rate / cli:.2f}x the CLI's {cli:.1f}/s" + ("" if clean is None else f", {rate / clean:.2f}x the "
                                                                                     f"clean phase's {clean:.1f}/s")
    processes = f"{args.processes} processes x " if args.processes > 1 else ""
    rows = [
        ("requests", f"{sent} POST /v1/check by {args.clients} concurrent clients in {run['elapsed']:.1f} s "
                     f"({sent / run['elapsed']:.1f}/s; {run['unsent']} not sent before --max-seconds)"),
        ("clean checks", f"**{rate:.1f}/s** ({versus})"),
        ("server", f"{processes}{args.workers} analyzer(s), {os.cpu_count()} CPUs"),
        ("valid photos", ", ".join(f"{n} x {s}" for s, n in sorted(run["statuses"]["valid"].items(), key=str))),
        ("hostile files", ", ".join(f"{n} x {s}" for s, n in sorted(run["statuses"]["hostile"].items(), key=str))
         or "-"),
        ("5xx", str(five_xx(run))),
        ("check latency", percentiles(run["latencies"])),
        ("/healthz during the run", f"p50 {np.percentile(health, 50):.1f} ms, p95 {np.percentile(health, 95):.1f} "
                                    f"ms, max {health.max():.1f} ms ({len(health)} probes)" if len(health) else "-"),
        ("server RSS", f"{run['rss_before']:.0f} MiB before, {run['rss_peak']:.0f} MiB peak, {run['rss_after']:.0f} "
                       "MiB after"),
        ("server log", f"{tracebacks} tracebacks, {errors} ERROR lines"),
    ]
    return "\n".join([f"**{phase}**", "", "| measure | value |", "| --- | --- |"]
                     + [f"| {k} | {v} |" for k, v in rows])


def cli_rate(photos: list[bytes], count: int, db: Path, folder: Path) -> float:
    """Checks per second of ``vipguard check`` on ``count`` of ``photos`` (cycled) in one process, the start-up (the
    same command on one photo: imports, models, registry) subtracted."""
    many, one = folder / "many", folder / "one"
    many.mkdir()
    one.mkdir()
    for i in range(count):
        (many / f"{i:04d}.jpg").write_bytes(photos[i % len(photos)])
    (one / "0000.jpg").write_bytes(photos[0])

    def wall(path: Path) -> float:
        start = time.perf_counter()
        subprocess.run(vipguard("check", str(path), "--db", str(db), "--json"), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start

    startup = min(wall(one) for _ in range(2))
    return (count - 1) / max(wall(many) - startup, 1e-6)


def payloads_for(valid: list[bytes], hostile: list[tuple[str, bytes]], requests: int, share: float,
                 seed: int) -> list[tuple[str, bytes]]:
    """``requests`` payloads: a share ``share`` of the hostile corpus (whole, repeated, then a random part), the rest
    the valid photos cycled, shuffled."""
    n_hostile = round(requests * share)
    rng = random.Random(seed)
    payloads = [p for _ in range(n_hostile // len(hostile)) for p in hostile]
    payloads += rng.sample(hostile, n_hostile % len(hostile))
    payloads += [("valid", valid[i % len(valid)]) for i in range(requests - n_hostile)]
    rng.shuffle(payloads)
    return payloads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=400, help="requests per phase")
    parser.add_argument("--hostile", type=float, default=0.5, help="share of the mixed phase drawn from the corpus")
    parser.add_argument("--phases", default="clean,mixed", help="comma-separated: clean, mixed")
    parser.add_argument("--cli-photos", type=int, default=100, help="photos of the CLI baseline (0: none)")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="per phase")
    parser.add_argument("--workers", type=int, default=1, help="analyzers in each server process")
    parser.add_argument("--processes", type=int, default=1, help="server processes behind the one port")
    parser.add_argument("--db", type=Path, help="registry with at least one VIP (default: enrol one)")
    args = parser.parse_args(argv)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if not phases or set(phases) - {"clean", "mixed"}:
        parser.error(f"--phases: clean and/or mixed, not {args.phases!r}")
    if not LFW.is_dir():
        raise SystemExit(f"real photos not found at {LFW}")
    vip_photos = sorted((LFW / VIP).glob("*.jpg"))
    valid = [p.read_bytes() for p in vip_photos[30:40]]
    valid += [sorted(p.glob("*.jpg"))[0].read_bytes() for p in sorted(LFW.iterdir())[::400][:10]]
    with tempfile.TemporaryDirectory(prefix="vipguard-load-") as tmp:
        hostile = hostile_payloads(Path(tmp) / "corpus")
        db = args.db
        if db is None:
            db = Path(tmp) / "registry.db"
            enrol_dir = Path(tmp) / "enrol"
            enrol_dir.mkdir()
            for p in vip_photos[:8]:
                (enrol_dir / p.name).write_bytes(p.read_bytes())
            print(f"enrolling {VIP} from 8 photos ...", flush=True)
            subprocess.run(vipguard("enroll", VIP, str(enrol_dir), "--db", str(db)), check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        key = secrets.token_urlsafe(24)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log_path = Path(tmp) / "server.log"
        runs: dict[str, dict] = {}
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                vipguard("serve", "--host", "127.0.0.1", "--port", str(port), "--db", str(db), "--workers",
                         str(args.workers), "--processes", str(args.processes)),
                env={**os.environ, "VIPGUARD_API_KEY": key}, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_ready(url, proc)
                assert httpx.get(url + "/v1/vips", timeout=5).status_code == 401
                for _ in range(2 * args.processes):  # warm every process (the first check builds lazy parts)
                    warm = httpx.post(url + "/v1/check", headers={"Authorization": f"Bearer {key}"}, timeout=120,
                                      files={"file": ("warm.jpg", valid[0])})
                    assert warm.status_code == 200, warm.text
                cli = float("nan")
                if args.cli_photos:
                    print(f"CLI baseline: vipguard check of {args.cli_photos} photos ...", flush=True)
                    cli = cli_rate(valid, args.cli_photos, db, Path(tmp))
                for i, phase in enumerate(phases):
                    share = args.hostile if phase == "mixed" else 0.0
                    payloads = payloads_for(valid, hostile, args.requests, share, seed=i)
                    print(f"{phase}: {len(payloads)} requests ({round(args.requests * share)} hostile, from "
                          f"{len(hostile)} corpus files) ...", flush=True)
                    before = tree_rss(proc.pid)
                    run = asyncio.run(run_load(url, key, payloads, args.clients, args.max_seconds, proc.pid))
                    runs[phase] = {**run, "rss_before": before, "rss_after": tree_rss(proc.pid),
                                   "rss_peak": tree_rss(proc.pid, "VmHWM")}
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        text = log_path.read_text(errors="replace")
    tracebacks, errors = text.count("Traceback"), sum(" ERROR " in line or line.startswith("ERROR")
                                                       for line in text.splitlines())
    clean = clean_rate(runs["clean"]) if "clean" in runs else None
    for phase, run in runs.items():
        print(table(args, phase, run, cli, None if phase == "clean" else clean, tracebacks, errors) + "\n")
    return 1 if tracebacks or any(five_xx(run) for run in runs.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
