"""Imported first by the benchmarks: pins BLAS/OpenMP and OpenCV to one thread (timings are per core) and names
the repository and the shared data folder. Importing it is the point; keep it before numpy/cv2 imports."""

from __future__ import annotations

import os
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import cv2  # noqa: E402

cv2.setNumThreads(1)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
