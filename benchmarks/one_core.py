"""Imported first by the benchmarks: pins BLAS/OpenMP and OpenCV to one thread (timings are per core) and names
the repository and the shared data folder. Importing it is the point; keep it before numpy/cv2 imports. Also
:func:`report`, the one way a benchmark prints its Markdown and saves it with its JSON results."""

from __future__ import annotations

import json
import os
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import cv2  # noqa: E402

cv2.setNumThreads(1)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"


def report(text: str, results: dict, out: Path | None, stem: str) -> None:
    """Print ``text``; with ``out``, also write ``<stem>.md`` and ``<stem>.json`` (``results``) there."""
    print(text)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{stem}.md").write_text(text + "\n")
        (out / f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
