"""VIPEval-lite: build an identity-aware benchmark, run VIPGuard-lite and baselines on it, report the metrics.

- :mod:`.manifest` — the dataset manifest (one record per image) and user folder layouts;
- :mod:`.build`    — a dataset from a folder of people's photos (splits, other people, forgeries);
- :mod:`.metrics`  — AUC, EER, ACC, AP (DeepfakeBench definitions) with bootstrap intervals;
- :mod:`.degrade`  — the paper's robustness grid (noise in YCbCr, blur, JPEG);
- :mod:`.baselines`— the scores compared (VIPGuard-lite, similarity only, ICT-Ref-style, one-shot);
- :mod:`.run`      — enrol, check, robustness and ablation → ``results.json``;
- :mod:`.report`   — ``results.md`` (tables like the paper's) and ``report.html`` (ROC/DET and plots).
"""

from .manifest import Manifest, ManifestError, Record, from_folders, load_manifest
from .metrics import METRICS, MetricError, summary

__all__ = ["METRICS", "Manifest", "ManifestError", "MetricError", "Record", "from_folders", "load_manifest", "summary"]
