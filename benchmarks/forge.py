"""Milliseconds per forgery, per method, on one CPU core, over ~20 LFW (VIP, other person) pairs.

``forge`` excludes face analysis (inputs analysed once beforehand); ``+ analysis`` adds analysing the source
and target photos and re-analysing the result (as :func:`vipguard.forge.forge_batch` does for QC).

    .venv/bin/python benchmarks/forge.py [--pairs 20] [--repeat 3] [--data ../shared/data/lfw]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from vipguard.faces import AnalyzerConfig, FaceAnalyzer  # noqa: E402
from vipguard.forge import (  # noqa: E402
    FORGERS, SELF_TARGET_METHODS, ForgeError, ForgeInput, input_problem, prepare_input, result_face,
)

VIPS = ("Tony_Blair", "George_W_Bush", "Colin_Powell", "Serena_Williams", "Junichiro_Koizumi")


def load_pairs(lfw: Path, count: int, analyzer: FaceAnalyzer) -> tuple[list[tuple[ForgeInput, ForgeInput]], list]:
    """``count`` pose-compatible (VIP, other person) pairs and ``count`` (VIP, same VIP) pairs."""
    vip = [[prepare_input(str(p), analyzer) for p in sorted((lfw / name).glob("*.jpg"))[:6]] for name in VIPS]
    people = sorted(d for d in lfw.iterdir() if d.is_dir() and d.name not in VIPS)[::53]
    others = []
    for folder in people[: 3 * count]:
        try:
            others.append(prepare_input(str(sorted(folder.glob("*.jpg"))[0]), analyzer))
        except ForgeError:
            continue
    sources = [p for k in range(6) for person in vip for p in person[k:k + 1]]
    pairs, used = [], set()
    for source in sources:
        for j, target in enumerate(others):
            if j not in used and input_problem(source, target) is None:
                pairs.append((source, target))
                used.add(j)
                break
    same = [(a, b) for person in vip for a, b in zip(person, person[1:]) if input_problem(a, b) is None]
    return pairs[:count], same[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/lfw")
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    table = Table("method", "pairs", "forge ms (median)", "forge ms (mean)", "+ analysis ms (mean)")
    with FaceAnalyzer(AnalyzerConfig(num_threads=1)) as analyzer:
        pairs, same = load_pairs(args.data, args.pairs, analyzer)
        analysed = []
        for source, target in pairs[:5]:  # analysis cost of one input photo (with mesh)
            start = time.perf_counter()
            analyzer.analyze(source.image, primary_only=True)
            analysed.append(time.perf_counter() - start)
        analyse_ms = 1000 * float(np.median(analysed))
        for method in FORGERS.names:
            forger = FORGERS.create(method)
            times, totals = [], []
            for k, (source, target) in enumerate(same if method in SELF_TARGET_METHODS else pairs):
                runs = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    result = forger.forge(source, target, np.random.default_rng(k))
                    runs.append(time.perf_counter() - start)
                start = time.perf_counter()
                result_face(result.image, analyzer)
                check = time.perf_counter() - start
                times.append(min(runs))
                totals.append(min(runs) + check + 2 * analyse_ms / 1000)
            table.add_row(method, str(len(times)), f"{1000 * np.median(times):.1f}", f"{1000 * np.mean(times):.1f}",
                          f"{1000 * np.mean(totals):.1f}")
    console = Console()
    console.print(table)
    console.print(f"one photo's analysis (detect + align + embed + mesh): {analyse_ms:.1f} ms; "
                  "'+ analysis' = forge + analysing source and target + re-analysing the result (QC)")


if __name__ == "__main__":
    main()
