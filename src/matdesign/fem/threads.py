"""Spread a CPU batch over Python threads, one sample chunk at a time per thread.

A solve is a long chain of mid-sized torch operations; two OpenMP threads inside each operation
gain little and collapse when the machine is busy (32³ PCG, loaded 2-core CPU: 10–20 s per sample
with 2 torch threads against 1.5–1.8 s with 2 Python threads of 1 torch thread each). So the chunks
of a batch run in ``torch.get_num_threads()`` Python threads with torch single-threaded meanwhile.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
import torch


class ChunkPool:
    """A reusable thread pool for :meth:`map`."""

    def __init__(self):
        self._pool: ThreadPoolExecutor | None = None
        self._size = 0

    def map(self, fn: Callable[[int, int], object], n_items: int, workers: int) -> list:
        """``[fn(worker, i) for i in range(n_items)]``, the items split into ``workers`` contiguous runs,
        each run in its own thread (``worker`` = its index, for per-thread resources). With
        ``workers > 1`` torch is single-threaded during the call (restored after, also on errors);
        an exception in a thread is raised here."""
        workers = max(1, min(workers, n_items))
        if workers == 1:
            return [fn(0, i) for i in range(n_items)]
        if self._pool is None or self._size < workers:
            self._pool = ThreadPoolExecutor(workers, thread_name_prefix="matdesign-fem")
            self._size = workers
        bounds = np.linspace(0, n_items, workers + 1).astype(int)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            jobs = [self._pool.submit(lambda k: [fn(k, i) for i in range(bounds[k], bounds[k + 1])], k)
                    for k in range(workers)]
            return [out for job in jobs for out in job.result()]
        finally:
            torch.set_num_threads(threads)
