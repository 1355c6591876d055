"""Loopback load test of `vipguard serve`: 50 concurrent clients checking real photos mixed with hostile files.

    python benchmarks/load.py [--clients 50] [--requests 400] [--hostile 0.5] [--max-seconds 300] [--workers 1]
                              [--db PATH]

Starts the service with uvicorn in a subprocess on 127.0.0.1 (a free port, a random API key), enrols Colin_Powell
from 8 photos of ../shared/data/lfw unless --db names a registry with a VIP, builds the hostile-input corpus of
tests/test_hostile.py in a temporary folder, then sends a bounded number of POST /v1/check requests (bounded in
time too) from concurrent httpx clients — a share ``--hostile`` of them corpus files (truncated, bombs, garbage,
16-bit, ...), the rest real photos — while a probe times GET /healthz every 0.1 s and the server's resident memory
is sampled. Prints a Markdown table: latencies, requests/s, statuses of valid and hostile requests, 5xx (must be
0), /healthz p50/p95/max, the server's RSS before/peak/after, and the tracebacks in the server's log (must be 0).
Exits 1 on any 5xx or traceback.
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
    """A memory figure of process ``pid`` from /proc (VmRSS: resident now; VmHWM: peak resident), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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
                rss.append(rss_mib(pid))
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


def table(args: argparse.Namespace, run: dict, rss_before: float, rss_peak: float, rss_after: float,
          tracebacks: int, errors: int) -> str:
    five = sum(n for group in run["statuses"].values() for s, n in group.items() if isinstance(s, int) and s >= 500)
    sent = sum(sum(group.values()) for group in run["statuses"].values())
    health = np.array(run["health"]) * 1e3
    rows = [
        ("requests", f"{sent} POST /v1/check by {args.clients} concurrent clients in {run['elapsed']:.1f} s "
                     f"({sent / run['elapsed']:.1f}/s; {run['unsent']} not sent before --max-seconds)"),
        ("server", f"{args.workers} analyzer(s), {os.cpu_count()} CPUs"),
        ("valid photos", ", ".join(f"{n} x {s}" for s, n in sorted(run["statuses"]["valid"].items(), key=str))),
        ("hostile files", ", ".join(f"{n} x {s}" for s, n in sorted(run["statuses"]["hostile"].items(), key=str))),
        ("5xx", str(five)),
        ("check latency", percentiles(run["latencies"])),
        ("/healthz during the run", f"p50 {np.percentile(health, 50):.1f} ms, p95 {np.percentile(health, 95):.1f} "
                                    f"ms, max {health.max():.1f} ms ({len(health)} probes)" if len(health) else "-"),
        ("server RSS", f"{rss_before:.0f} MiB before, {rss_peak:.0f} MiB peak, {rss_after:.0f} MiB after"),
        ("server log", f"{tracebacks} tracebacks, {errors} ERROR lines"),
    ]
    return "\n".join(["| measure | value |", "| --- | --- |"] + [f"| {k} | {v} |" for k, v in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--hostile", type=float, default=0.5, help="share of requests drawn from the corpus")
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--workers", type=int, default=1, help="analyzers in the server")
    parser.add_argument("--db", type=Path, help="registry with at least one VIP (default: enrol one)")
    args = parser.parse_args(argv)
    if not LFW.is_dir():
        raise SystemExit(f"real photos not found at {LFW}")
    vip_photos = sorted((LFW / VIP).glob("*.jpg"))
    valid = [p.read_bytes() for p in vip_photos[30:40]]
    valid += [sorted(p.glob("*.jpg"))[0].read_bytes() for p in sorted(LFW.iterdir())[::400][:10]]
    with tempfile.TemporaryDirectory(prefix="vipguard-load-") as tmp:
        hostile = hostile_payloads(Path(tmp) / "corpus")
        n_hostile = round(args.requests * args.hostile)
        rng = random.Random(0)
        payloads = [p for _ in range(n_hostile // len(hostile)) for p in hostile]  # the whole corpus, repeated
        payloads += rng.sample(hostile, n_hostile % len(hostile))  # and a random share of it
        payloads += [("valid", valid[i % len(valid)]) for i in range(args.requests - n_hostile)]
        rng.shuffle(payloads)
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
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                vipguard("serve", "--host", "127.0.0.1", "--port", str(port), "--db", str(db), "--workers",
                         str(args.workers)),
                env={**os.environ, "VIPGUARD_API_KEY": key}, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_ready(url, proc)
                assert httpx.get(url + "/v1/vips", timeout=5).status_code == 401
                warm = httpx.post(url + "/v1/check", headers={"Authorization": f"Bearer {key}"}, timeout=120,
                                  files={"file": ("warm.jpg", valid[0])})
                assert warm.status_code == 200, warm.text
                rss_before = rss_mib(proc.pid)
                print(f"{len(payloads)} requests ({n_hostile} hostile, from {len(hostile)} corpus files) ...",
                      flush=True)
                run = asyncio.run(run_load(url, key, payloads, args.clients, args.max_seconds, proc.pid))
                rss_after, rss_peak = rss_mib(proc.pid), rss_mib(proc.pid, "VmHWM")
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        text = log_path.read_text(errors="replace")
    tracebacks, errors = text.count("Traceback"), sum(" ERROR " in line or line.startswith("ERROR")
                                                       for line in text.splitlines())
    print(table(args, run, rss_before, rss_peak, rss_after, tracebacks, errors))
    five = sum(n for group in run["statuses"].values() for s, n in group.items() if isinstance(s, int) and s >= 500)
    return 1 if five or tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
