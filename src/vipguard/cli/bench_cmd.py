"""``vipguard bench build|run``: build a VIPEval-lite dataset and run VIPGuard-lite and baselines on it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..faces import AnalyzerConfig, FaceAnalyzer
from ..lite.enrol import EnrolError
from .common import error, open_store, stderr, stdout


@contextmanager
def progress_bars() -> Iterator[Callable[[str, int, int], None]]:
    """A ``(stage, i, n)`` callback drawing one bar per stage; per-VIP stages (``"name: stage"``) vanish when done."""
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=stderr())
    tasks: dict[str, int] = {}

    def update(stage: str, i: int, n: int) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(stage, total=n)
        bars.update(tasks[stage], completed=i, total=n)
        if i >= n and ":" in stage:
            bars.remove_task(tasks.pop(stage))

    with bars:
        yield update


def register(app: typer.Typer) -> None:
    bench = typer.Typer(help="VIPEval-lite: build a benchmark dataset, run VIPGuard-lite and baselines, report.",
                        no_args_is_help=True)
    app.add_typer(bench, name="bench")

    @bench.command("build")
    def build_cmd(
        out: Annotated[Path, typer.Option(help="dataset folder (forgeries + manifest.json)")],
        photos: Annotated[Optional[Path], typer.Option(help="people's photos, LFW layout <Name>/<Name>_NNNN.jpg")] = None,
        from_folders: Annotated[Optional[Path], typer.Option(
            help="your own layout instead: <vip>/enrol, <vip>/genuine, <vip>/fake/<method>, <vip>/other")] = None,
        vips: Annotated[int, typer.Option(min=1, help="how many VIPs (the people with the most photos)")] = 10,
        vip: Annotated[Optional[list[str]], typer.Option(help="a VIP by name (repeatable; overrides --vips)")] = None,
        genuine: Annotated[int, typer.Option(min=1, help="genuine test photos per VIP (at most)")] = 20,
        enrol: Annotated[int, typer.Option(min=1, help="enrolment photos per VIP (the first ones)")] = 20,
        per_method: Annotated[int, typer.Option(min=1, help="forgeries per method per VIP")] = 3,
        others: Annotated[int, typer.Option(min=0, help="other people per VIP: this many random + lookalikes")] = 5,
        method: Annotated[Optional[list[str]], typer.Option(help="forgery method (repeatable; default: all)")] = None,
        pool: Annotated[int, typer.Option(min=1, help="other people analysed for targets and lookalikes")] = 300,
        seed: Annotated[int, typer.Option(help="random seed")] = 0,
        models: Annotated[Optional[Path], typer.Option(help="model folder")] = None,
    ) -> int:
        """Build a dataset: enrolment/test splits, other people, forgeries by every method → manifest.json."""
        from ..bench.build import BuildConfig, build
        from ..bench.manifest import MANIFEST, ManifestError
        from ..bench.manifest import from_folders as folders_manifest

        if (photos is None) == (from_folders is None):
            error("give exactly one of --photos and --from-folders")
            return 2
        try:
            if from_folders is not None:
                manifest = folders_manifest(from_folders, root=out)
                manifest.write(out / MANIFEST)
            else:
                store = open_store(models)
                if store is None:
                    return 2
                cfg = BuildConfig(vips=vips, names=tuple(vip or ()), genuine=genuine, enrol=enrol,
                                  per_method=per_method, others_random=others, others_lookalike=others,
                                  methods=tuple(method or ()), pool=pool, seed=seed)
                with FaceAnalyzer(AnalyzerConfig(), store) as analyzer, progress_bars() as update:
                    manifest = build(photos, out, analyzer, cfg, update)
        except ManifestError as exc:
            error(exc)
            return 1
        console = stdout()
        console.print(f"{len(manifest.records)} images, {len(manifest.vips)} VIPs → {out / MANIFEST}")
        for key, count in manifest.counts().items():
            console.print(f"  {key}: {count}")
        return 0

    @bench.command("run")
    def run_cmd(
        dataset: Annotated[Path, typer.Argument(help="dataset folder or manifest.json")],
        out: Annotated[Path, typer.Option(help="results folder: results.json, results.md, report.html")],
        quick: Annotated[bool, typer.Option(help="2 VIPs, few images, one level per degradation, ablation 1/5")] = False,
        vips: Annotated[Optional[int], typer.Option(min=1, help="at most this many VIPs")] = None,
        levels: Annotated[str, typer.Option(help="robustness levels, e.g. 1,2,3 ('' = none)")] = "1,2,3",
        robust_images: Annotated[Optional[int], typer.Option(
            min=1, help="robustness: test images per VIP (default 20 keeps a 10-VIP run within ~15 min on 2 cores)")] = 20,
        ablation: Annotated[str, typer.Option(help="enrolment sizes ('' = no ablation)")] = "1,3,5,10,15,20",
        ablation_vips: Annotated[int, typer.Option(min=1, help="VIPs in the ablation")] = 2,
        bootstrap: Annotated[int, typer.Option(min=0, help="bootstrap resamples for the 95% intervals")] = 500,
        plots: Annotated[Optional[Path], typer.Option(help="also write the plots as PNG files here")] = None,
        seed: Annotated[int, typer.Option(help="random seed")] = 0,
        models: Annotated[Optional[Path], typer.Option(help="model folder")] = None,
    ) -> int:
        """Enrol each VIP from its enrolment split, check every test image, write metrics, tables and plots."""
        from ..bench.manifest import ManifestError, load_manifest
        from ..artifact.detector import ArtifactDetector
        from ..bench.report import write_reports
        from ..bench.run import RunConfig, run

        try:
            manifest = load_manifest(dataset)
            ints = lambda text: tuple(int(x) for x in text.split(",") if x.strip())  # noqa: E731
            if quick:
                cfg = RunConfig.quick(seed)
                if vips is not None:
                    cfg = RunConfig(**{**cfg.__dict__, "vips": vips})
            else:
                cfg = RunConfig(vips=vips, levels=ints(levels), robust_images=robust_images, ablation=ints(ablation),
                                ablation_vips=ablation_vips, n_boot=bootstrap, seed=seed)
        except (ManifestError, ValueError) as exc:
            error(exc)
            return 2
        if any(not 1 <= lv <= 3 for lv in cfg.levels):
            error("robustness levels are 1, 2 or 3")
            return 2
        store = open_store(models)
        if store is None:
            return 2
        start = time.perf_counter()
        try:
            with FaceAnalyzer(AnalyzerConfig(), store) as analyzer, progress_bars() as update:
                results = run(manifest, analyzer, cfg, update, artifact=ArtifactDetector())
        except EnrolError as exc:
            error(exc)
            return 1
        paths = write_reports(results, out, plots)
        console = stdout()
        for s, desc in results["scorers"].items():
            o = results["overall"][s]
            console.print(f"{desc}: AUC {100 * o['auc']['value']:.2f}  EER {100 * o['eer']['value']:.2f}  "
                          f"ACC {100 * o['acc']['value']:.2f}")
        console.print(f"done in {time.perf_counter() - start:.0f} s → " + ", ".join(str(p) for p in paths.values()))
        return 0
