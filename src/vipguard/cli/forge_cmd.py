"""``vipguard forge METHOD``: make forgeries of a VIP (source) in other photos (targets) with classic operations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from ..faces import AnalyzerConfig, FaceAnalyzer
from ..forge import FORGERS, ForgeError, ForgeInput, forge_batch, identity_centre, prepare_input
from ..forge.output import contact_sheet, sheet_rows, write_item, write_sheet
from ..infra.io import InputError, expand_inputs
from .bench_cmd import progress_bars
from .common import error, open_store, stderr, stdout

METHOD_OPTIONS = {"ratio": ("morph", "efs"), "blend": ("swap", "selfswap")}


def load_inputs(paths: list[Path], analyzer: FaceAnalyzer, role: str, progress=None) -> tuple[list[ForgeInput], int]:
    """Analysed inputs from image files/folders; prints one error line per unusable file and counts them.
    ``progress(stage, done, total)`` is called after each file."""
    items, failed = [], 0
    files = list(expand_inputs(paths))
    for k, path in enumerate(files):
        if progress is not None:
            progress(f"analysing {role} photos", k, len(files))
        try:
            items.append(prepare_input(str(path), analyzer))
        except (InputError, ForgeError) as exc:
            failed += 1
            error(f"{role} {exc}")
    if progress is not None and files:
        progress(f"analysing {role} photos", len(files), len(files))
    return items, failed


def method_params(method: str, ratio: float | None, blend: str | None) -> dict[str, Any]:
    """The factory parameters given on the command line; raises ``typer.BadParameter`` for misplaced ones."""
    given = {k: v for k, v in (("ratio", ratio), ("blend", blend)) if v is not None}
    for option in given:
        if method not in METHOD_OPTIONS[option]:
            raise typer.BadParameter(f"--{option} applies to {', '.join(METHOD_OPTIONS[option])}, not {method}")
    return given


def register(app: typer.Typer) -> None:
    @app.command("forge")
    def forge(
        method: Annotated[str, typer.Argument(help=f"one of: {', '.join(FORGERS.names)}")],
        source: Annotated[list[Path], typer.Option(help="the VIP's photo(s): image files or folders")],
        target: Annotated[list[Path], typer.Option(help="photos whose scene is kept: image files or folders")],
        out: Annotated[Path, typer.Option(help="folder for the PNG outputs and their JSON sidecars")],
        n: Annotated[int, typer.Option("--n", min=1, help="how many forgeries to make")] = 1,
        seed: Annotated[int, typer.Option(help="random seed (pairs and per-forgery variations)")] = 0,
        sheet: Annotated[Optional[Path], typer.Option(help="write a contact sheet (source | target | result)")] = None,
        sheet_rows_n: Annotated[int, typer.Option("--sheet-rows", min=1, help="rows in the sheet")] = 3,
        targets: Annotated[str, typer.Option(help="random | lookalike (targets nearest the VIP)")] = "random",
        ratio: Annotated[Optional[float], typer.Option(help="morph: share of the VIP, 0.5–0.9; efs: 0.7–0.9")] = None,
        blend: Annotated[Optional[str], typer.Option(help="swap/selfswap: poisson | feather | random")] = None,
        max_pose_gap: Annotated[float, typer.Option(help="reject pairs whose yaw/pitch differ more (°)")] = 25.0,
        models: Annotated[Optional[Path], typer.Option(help="model folder")] = None,
    ) -> int:
        """Forge the VIP (--source) into --target photos; writes PNGs + JSON and prints the face similarity."""
        if method not in FORGERS:
            error(f"unknown method {method!r}; choose one of: {', '.join(FORGERS.names)}")
            return 2
        if targets not in ("random", "lookalike"):
            error(f"--targets must be random or lookalike, not {targets!r}")
            return 2
        try:
            params = method_params(method, ratio, blend)
            forger = FORGERS.create(method, **params)
        except (typer.BadParameter, ForgeError) as exc:
            error(exc)
            return 2
        store = open_store(models)
        if store is None:
            return 2
        with FaceAnalyzer(AnalyzerConfig(), store) as analyzer, progress_bars() as update:
            sources, bad_sources = load_inputs(source, analyzer, "source", update)
            target_items, bad_targets = load_inputs(target, analyzer, "target", update)
            failed = bad_sources + bad_targets
            if not sources or not target_items:
                error("no usable " + ("source" if not sources else "target") + " photo")
                return 1
            centre = identity_centre(sources)
            report = forge_batch(forger, sources, target_items, n, seed, analyzer, targets_policy=targets,
                                 centre=centre, max_pose_gap=max_pose_gap,
                                 progress=lambda made, total: update(f"forging ({method})", made, total))
        table = Table("#", "source", "target", "sim. to source", "sim. to target", "FACE_SCORE", "output")
        for k, item in enumerate(report.items):
            path = write_item(item, out, k)
            table.add_row(str(k), Path(item.result.source or "-").name, Path(item.result.target or "-").name,
                          f"{item.similarity_source:.3f}", f"{item.similarity_target:.3f}",
                          str(item.face_score), path.name)
        console = stdout()
        console.print(table)
        mean = report.mean_similarity_source
        console.print(f"{report.method}: made {len(report.items)} of {n}"
                      + (f", mean similarity to source {mean:.3f}" if mean is not None else "")
                      + f"; rejected {len(report.rejections)}")
        for reason, count in report.reasons.most_common():
            console.print(f"  rejected ×{count}: {reason}")
        if sheet is not None and report.items:
            inputs = {i.path: i for i in (*sources, *target_items) if i.path is not None}
            write_sheet(sheet, contact_sheet(sheet_rows(report.items, inputs, sheet_rows_n)))
            console.print(f"sheet: {sheet}")
        if failed:
            stderr().print(f"{failed} input(s) failed")
        return 1 if failed or not report.items else 0
