"""``vipguard enroll | list | remove | check``: the main job (JSON Lines contract of DESIGN.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional, TypeVar

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..infra.registry import EnrolmentInProgress, Loaded, Page, Registry, RegistryError, UnknownVip, validate_name
from ..infra.weights import ModelStore
from ..lite.profile import PROFILE_CODEC
from .common import emit_json, error, open_store, stderr, stdout

R = TypeVar("R", Loaded, Page)

DbOption = Annotated[Optional[Path], typer.Option("--db", help="registry file (default: $VIPGUARD_HOME/registry.db)")]
ModelsOption = Annotated[Optional[Path], typer.Option(help="model folder (default: $VIPGUARD_HOME/models)")]
StrictnessOption = Annotated[Optional[str], typer.Option(
    help="operating point: lenient (1 % of genuine photos rejected), default (3 %), strict (10 %), or a "
         "genuine-reject rate in (0, 0.5) such as 0.05")]
VERDICT_STYLE = {"genuine": "green", "fake": "bold red", "different_person": "yellow", "no_face": "dim",
                 "error": "red"}


def _registry(db: Path | None, readonly: bool = False) -> Registry | None:
    """The registry (read-only for reading commands: nothing is created or written), or None after printing why it
    cannot be used (not a registry, newer schema, read-only, locked, ...)."""
    try:
        return Registry(db, codec=PROFILE_CODEC, readonly=readonly)
    except RegistryError as exc:
        error(exc)
        return None


def _open(models: Path | None, db: Path | None, readonly: bool = False) -> tuple[ModelStore, Registry] | None:
    """The verified model store and the registry, or None after printing what is wrong with either."""
    store, registry = open_store(models), _registry(db, readonly)
    return (store, registry) if store is not None and registry is not None else None


def _read(read: Callable[[], R]) -> R | None:
    """``read()`` (a registry read whose result has ``faults``), after printing one line per corrupt row (the other
    VIPs stay usable); None (printed) if the registry itself has become unusable."""
    try:
        result = read()
    except RegistryError as exc:
        error(exc)
        return None
    for fault in result.faults:
        error(fault)
    return result


def _load(registry: Registry) -> Loaded | None:
    """Every profile (:func:`_read`)."""
    return _read(registry.load)


def _unjudged(registry: Registry, config, vip: str | None) -> tuple | None:
    """The corrupt rows a check of ``vip`` is judged without (:func:`vipguard.lite.guard.judged_without`: never
    every profile among many VIPs), each printed on one line; None (printed) if ``vip``'s own row is corrupt or
    the registry is unusable. An unknown ``vip`` is left to each input's verdict (which suggests a name)."""
    from ..lite.guard import judged_without

    try:
        if vip is not None and vip in registry.names():
            registry.get(vip)  # its corrupt row: one line (how to repair it), before any model loads
        faults = judged_without(registry, config, vip)
    except RegistryError as exc:
        error(exc)
        return None
    for fault in faults:
        error(fault)
    return faults


def _page(registry: Registry, offset: int, limit: int | None) -> Page | None:
    """One page of the listing (``list --offset --limit``; :func:`_read`)."""
    return _read(lambda: registry.page(offset, limit))


def _progress() -> Progress:
    console = stderr()
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


def _enrol(store: ModelStore, registry: Registry, name: str, photo_dir: Path, config):
    """Enrol ``name`` and store the profile; the result, or None after printing why no profile could be made."""
    from ..artifact.detector import ArtifactDetector
    from ..faces import FaceAnalyzer
    from ..lite.background import load_background
    from ..lite.enrol import EnrolError, Enroller

    with FaceAnalyzer(store=store) as analyzer, _progress() as bar:
        tasks: dict[str, int] = {}

        def step(stage: str, i: int, n: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=n)
            bar.update(tasks[stage], completed=i)

        try:
            enroller = Enroller(analyzer, load_background(), config, artifact=ArtifactDetector())
            result = enroller.enrol(name, [photo_dir], progress=step)
        except EnrolError as exc:
            error(exc)
            return None
    registry.put(result.profile)
    return result


def register(app: typer.Typer) -> None:
    @app.command("enroll")
    def enroll(
        name: Annotated[str, typer.Argument(help="the VIP's name (letters, digits, space, _ . -)")],
        photo_dir: Annotated[Path, typer.Argument(help="folder (or file) of authentic photos of the VIP")],
        db: DbOption = None,
        models: ModelsOption = None,
        seed: Annotated[int, typer.Option(help="seed for augmentation and forgeries")] = 0,
        strictness: StrictnessOption = None,
        second_opinion: Annotated[Optional[str], typer.Option(
            "--second-opinion", help="also hold every check of this VIP to the genuine range of a recognizer of "
            "another family (dlib): for generators conditioned on one recognizer; costs ~40-70 ms a check")] = None,
    ) -> int:
        """Enrol a VIP from authentic photos (quality filter, duplicates and identity outliers left out, genuine
        range, forgeries, calibrated per-VIP head)."""
        from ..lite.decision import SECOND_SHARE, bundled_prior, reject_rate
        from ..lite.enrol import EnrolConfig

        try:
            validate_name(name)
            rate = reject_rate(strictness)
            if second_opinion is not None:
                bundled_prior(second_opinion)  # a prior is shipped for it, or a ValueError naming the embedder
        except ValueError as exc:
            stderr().print(f"[red]error:[/] {exc}")
            return 2
        if not photo_dir.exists():
            stderr().print(f"[red]error:[/] {photo_dir}: no such file or folder")
            return 2
        opened = _open(models, db)
        if opened is None:
            return 2
        store, registry = opened
        try:
            with registry.enrolling(name):
                result = _enrol(store, registry, name, photo_dir,
                                EnrolConfig(seed=seed, reject_rate=rate, second_opinion=second_opinion))
        except EnrolmentInProgress as exc:
            error(exc)
            return 1
        except RegistryError as exc:
            error(exc)
            return 2
        if result is None:
            return 1
        table = Table("photo", "used", "reasons", title=f"enrolment of {name}")
        for photo in result.photos:
            table.add_row(Path(photo.path).name, "yes" if photo.used else "[red]no[/]", "; ".join(photo.reasons))
        stdout().print(table)
        for warning in result.warnings:
            stderr().print(f"[yellow]warning:[/] {escape(warning)}")
        meta = result.profile.meta
        if meta["duplicates"] or meta["outliers"]:
            stdout().print(f"left out: {len(meta['duplicates'])} near-duplicate(s), {len(meta['outliers'])} photo(s) "
                           "whose identity disagrees with the rest (see reasons)")
        stdout().print(
            f"enrolled [bold]{name}[/]: {result.used} photos used, {len(result.photos) - result.used} rejected; "
            f"trained against {result.fakes} forgeries and {result.others} other people in {result.seconds:.1f} s\n"
            f"genuine range ({result.profile.embedder.name}): face similarity ≥ "
            f"{round(100 * result.similarity_floor)}/100 expected for "
            f"{100 * result.expected_genuine_accept:.0f} % of {name}'s genuine photos (strictness: genuine-reject "
            f"rate {100 * rate:g} %); other people reach {round(100 * meta['identity_threshold'])}/100"
        )
        second = meta.get("second_opinion")
        if second:
            stdout().print(f"second opinion ({second['embedder']}): face similarity ≥ "
                           f"{round(100 * second['similarity_floor'])}/100 by that recognizer (it may reject "
                           f"{100 * rate * SECOND_SHARE:.2f} % of genuine photos, {result.profile.embedder.name} the "
                           f"other {100 * rate * (1 - SECOND_SHARE):.2f} %)")
        return 0

    @app.command("list")
    def list_vips(db: DbOption = None, json_out: Annotated[bool, typer.Option("--json")] = False,
                  offset: Annotated[int, typer.Option(min=0, help="page: skip this many VIPs (name order)")] = 0,
                  limit: Annotated[Optional[int], typer.Option(min=1, help="page: list at most this many VIPs "
                                                                          "(default: all)")] = None) -> int:
        """List the enrolled VIPs (a page of them with --offset / --limit)."""
        registry = _registry(db, readonly=True)
        paged = limit is not None or offset > 0
        loaded = None if registry is None else _page(registry, offset, limit) if paged else _load(registry)
        if loaded is None:
            return 2
        rows = loaded.rows if paged else loaded.summary()
        if paged and loaded.total:  # which slice this is, beside the rows (stdout stays one row per VIP)
            more = f"; --offset {offset + len(rows)} for more" if offset + len(rows) < loaded.total else ""
            stderr().print(f"VIPs {offset + 1}-{offset + len(rows)} of {loaded.total}{more}" if rows else
                           f"no VIP from offset {offset}: {loaded.total} enrolled")
        if json_out:
            for row in rows:
                emit_json(row)
            return 2 if loaded.faults else 0
        table = Table("name", "photos used", "enrolled")
        for row in rows:
            table.add_row(escape(row["name"]), str(row["photos_used"]), "[red]corrupt[/]" if "error" in row
                          else str(row["enrolled"]))
        if rows or not paged or not loaded.total:
            stdout().print(table if rows else "no VIP is enrolled")
        return 2 if loaded.faults else 0

    @app.command("remove")
    def remove(name: str, db: DbOption = None) -> int:
        """Remove an enrolled VIP."""
        registry = _registry(db)
        if registry is None:
            return 2
        try:
            if not registry.remove(name):
                error(UnknownVip(name, registry.names()))
                return 1
        except RegistryError as exc:
            error(exc)
            return 2
        stdout().print(f"removed {name}")
        return 0

    @app.command("check")
    def check(
        inputs: Annotated[list[Path], typer.Argument(help="image files or folders")],
        vip: Annotated[Optional[str], typer.Option(help="judge against this VIP (default: nearest enrolled)")] = None,
        db: DbOption = None,
        json_out: Annotated[bool, typer.Option("--json", help="JSON Lines: one object per input")] = False,
        report: Annotated[Optional[Path], typer.Option(help="write an HTML report here")] = None,
        tier: Annotated[str, typer.Option(help="lite | mllm")] = "lite",
        model_dir: Annotated[Optional[Path], typer.Option(help="mllm tier: local Qwen2.5-VL directory")] = None,
        vip_dir: Annotated[Optional[Path], typer.Option(help="mllm tier: trained VIP-token checkpoint")] = None,
        device: Annotated[str, typer.Option(help="mllm tier: torch device")] = "cpu",
        fps: Annotated[float, typer.Option(help="videos: frames sampled per second")] = 2.0,
        fast: Annotated[bool, typer.Option("--fast", help="measure only the evidence the score reads (no dense "
                                                          "mesh): same scores, shorter explanations, ~2x faster")] = False,
        strictness: StrictnessOption = None,
        models: ModelsOption = None,
    ) -> int:
        """Check images: genuine VIP, forgery of the VIP, or a different person — with score and explanation."""
        from ..apps.check import CheckOptions, check_or_fail
        from ..artifact.detector import ArtifactDetector
        from ..faces import FaceAnalyzer
        from ..infra.io import expand_inputs
        from ..lite.guard import Guard, GuardConfig

        if tier not in {"lite", "mllm"}:
            stderr().print(f"[red]error:[/] unknown tier {tier!r}; choose lite or mllm")
            return 2
        try:
            config = GuardConfig(detail="fast" if fast else "full", strictness=strictness)
        except ValueError as exc:
            stderr().print(f"[red]error:[/] --strictness: {exc}")
            return 2
        opened = _open(models, db, readonly=True)
        faults = None if opened is None else _unjudged(opened[1], config, vip)
        if opened is None or faults is None:
            return 2
        store, registry = opened
        # judged adaptively without a corrupt VIP, a verdict may be wrong: the run ends with status 2
        broken = bool(faults)
        paths = list(expand_inputs(inputs))
        if not paths:
            stderr().print("[red]error:[/] no input images")
            return 2
        failed = 0
        items = []
        table = Table("input", "verdict", "VIP", "score", "sim.", "explanation")
        table.columns[5].ratio = 1  # the explanation takes the width that is left
        with FaceAnalyzer(store=store) as analyzer, _progress() as bar:
            checking = bar.add_task("checking", total=len(paths), visible=len(paths) > 1)
            guard = Guard(registry, analyzer, config, artifact=ArtifactDetector())
            judge = None  # the lite tier: guard.check
            if tier == "mllm":
                from ..mllm.guard import mllm_judge

                try:
                    judge = mllm_judge(guard, model_dir, vip_dir, device)
                except (FileNotFoundError, ValueError, RuntimeError) as exc:
                    stderr().print(f"[red]error:[/] {exc}")
                    return 2
            options = CheckOptions(vip=vip, fps=fps, frame=report is not None)
            for path in paths:
                try:  # an image, or a video: sampled frames, tracked face, one clip verdict (vipguard.apps.check)
                    checked = check_or_fail(guard, path, options, judge=judge)
                except RegistryError as exc:  # the registry broke during the run (replaced, corrupted, ...)
                    error(exc)
                    return 2
                verdict = checked.verdict
                failed += verdict.verdict == "error"
                if verdict.verdict == "error":
                    error(f"{verdict.path}: {verdict.error}")  # literally: a file name may look like markup
                if json_out:
                    emit_json(verdict.to_json())
                style = VERDICT_STYLE.get(verdict.verdict, "")
                table.add_row(
                    path.name, f"[{style}]{verdict.verdict}[/]", verdict.vip or "-",
                    "-" if verdict.score is None else f"{verdict.score:.3f}", str(verdict.face_similarity),
                    verdict.explanation,
                )
                if report:
                    items.append((verdict, checked.image))
                bar.advance(checking)
        if not json_out:
            stdout().print(table)
        if report:
            from ..apps.report import write_report

            write_report(report, items)
            stderr().print(f"report written to {report}")
        return 2 if broken else 1 if failed else 0

