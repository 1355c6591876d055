"""Loopback load test of `vipguard serve`: 50 concurrent clients checking real photos.

    python benchmarks/load.py [--clients 50] [--requests 300] [--max-seconds 120] [--workers 1] [--db PATH]

Starts the service with uvicorn in a subprocess on 127.0.0.1 (a free port, a random API key), enrols Colin_Powell
from 8 photos of ../shared/data/lfw unless --db names a registry with a VIP, then sends a bounded number of
POST /v1/check requests (bounded in time too) from concurrent httpx clients while a probe times GET /healthz.
Prints p50/p95 latency, requests/s, status counts and the number of 5xx responses (which must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
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


async def run_load(url: str, key: str, payloads: list[bytes], clients: int, total: int, max_seconds: float
                   ) -> tuple[list[float], Counter, float, list[float]]:
    latencies: list[float] = []
    statuses: Counter = Counter()
    health: list[float] = []
    next_i = 0
    deadline = time.monotonic() + max_seconds
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=clients + 2, max_keepalive_connections=clients + 2)

    async with httpx.AsyncClient(base_url=url, timeout=max_seconds + 30, limits=limits) as client:
        async def worker() -> None:
            nonlocal next_i
            while next_i < total and time.monotonic() < deadline:
                i = next_i
                next_i += 1
                start = time.perf_counter()
                try:
                    r = await client.post("/v1/check", headers=headers,
                                          files={"file": (f"{i}.jpg", payloads[i % len(payloads)], "image/jpeg")})
                    statuses[r.status_code] += 1
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1
                    continue
                latencies.append(time.perf_counter() - start)

        async def probe() -> None:
            while next_i < total and time.monotonic() < deadline:
                start = time.perf_counter()
                await client.get("/healthz")
                health.append(time.perf_counter() - start)
                await asyncio.sleep(0.25)

        start = time.perf_counter()
        await asyncio.gather(probe(), *(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return latencies, statuses, elapsed, health


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--workers", type=int, default=1, help="analyzers in the server")
    parser.add_argument("--db", type=Path, help="registry with at least one VIP (default: enrol one)")
    args = parser.parse_args(argv)
    if not LFW.is_dir():
        raise SystemExit(f"real photos not found at {LFW}")
    vip_photos = sorted((LFW / VIP).glob("*.jpg"))
    payloads = [p.read_bytes() for p in vip_photos[30:40]]
    payloads += [sorted(p.glob("*.jpg"))[0].read_bytes() for p in sorted(LFW.iterdir())[::400][:10]]
    with tempfile.TemporaryDirectory(prefix="vipguard-load-") as tmp:
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
        log = open(Path(tmp) / "server.log", "w")
        proc = subprocess.Popen(
            vipguard("serve", "--host", "127.0.0.1", "--port", str(port), "--db", str(db), "--workers",
                     str(args.workers)),
            env={**os.environ, "VIPGUARD_API_KEY": key}, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(url, proc)
            assert httpx.get(url + "/v1/vips", timeout=5).status_code == 401
            latencies, statuses, elapsed, health = asyncio.run(
                run_load(url, key, payloads, args.clients, args.requests, args.max_seconds))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
    lat = np.array(latencies) * 1e3
    five = sum(n for s, n in statuses.items() if isinstance(s, int) and s >= 500)
    print(f"{len(latencies)} checks by {args.clients} concurrent clients in {elapsed:.1f} s "
          f"(server: {args.workers} analyzer{'s' if args.workers > 1 else ''}, {os.cpu_count()} CPUs)")
    if len(lat):
        print(f"latency p50 {np.percentile(lat, 50):.0f} ms, p95 {np.percentile(lat, 95):.0f} ms, "
              f"max {lat.max():.0f} ms; {len(latencies) / elapsed:.2f} requests/s")
    if health:
        h = np.array(health) * 1e3
        print(f"/healthz under load: p50 {np.percentile(h, 50):.1f} ms, p95 {np.percentile(h, 95):.1f} ms "
              f"({len(h)} probes)")
    print(f"statuses: {dict(statuses)}; 5xx: {five}")
    return 1 if five else 0


if __name__ == "__main__":
    sys.exit(main())
