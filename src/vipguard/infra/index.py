"""An index of VIP Face Embedding Centres for adaptive selection among many VIPs.

Two backends answer the same question — the enrolled centres nearest (by cosine) to each face embedding:
``numpy`` (brute force, a matrix product) and ``faiss`` (``IndexFlatIP``, exact inner product). ``auto`` picks
FAISS above :data:`FAISS_MIN_VIPS` centres when ``faiss`` is importable, NumPy otherwise. Both are exact, so they
return the same VIPs. Centres and queries are L2-normalised here.

Where FAISS pays (benchmarks/scale.py, one thread, 192-d): it does not at 1,000-10,000 VIPs — one face per query
costs the same within 10-25 % either way (about 0.02 and 0.1 ms, under 1 % of a check), batches of 64 faces cost
twice NumPy's, its index takes longer to build and importing it adds ~35 ms to a process's first selection. From
about 100,000 centres its single-face query is ~15 % faster (2.2 vs 2.6 ms), hence the threshold; approximate
FAISS indexes (IVF, HNSW) would be faster still but are not exact, which selection among look-alikes must be.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FAISS_MIN_VIPS = 100_000  # measured: below it FAISS gains nothing (see above)
BACKENDS = ("auto", "numpy", "faiss")


def faiss_available() -> bool:
    return importlib.util.find_spec("faiss") is not None


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12))


@dataclass(frozen=True)
class Match:
    name: str
    similarity: float


class VipIndex:
    """Names and centres → nearest VIPs. ``search(queries, k)`` returns (similarities, indices), each (Q, k)."""

    def __init__(self, names: Sequence[str], centres: np.ndarray, backend: str = "auto") -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown index backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        centres = np.asarray(centres, dtype=np.float32)
        if len(names) != (len(centres) if centres.size else 0):
            raise ValueError(f"{len(names)} names but {len(centres) if centres.size else 0} centres")
        self.names = list(names)
        self._centres = _normalise(centres) if self.names else np.zeros((0, 0), np.float32)
        if backend == "auto":
            backend = "faiss" if len(self.names) > FAISS_MIN_VIPS and faiss_available() else "numpy"
        if backend == "faiss" and not faiss_available():
            raise ValueError("the faiss backend needs the faiss-cpu package: pip install 'vipguard[service]'")
        self.backend = backend
        self._faiss = None
        if backend == "faiss" and self.names:
            import faiss

            self._faiss = faiss.IndexFlatIP(self._centres.shape[1])
            self._faiss.add(self._centres)

    @classmethod
    def from_registry(cls, registry, backend: str = "auto") -> VipIndex:
        names, centres = registry.centres()
        return cls(names, centres, backend)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def dim(self) -> int:
        return int(self._centres.shape[1]) if self.names else 0

    def search(self, queries: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Cosine similarities and indices of the ``k`` nearest centres for each query, best first."""
        q = _normalise(queries)
        if not self.names:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        if q.shape[1] != self.dim:
            raise ValueError(f"queries have dimension {q.shape[1]}, the index {self.dim}")
        k = max(1, min(int(k), len(self.names)))
        if self._faiss is not None:
            sims, idx = self._faiss.search(q, k)
            return sims, idx.astype(np.int64)
        all_sims = q @ self._centres.T
        if k == 1:
            idx = np.argmax(all_sims, axis=1)[:, None]
        else:
            part = np.argpartition(-all_sims, k - 1, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(all_sims, part, axis=1), axis=1, kind="stable")
            idx = np.take_along_axis(part, order, axis=1)
        return np.take_along_axis(all_sims, idx, axis=1), idx.astype(np.int64)

    def nearest(self, embedding: np.ndarray, k: int = 1) -> list[Match]:
        """The ``k`` nearest VIPs of one face embedding."""
        sims, idx = self.search(embedding, k)
        return [Match(self.names[int(i)], float(s)) for s, i in zip(sims[0], idx[0])]


__all__ = ["BACKENDS", "FAISS_MIN_VIPS", "Match", "VipIndex", "faiss_available"]
