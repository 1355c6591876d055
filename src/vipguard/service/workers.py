"""A pool of face analyzers for the service, with a bounded queue.

Each job borrows one analyzer, so the (not thread-safe) models are never used by two threads at once, and runs in
a worker thread, so the event loop stays free. Jobs wait for an analyzer on the event loop (an asyncio semaphore),
not in a thread: a long queue never ties up the thread pool that other requests need. At most ``size`` jobs run
and ``max_queue`` wait; one more is refused at once with :class:`PoolBusy`, which says when to retry.
"""

from __future__ import annotations

import asyncio
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from ..faces import FaceAnalyzer
from ..faces.embed import DEFAULT_EMBEDDER
from ..infra.weights import ModelStore

T = TypeVar("T")


class PoolBusy(RuntimeError):
    """Every analyzer is busy and the queue is full."""

    def __init__(self, waiting: int, retry_after: int) -> None:
        super().__init__(f"the service is busy ({waiting} requests waiting); retry in {retry_after} s")
        self.retry_after = retry_after


class AnalyzerPool:
    """``size`` analyzers built once (models loaded at start-up); :meth:`run` queues at most ``max_queue`` jobs."""

    def __init__(self, store: ModelStore, size: int = 1, max_queue: int = 64, warm: bool = True) -> None:
        if size < 1 or max_queue < 0:
            raise ValueError(f"the pool needs at least one analyzer and a queue of >= 0, not {size}, {max_queue}")
        self.size = size
        self.max_queue = max_queue
        self._all = [FaceAnalyzer(store=store) for _ in range(size)]
        self._free: queue.Queue[FaceAnalyzer] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self._admitted = 0  # running + waiting (changed on the event loop only)
        self._slots: asyncio.Semaphore | None = None
        self._seconds = 1.0  # moving average of a job's duration, for Retry-After
        for analyzer in self._all:
            if warm:  # build the models now rather than on the first request
                analyzer.detector, analyzer.embedder(DEFAULT_EMBEDDER), analyzer.mesher  # noqa: B018
            self._free.put(analyzer)

    @property
    def waiting(self) -> int:
        """Jobs admitted but not yet given an analyzer."""
        return max(0, self._admitted - self.size)

    @contextmanager
    def borrow(self) -> Iterator[FaceAnalyzer]:
        if self._closed:
            raise RuntimeError("the analyzer pool is closed")
        analyzer = self._free.get()
        try:
            yield analyzer
        finally:
            self._free.put(analyzer)

    def retry_after(self) -> int:
        """Seconds until the queue has probably moved on by one analyzer's share of it (1 to 120)."""
        return max(1, min(120, math.ceil(self._seconds * (self._admitted / self.size))))

    async def run(self, fn: Callable[[FaceAnalyzer], T]) -> T:
        """Run ``fn(analyzer)`` in a worker thread with a borrowed analyzer, after the jobs ahead of it; raises
        :class:`PoolBusy` at once when ``max_queue`` jobs are already waiting."""
        if self._admitted >= self.size + self.max_queue:
            raise PoolBusy(self.waiting, self.retry_after())
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        self._admitted += 1
        try:
            async with self._slots:
                return await run_in_threadpool(self._timed, fn)
        finally:
            self._admitted -= 1

    def _timed(self, fn: Callable[[FaceAnalyzer], T]) -> T:
        start = time.perf_counter()
        try:
            with self.borrow() as analyzer:
                return fn(analyzer)
        finally:
            self._seconds = 0.8 * self._seconds + 0.2 * (time.perf_counter() - start)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for analyzer in self._all:
            analyzer.close()
