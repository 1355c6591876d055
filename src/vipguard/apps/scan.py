"""Batch scanning: many inputs → a JSON Lines file of verdicts, in parallel, resumable.

Inputs come from a folder (images and videos inside, recursively) or a manifest (a JSON list, or JSON Lines, of
paths or of records with ``path``; relative paths are relative to the manifest's folder). Each worker process loads
its own face analyzer once. Results are appended one line at a time and flushed, so an interrupted scan loses at
most the line being written; a rerun skips every input already in the output (a torn last line is dropped first),
so no input is ever written twice. ``run_ray`` does the same over a Ray cluster (optional ``ray`` extra).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from ..infra.io import expand_inputs


class ScanError(ValueError):
    """The scan cannot start (bad manifest, output not writable, ...)."""


@dataclass(frozen=True)
class ScanConfig:
    db: Path | None = None
    models: Path | None = None
    vip: str | None = None
    video_fps: float = 2.0


@dataclass(frozen=True)
class ScanSummary:
    total: int  # inputs found
    skipped: int  # already in the output
    done: int  # checked in this run
    failed: int  # of which gave an ``error`` verdict
    seconds: float
    first_seconds: float = 0.0  # until the first result: start-up (processes, models) plus one check

    @property
    def per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def steady_per_second(self) -> float:
        """Throughput once the workers are up: results after the first, per second after the first."""
        span = self.seconds - self.first_seconds
        return (self.done - 1) / span if self.done > 1 and span > 0 else self.per_second


def _manifest_paths(manifest: Path) -> list[str]:
    text = manifest.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
        entries = data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        entries = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ScanError(f"{manifest}:{n}: not JSON: {exc.msg}") from None
    paths = []
    for n, entry in enumerate(entries, 1):
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            entry = entry["path"]
        if not isinstance(entry, str) or not entry:
            raise ScanError(f"{manifest}: entry {n} is neither a path nor a record with a 'path'")
        path = Path(entry)
        paths.append(str(path if path.is_absolute() else manifest.parent / path))
    return paths


def collect_inputs(source: str | Path) -> list[str]:
    """The inputs of a scan, in a stable order, without repeats."""
    source = Path(source)
    if source.is_dir():
        found = [str(p) for p in expand_inputs([source])]
    elif source.is_file() and source.suffix.lower() in {".json", ".jsonl", ".ndjson"}:
        found = _manifest_paths(source)
    elif source.exists():
        raise ScanError(f"{source}: not a folder or a .json/.jsonl manifest")
    else:
        raise ScanError(f"{source}: no such folder or manifest")
    return list(dict.fromkeys(found))


def done_paths(out: Path) -> set[str]:
    """Inputs already in ``out``. A torn last line (an interrupted write) is cut off the file."""
    if not out.exists():
        return set()
    with open(out, "rb+") as fh:
        data = fh.read()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            fh.truncate(keep)
            data = data[:keep]
    done = set()
    for line in data.decode("utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("path"), str):
            done.add(record["path"])
    return done


class Checker:
    """One analyzer + Guard; ``__call__(path)`` → the JSON record (never raises for a bad input)."""

    def __init__(self, config: ScanConfig) -> None:
        from ..artifact.detector import ArtifactDetector
        from ..faces import AnalyzerConfig, FaceAnalyzer
        from ..infra.registry import Registry
        from ..infra.weights import ModelStore
        from ..lite.guard import Guard
        from ..lite.profile import PROFILE_CODEC
        from .check import CheckOptions, check_or_fail

        self.config = config
        # one inference thread per checker: parallelism comes from workers, each with its own models
        self.analyzer = FaceAnalyzer(AnalyzerConfig(num_threads=1), store=ModelStore(config.models))
        registry = Registry(config.db, codec=PROFILE_CODEC, readonly=True)  # scans only read
        self.guard = Guard(registry, self.analyzer, artifact=ArtifactDetector(num_threads=1))
        # an image or a video (by suffix); an unreadable one is an error record
        self.check = partial(check_or_fail, self.guard, options=CheckOptions(vip=config.vip, fps=config.video_fps))

    def __call__(self, path: str) -> dict[str, Any]:
        return self.check(path).verdict.to_json()

    def close(self) -> None:
        self.analyzer.close()


_worker: Checker | None = None


def _init_worker(config: ScanConfig) -> None:
    global _worker
    from multiprocessing.util import Finalize

    import cv2

    cv2.setNumThreads(1)  # a worker process is one core's share; OpenCV's pool would oversubscribe the machine
    _worker = Checker(config)
    Finalize(_worker, _worker.close, exitpriority=10)


def _check_in_worker(path: str) -> dict[str, Any]:
    assert _worker is not None, "worker not initialised"
    return _worker(path)


def _results(paths: Sequence[str], config: ScanConfig, workers: int) -> Iterator[dict[str, Any]]:
    if workers <= 1:
        checker = Checker(config)
        try:
            for path in paths:
                yield checker(path)
        finally:
            checker.close()
        return
    ctx = mp.get_context("spawn")  # no fork of a process that may hold native model threads
    with ctx.Pool(workers, initializer=_init_worker, initargs=(config,)) as pool:
        yield from pool.imap_unordered(_check_in_worker, paths, chunksize=1)


def write_results(out: Path, results: Iterable[dict[str, Any]],
                  on_result: Callable[[dict[str, Any]], None] | None = None,
                  first: list[float] | None = None) -> tuple[int, int]:
    """Append each result as one flushed line; returns (written, errors). ``first`` receives the
    ``time.perf_counter()`` of the first result written."""
    written = failed = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a", encoding="utf-8") as fh:
        for record in results:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
            written += 1
            if first is not None and not first:
                first.append(time.perf_counter())
            failed += record.get("verdict") == "error"
            if on_result is not None:
                on_result(record)
    return written, failed


def pending(source: str | Path, out: Path) -> tuple[list[str], int]:
    """(inputs still to check, how many are already in ``out``)."""
    inputs = collect_inputs(source)
    done = done_paths(out)
    todo = [p for p in inputs if p not in done]
    return todo, len(inputs) - len(todo)


def run_scan(source: str | Path, out: Path, config: ScanConfig = ScanConfig(), workers: int = 1,
             on_result: Callable[[dict[str, Any]], None] | None = None,
             todo: tuple[list[str], int] | None = None) -> ScanSummary:
    """Scan ``source`` into ``out`` with ``workers`` processes (1: in this process)."""
    paths, skipped = todo if todo is not None else pending(source, out)
    start, first = time.perf_counter(), []
    written, failed = write_results(out, _results(paths, config, workers), on_result, first) if paths else (0, 0)
    return ScanSummary(len(paths) + skipped, skipped, written, failed, time.perf_counter() - start,
                       (first[0] - start) if first else 0.0)


def ray_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def connect_ray(address: str) -> None:
    """Join the Ray cluster at ``address`` (``auto``, ``ray://host:port``, ...), or start one in this process
    (``local``); a :class:`ScanError` that says how to start one when there is none (or no ray package)."""
    if not ray_available():
        raise ScanError("--ray needs the ray package: pip install 'vipguard[ray]'")
    import ray

    if ray.is_initialized():
        return
    try:
        ray.init(address=None if address == "local" else address, log_to_driver=False)
    except ConnectionError as exc:
        raise ScanError(f"--ray {address}: no Ray cluster reachable there; start one with `ray start --head` "
                        "(then --ray auto), or run one in this process with --ray local") from exc


class _RayChecker:
    """Ray Data ``map_batches`` callable class: models load once per actor."""

    def __init__(self, config: ScanConfig) -> None:
        self.checker = Checker(config)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {"record": [json.dumps(self.checker(str(p)), ensure_ascii=False) for p in batch["path"]]}


def run_ray(source: str | Path, out: Path, address: str, config: ScanConfig = ScanConfig(), workers: int = 2,
            on_result: Callable[[dict[str, Any]], None] | None = None,
            todo: tuple[list[str], int] | None = None) -> ScanSummary:
    """Like :func:`run_scan` on a Ray cluster (``address``: ``auto``, ``local`` or ``ray://host:port``)."""
    connect_ray(address)
    import ray

    paths, skipped = todo if todo is not None else pending(source, out)
    start, first = time.perf_counter(), []
    written = failed = 0
    if paths:
        dataset = ray.data.from_items([{"path": p} for p in paths]).map_batches(
            _RayChecker, fn_constructor_kwargs={"config": config}, batch_size=4, concurrency=max(1, workers))
        records = (json.loads(row["record"]) for row in dataset.iter_rows())
        written, failed = write_results(out, records, on_result, first)
    return ScanSummary(len(paths) + skipped, skipped, written, failed, time.perf_counter() - start,
                       (first[0] - start) if first else 0.0)


__all__ = ["Checker", "ScanConfig", "ScanError", "ScanSummary", "collect_inputs", "connect_ray", "done_paths",
           "pending", "ray_available", "run_ray", "run_scan", "write_results"]
