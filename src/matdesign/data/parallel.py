"""Map a function over blocks of work on dask.distributed: progress bar, ordered results, resumable.

``fn(block, **common)`` runs once per block, on a local process cluster, on an existing cluster
(``scheduler="tcp://host:port"``) or in-process (``workers`` 0 or 1). With a ``parts_dir`` every
result (a dict of arrays) is written to its own part file as it arrives (see :mod:`.parts`); blocks
whose part exists are skipped, so an interrupted run continues where it stopped.

Every call runs single-threaded (BLAS and torch), on workers and in-process alike, so results are
bit-identical whatever the number of workers.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from tqdm.auto import tqdm

from matdesign.data.parts import finished_blocks, part_path, read_part, write_part
from matdesign.errors import InputError
from matdesign.validate import check_integers


def default_workers() -> int:
    """Worker processes for a local cluster: one per CPU core."""
    return max(1, os.cpu_count() or 1)


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: to ``scheduler`` if given, else to a new ``LocalCluster`` of
    ``workers`` single-threaded processes (default: one per core). Yields ``None`` (run in-process)
    when ``workers`` is 0 or 1 and no scheduler is given."""
    if workers is not None:
        check_integers(low=0, workers=workers)
    if scheduler is None and workers in (0, 1):
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as err:
            raise InputError(f"scheduler: cannot connect to {scheduler!r} ({err})") from err
        with client:
            yield client
        return
    n = workers or default_workers()
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            yield client


class _SingleThreaded:
    """Picklable wrapper running ``fn`` with BLAS and torch limited to one thread."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def __call__(self, block, **common):
        import torch
        from threadpoolctl import threadpool_limits

        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with threadpool_limits(1):
                return self.fn(block, **common)
        finally:
            torch.set_num_threads(before)


def _run(fn, todo, blocks, common, client, on_result, bar):
    """Compute ``fn(blocks[i], **common)`` for ``i`` in ``todo``; ``on_result(i, r)`` as each finishes."""
    call = _SingleThreaded(fn)
    if client is None:
        for i in todo:
            on_result(i, call(blocks[i], **common))
            bar.update(_weight(blocks[i]))
        return
    from distributed import as_completed

    shared = {k: client.scatter([v], broadcast=True)[0] for k, v in common.items()}
    futures = {client.submit(call, blocks[i], pure=False, **shared): i for i in todo}
    try:
        for future, result in as_completed(futures, with_results=True):
            i = futures.pop(future)
            on_result(i, result)
            bar.update(_weight(blocks[i]))
    finally:
        client.cancel(list(futures))


def _weight(block) -> int:
    """Progress units of a block: its length if it has one (e.g. sample indices), else 1."""
    try:
        return len(block)
    except TypeError:
        return 1


def run_blocks(
    fn: Callable,
    blocks: Sequence,
    parts_dir: str | os.PathLike,
    *,
    common: dict | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    max_blocks: int | None = None,
    progress: bool = True,
    desc: str = "blocks",
    unit: str = "it",
) -> int:
    """Compute every block whose part file is missing from ``parts_dir`` and write its part.

    ``fn(block, **common)`` must return a dict of arrays; ``common`` values are sent to each worker
    once. ``max_blocks`` stops after that many new blocks (the rest stay for a resumed run).
    The bar counts ``len(block)`` units per block (samples when blocks are index ranges).
    Returns the number of blocks computed by this call.
    """
    done = finished_blocks(parts_dir) & set(range(len(blocks)))
    todo = [i for i in range(len(blocks)) if i not in done][:max_blocks]
    total = sum(_weight(b) for b in blocks)
    initial = sum(_weight(blocks[i]) for i in done)
    with tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not progress,
              dynamic_ncols=True) as bar:
        if todo:
            with dask_client(workers, scheduler) as client:
                _run(fn, todo, blocks, common or {}, client,
                     lambda i, r: write_part(part_path(parts_dir, i), r), bar)
    return len(todo)


def map_blocks(
    fn: Callable,
    blocks: Sequence,
    *,
    common: dict | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    parts_dir: str | os.PathLike | None = None,
    progress: bool = True,
    desc: str = "blocks",
    unit: str = "it",
) -> list:
    """``[fn(b, **common) for b in blocks]`` on dask, in block order.

    With ``parts_dir`` the results (dicts of arrays) go through part files, so a rerun after an
    interruption computes only the missing blocks; without it they are kept in memory.
    """
    if parts_dir is not None:
        run_blocks(fn, blocks, parts_dir, common=common, workers=workers, scheduler=scheduler,
                   progress=progress, desc=desc, unit=unit)
        return [read_part(part_path(parts_dir, i)) for i in range(len(blocks))]
    results: list = [None] * len(blocks)
    with tqdm(total=sum(_weight(b) for b in blocks), desc=desc, unit=unit,
              disable=not progress, dynamic_ncols=True) as bar, dask_client(workers, scheduler) as client:
        _run(fn, range(len(blocks)), blocks, common or {}, client,
             lambda i, r: results.__setitem__(i, r), bar)
    return results
