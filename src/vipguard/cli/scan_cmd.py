"""``vipguard scan``: check a folder or manifest into a JSON Lines file, in parallel and resumably."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from .common import error, open_store, stderr

DEFAULT_WORKERS = max(1, min(4, os.cpu_count() or 1))


def register(app: typer.Typer) -> None:
    @app.command("scan")
    def scan(
        source: Annotated[Path, typer.Argument(help="a folder of images/videos, or a .json/.jsonl manifest of paths")],
        out: Annotated[Path, typer.Option("--out", help="JSON Lines output (appended; inputs already in it are "
                                                        "skipped)")],
        workers: Annotated[int, typer.Option(help="worker processes (one analyzer each)")] = DEFAULT_WORKERS,
        vip: Annotated[Optional[str], typer.Option(help="judge against this VIP (default: nearest enrolled)")] = None,
        db: Annotated[Optional[Path], typer.Option("--db", help="registry file")] = None,
        models: Annotated[Optional[Path], typer.Option(help="model folder")] = None,
        fps: Annotated[float, typer.Option(help="frames per second sampled from videos")] = 2.0,
        ray: Annotated[Optional[str], typer.Option("--ray", help="run on a Ray cluster at ADDRESS (auto, local, "
                                                                  "ray://host:port); needs the ray extra")] = None,
    ) -> int:
        """Scan many inputs into a JSON Lines file (parallel, resumable, one line per input)."""
        from ..apps.scan import ScanConfig, ScanError, connect_ray, pending, run_ray, run_scan
        from ..infra.registry import Registry, RegistryError, UnknownVip, validate_name
        from ..lite.guard import GuardConfig, judged_without
        from ..lite.profile import PROFILE_CODEC

        if workers < 1:
            error("--workers must be at least 1")
            return 2
        if fps <= 0:
            error("--fps must be positive")
            return 2
        if ray is not None:  # first: a missing package or cluster is cheap to find, and the user's to fix
            try:
                connect_ray(ray)
            except ScanError as exc:
                error(exc)
                return 2
        try:
            # a scan only reads: a read-only registry file is enough
            registry = Registry(db, codec=PROFILE_CODEC, readonly=True)
            if vip is not None:
                validate_name(vip)
                if vip not in registry.names():
                    error(UnknownVip(vip, registry.names()))
                    return 2
                registry.get(vip)  # a corrupt row is CorruptProfile here, one line, not in every worker
                faults = ()
            elif not registry.names():
                error("no VIP is enrolled; run `vipguard enroll NAME PHOTO_DIR` first")
                return 2
            else:
                # judged against the other VIPs; each corrupt row said once (never every profile of many)
                faults = judged_without(registry, GuardConfig(), None)
        except (RegistryError, ValueError) as exc:
            error(exc)
            return 2
        for fault in faults:
            error(fault)
        if open_store(models) is None:
            return 2
        try:
            todo = pending(source, out)
        except (ScanError, OSError) as exc:
            error(exc)
            return 2
        paths, skipped = todo
        if skipped:
            stderr().print(f"resuming: {skipped} inputs already in {out}, {len(paths)} to go")
        config = ScanConfig(db=registry.path, models=models, vip=vip, video_fps=fps)
        progress = Progress(TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                            TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[errors]} errors"),
                            console=stderr())
        with progress:
            task = progress.add_task("scan", total=len(paths), errors=0)
            errors = [0]

            def advance(record: dict) -> None:
                errors[0] += record.get("verdict") == "error"
                progress.update(task, advance=1, errors=errors[0])

            try:
                if ray is not None:
                    summary = run_ray(source, out, ray, config, workers, advance, todo=todo)
                else:
                    summary = run_scan(source, out, config, workers, advance, todo=todo)
            except (ScanError, RegistryError) as exc:  # RegistryError: the registry broke during the scan
                error(exc)
                return 2
        stderr().print(
            f"scanned {summary.done} inputs in {summary.seconds:.1f} s ({summary.per_second:.2f}/s with "
            f"{workers} worker{'s' if workers != 1 else ''}); {summary.skipped} skipped as already done, "
            f"{summary.failed} errors → {out}"
        )
        # judged adaptively without a corrupt VIP, a verdict may be wrong: status 2, as for `check`
        return 2 if faults else 1 if summary.failed else 0
