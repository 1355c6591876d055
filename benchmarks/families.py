"""Leave-one-family-out at the verdict (#35): each identity-passing forgery family judged by a detector that never
trained on it.

    python benchmarks/families.py --fold part=NO_PART --fold ghost=NO_GHOST --fold geometry=NO_GEOMETRY \\
        [--all ALL_FAMILIES] [--deliver-jpeg 85] --out out/families

Every detector folder (the packaged one first, then each ``--fold`` and ``--all``) gets its own background set, built
with that detector (``tools/build_background.py --artifact-weights DIR``; cached under ``--out``), since a VIP's head
learns the artefact score's scale from it. ``benchmarks/verdict.py`` then runs once per detector on the same seeded
photos and forgeries. The fold table reads each family's forgery kinds (``FAMILY_KINDS``) from the run of the
detector trained without that family only: a family's figure never comes from a model that saw it. Beside it are the
packaged detector's figures and, with ``--all``, those of the detector trained on every family (not held out for any
family: for reference). Genuine photos accepted and every other kind are reported per detector, so that a fold's
gain can be weighed against what it costs elsewhere.
"""

from __future__ import annotations

from one_core import DEFAULT_DATA  # first: pins every thread pool to one core

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
# the verdict.py kinds each edit family of the training views stands for (as benchmarks/artifact.py FAMILY_METHODS)
FAMILY_KINDS = {"part": ("selfmouth",), "ghost": ("morph@0.8", "morph@0.9"), "geometry": ("reshape", "reenact")}
OTHER_KINDS = ("swap", "selfswap", "lookalike", "inner", "efs")  # what a new family may cost elsewhere


def background_for(detector: Path | None, out: Path, data: Path) -> Path | None:
    """The background folder built with ``detector`` (``None``: the bundled one, built with the packaged detector)."""
    if detector is None:
        return None
    folder = out / "backgrounds" / detector.name
    if not (folder / "background.npz").is_file():
        subprocess.run([sys.executable, str(HERE.parent / "tools" / "build_background.py"), "--lfw",
                        str(data / "lfw"), "--out", str(folder), "--artifact-weights", str(detector)], check=True)
    return folder


def verdict_run(name: str, detector: Path | None, out: Path, args) -> dict:
    """verdict.py's categories with ``detector`` (cached in ``out/NAME/results.json``)."""
    folder = out / name
    if not (folder / "results.json").is_file():
        import verdict

        argv = ["--data", str(args.data), "--out", str(folder), "--seed", str(args.seed)]
        if detector is not None:
            argv += ["--artifact-weights", str(detector), "--background",
                     str(background_for(detector, out, args.data))]
        if args.deliver_jpeg is not None:
            argv += ["--deliver-jpeg", str(args.deliver_jpeg)]
        verdict.main(argv)
    return json.loads((folder / "results.json").read_text())["categories"]


def cell(c: dict | None) -> str:
    if not c:
        return "–"
    auc = "–" if c.get("auc") is None else f"{c['auc']:.1f}"
    return f"{c['acc']:.0f} / {auc}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--fold", action="append", default=[], metavar="FAMILY=DIR",
                    help="a detector trained without FAMILY (part, ghost, geometry)")
    ap.add_argument("--all", type=Path, default=None, help="a detector trained on every family (for reference)")
    ap.add_argument("--seed", type=int, default=4321)
    ap.add_argument("--deliver-jpeg", type=int, default=None, metavar="Q",
                    help="every test forgery delivered as a JPEG of quality Q (verdict.py --deliver-jpeg)")
    ap.add_argument("--out", type=Path, required=True, help="folder for each run and the table (families.md/json)")
    args = ap.parse_args(argv)
    folds: dict[str, Path] = {}
    for item in args.fold:
        family, _, folder = item.partition("=")
        if family not in FAMILY_KINDS or not folder:
            ap.error(f"--fold {item!r}: expected FAMILY=DIR with FAMILY one of {', '.join(FAMILY_KINDS)}")
        if not (Path(folder) / "config.json").is_file():
            ap.error(f"--fold {item!r}: no detector (config.json) in {folder}")
        folds[family] = Path(folder)
    if not folds:
        ap.error("give at least one --fold FAMILY=DIR")

    start = time.perf_counter()
    runs = {"packaged": verdict_run("packaged", None, args.out, args)}
    for family, folder in folds.items():
        runs[f"without {family}"] = verdict_run(f"without-{family}", folder, args.out, args)
    if args.all is not None:
        runs["all families"] = verdict_run("all-families", args.all, args.out, args)

    delivered = "in memory" if args.deliver_jpeg is None else f"delivered as JPEG {args.deliver_jpeg}"
    lines = [f"Leave-one-family-out at the verdict ({delivered}; seed {args.seed}): rejected % at the verdict / "
             "score AUC %, genuine accepted % in its own column. 'held out' is the detector trained without the "
             "row's family.", "",
             "| family | kind | packaged | **held out** | all families | similarity alone |", "|---|---|---|---|---|---|"]
    table = {}
    for family in folds:
        held = runs[f"without {family}"]
        for kind in FAMILY_KINDS[family]:
            base = runs["packaged"].get(kind)
            table[kind] = {"family": family, "packaged": base, "held_out": held.get(kind),
                           "all": runs.get("all families", {}).get(kind)}
            sim = "–" if not base else f"{base['sim_acc']:.0f} / {base.get('sim_auc') or 0:.1f}"
            lines.append(f"| {family} | {kind} | {cell(base)} | **{cell(held.get(kind))}** | "
                         f"{cell(runs.get('all families', {}).get(kind))} | {sim} |")
    lines += ["", "Every detector on the same photos (rejected % / AUC %; genuine: accepted %):", "",
              "| detector | genuine | " + " | ".join(OTHER_KINDS) + " | all forgeries |",
              "|---|---|" + "---|" * (len(OTHER_KINDS) + 1)]
    for name, cats in runs.items():
        lines.append(f"| {name} | {cats['genuine']['acc']:.1f} | " + " | ".join(cell(cats.get(k)) for k in OTHER_KINDS)
                     + f" | {cell(cats.get('all forgeries'))} |")
    lines += ["", f"Whole run: {time.perf_counter() - start:.0f} s."]
    text = "\n".join(lines)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "families.md").write_text(text + "\n")
    (args.out / "families.json").write_text(json.dumps({"folds": table, "runs": runs}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
