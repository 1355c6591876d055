"""A pool of face analyzers for the service: each request borrows one, so the (not thread-safe) models are never
used by two threads at once, while the event loop stays free (the work runs in Starlette's thread pool)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from ..faces import FaceAnalyzer
from ..weights import ModelStore

T = TypeVar("T")


class AnalyzerPool:
    """``size`` analyzers built once (models loaded at start-up); :meth:`borrow` blocks until one is free."""

    def __init__(self, store: ModelStore, size: int = 1, warm: bool = True) -> None:
        if size < 1:
            raise ValueError(f"the pool needs at least one analyzer, not {size}")
        self.size = size
        self._all = [FaceAnalyzer(store=store) for _ in range(size)]
        self._free: queue.Queue[FaceAnalyzer] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        for analyzer in self._all:
            if warm:  # build the models now rather than on the first request
                analyzer.detector, analyzer.embedder("mobilefacenet"), analyzer.mesher  # noqa: B018
            self._free.put(analyzer)

    @contextmanager
    def borrow(self) -> Iterator[FaceAnalyzer]:
        if self._closed:
            raise RuntimeError("the analyzer pool is closed")
        analyzer = self._free.get()
        try:
            yield analyzer
        finally:
            self._free.put(analyzer)

    async def run(self, fn: Callable[[FaceAnalyzer], T]) -> T:
        """Run ``fn(analyzer)`` in a worker thread with a borrowed analyzer."""

        def job() -> T:
            with self.borrow() as analyzer:
                return fn(analyzer)

        return await run_in_threadpool(job)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for analyzer in self._all:
            analyzer.close()
