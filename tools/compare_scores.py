"""Compare two ``benchmarks/check.py --scores`` files row by row: the largest score difference and every verdict
that changed (the "behaviour unchanged" check of a refactor).

    python tools/compare_scores.py before.json after.json [--tolerance 0.005]

Exit 0 when both files hold the same rows (VIP and kind, in order), no verdict changed and every score is within
the tolerance; 1 otherwise; 2 when a file cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load(path: Path) -> list[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"error: {path}: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--tolerance", type=float, default=0.005)
    args = ap.parse_args(argv)
    try:
        a, b = load(args.before), load(args.after)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    if [(r["vip"], r["kind"]) for r in a] != [(r["vip"], r["kind"]) for r in b]:
        print(f"the files hold different rows ({len(a)} vs {len(b)}): not the same benchmark run")
        return 1
    gaps = [abs((x["score"] or 0.0) - (y["score"] or 0.0)) for x, y in zip(a, b)]
    changed = [(x, y) for x, y in zip(a, b) if x["verdict"] != y["verdict"]]
    worst = max(gaps, default=0.0)
    print(f"{len(a)} rows; largest score difference {worst:.2e}; {len(changed)} verdicts changed")
    for x, y in changed:
        print(f"  {x['vip']} {x['kind']}: {x['verdict']} -> {y['verdict']} (score {x['score']} -> {y['score']})")
    return 0 if worst <= args.tolerance and not changed else 1


if __name__ == "__main__":
    sys.exit(main())
