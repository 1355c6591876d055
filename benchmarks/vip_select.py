"""Adaptive VIP selection among many VIPs: time per face for the NumPy and FAISS backends of vipguard.infra.index.
(Not named select.py: that would shadow the standard library's `select` for every script in this folder.)

    python benchmarks/vip_select.py [--vips 10000] [--dim 128] [--faces 2000]

Centres and faces are synthetic unit-norm vectors (faces lie near random centres, as real probes do). Both backends
are exact; the script checks they pick the same VIPs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from vipguard.infra.index import VipIndex, faiss_available


def bench(index: VipIndex, queries: np.ndarray, batch: int, repeats: int = 3) -> float:
    """Best-of-``repeats`` seconds per face, querying ``batch`` faces at a time."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(queries), batch):
            index.search(queries[i : i + batch], k=1)
        best = min(best, (time.perf_counter() - start) / len(queries))
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vips", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--faces", type=int, default=2000)
    parser.add_argument("--faiss-threads", type=int, default=1,
                        help="OpenMP threads for FAISS (1 avoids thread start-up cost on single queries)")
    args = parser.parse_args(argv)
    if faiss_available():
        import faiss

        faiss.omp_set_num_threads(args.faiss_threads)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(args.vips, args.dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    truth = rng.integers(0, args.vips, args.faces)
    queries = centres[truth] + 0.05 * rng.normal(size=(args.faces, args.dim)).astype(np.float32)
    names = [f"vip{i:05d}" for i in range(args.vips)]
    backends = ["numpy"] + (["faiss"] if faiss_available() else [])
    print(f"{args.vips} unit-norm centres, dim {args.dim}, {args.faces} faces")
    print(f"{'backend':<8} {'build ms':>9} {'1 face/query µs':>16} {'64 faces/query µs':>18} {'top-1 correct':>14}")
    picks = {}
    for backend in backends:
        t0 = time.perf_counter()
        index = VipIndex(names, centres, backend=backend)
        build = (time.perf_counter() - t0) * 1e3
        single = bench(index, queries[:200], batch=1) * 1e6
        batched = bench(index, queries, batch=64) * 1e6
        picks[backend] = index.search(queries, k=1)[1][:, 0]
        correct = float(np.mean(picks[backend] == truth))
        print(f"{backend:<8} {build:>9.1f} {single:>16.1f} {batched:>18.2f} {correct:>14.3f}")
    if "faiss" not in picks:
        print("faiss-cpu is not installed: pip install faiss-cpu (the 'service' extra) to compare")
    else:
        print(f"backends agree on {np.mean(picks['numpy'] == picks['faiss']):.3%} of faces")


if __name__ == "__main__":
    main()
