"""Generated fields → verified candidates: the one tail that design, evaluation, the baselines and the
sample-quality measures share.

Seeds (the same in every command, so their numbers agree; :func:`arrangement_seed` and
:func:`search_seed` are the one place they are made): the mixture fits of the backprojection draw from
``default_rng(seed)``; sample i's raw design is verified on arrangements from ``default_rng([seed, i])``,
its refined design on fresh ones from ``[seed, i, 1]`` (the refinement's search: ``seed·1000 + i``), its
value in the other definition (the paper cell) from ``[seed, i, 2]`` (closure's pairs without a sample:
``[seed, 10_000 + k, 2]``, k their place among the shown candidates); closure's k-th pair is checked on
fresh arrangements from ``[seed, k, 3]`` (its search: ``seed·1000 + 7919·k``).
"""

from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from matdesign.backproject import backproject_batch
from matdesign.pipeline.results import Candidate
from matdesign.verification import sample_property, verify


#: The last element of an arrangement seed, by what the arrangements verify.
SEED_PURPOSES = {"raw": (), "refined": (1,), "other": (2,), "closure": (3,)}


def arrangement_seed(seed: int, key: int, purpose: str = "raw") -> list[int]:
    """The seed of the arrangements that verify sample (or closure pair) ``key`` for ``purpose``
    (:data:`SEED_PURPOSES`; "other": the final design's K in the other definition)."""
    return [seed, key, *SEED_PURPOSES[purpose]]


def search_seed(seed: int, key: int, closure: bool = False) -> int:
    """The seed of a volume-fraction search's arrangements (:func:`~matdesign.pipeline.refine.refine_volume_fraction`)
    for sample ``key`` or, with ``closure``, closure's ``key``-th pair."""
    return seed * 1000 + (7919 * key if closure else key)


def backprojected_candidates(fields: np.ndarray, table, normalization, *, seed: int, prop: str = "K",
                             fem_options: dict | None = None, batch: int | None = None,
                             progress: bool = True) -> list[Candidate]:
    """One unverified candidate per generated field: its backprojection onto ``table`` (a MaterialTable, in
    the model's ``normalization``) and ``value_s``, the property ``prop`` of the field itself.

    fields: (B, 3, *grid) float64, physical units (E [GPa], ν, ρ [g/cm³]); fem_options: extra arguments of
    the sample's FEM (e.g. ``{"definition": "paper"}``); batch: samples per FEM call (None: all at once).
    """
    dim = fields.ndim - 2
    parts = [fields] if batch is None else np.array_split(fields, max(1, len(fields) // int(batch)))
    value_s = np.concatenate([np.atleast_1d(sample_property(part, prop, dim=dim, fem_options=fem_options))
                              for part in tqdm(parts, desc="property of the samples",
                                               disable=not progress or len(parts) == 1, leave=False)])
    designs = backproject_batch(fields, table, normalization, seed=seed, progress=progress)
    return [Candidate(i, d, None, float(value_s[i])) for i, d in enumerate(designs)]


def verify_candidates(candidates: list[Candidate], *, size: int, dim: int, n: int, seed: int, prop: str = "K",
                      definition: str, skip: Callable[[Candidate], bool] | None = None,
                      rngs: Sequence[np.random.Generator] | None = None, progress: bool = True) -> list[Candidate]:
    """Set each candidate's verification: its design on ``n`` fresh arrangements of ``size`` voxels per cell
    axis in ``definition``, drawn from ``rngs[k]`` (default ``default_rng([seed, c.sample])``); candidates with
    ``skip(c)`` keep None. Returns ``candidates``."""
    for k, c in enumerate(tqdm(candidates, desc="verify", disable=not progress, leave=False)):
        if skip is None or not skip(c):
            rng = rngs[k] if rngs is not None else np.random.default_rng(arrangement_seed(seed, c.sample))
            c.verification = verify(c.design, size=size, dim=dim, n=n, rng=rng, prop=prop, definition=definition)
    return candidates


def verified_candidates(fields: np.ndarray, table, normalization, *, size: int, n: int, seed: int, prop: str = "K",
                        definition: str, progress: bool = True) -> list[Candidate]:
    """:func:`backprojected_candidates` followed by :func:`verify_candidates`."""
    candidates = backprojected_candidates(fields, table, normalization, seed=seed, prop=prop, progress=progress)
    return verify_candidates(candidates, size=size, dim=fields.ndim - 2, n=n, seed=seed, prop=prop,
                             definition=definition, progress=progress)


def add_cell_values(candidates: list[Candidate], *, size: int, dim: int, n: int, seed: int, prop: str = "K",
                    deadline: float = math.inf, needed: Callable[[Candidate], bool] | None = None,
                    rngs: Sequence[np.random.Generator] | None = None, progress: bool = True) -> None:
    """Set ``c.cell``, each final design's property in the paper's walled cell ("cell", ``n`` arrangements
    from ``rngs[k]``, default: the seeds above); after ``deadline`` (a ``time.perf_counter()`` value) only
    for the candidates with ``needed(c)``."""
    for k, c in enumerate(tqdm(candidates, desc="cell", disable=not progress, leave=False)):
        if time.perf_counter() > deadline and not (needed is not None and needed(c)):
            continue
        rng = rngs[k] if rngs is not None else np.random.default_rng(
            arrangement_seed(seed, c.sample if c.source == "sample" else 10_000 + k, "other"))
        c.cell = verify(c.final_design, size=size, dim=dim, n=n, rng=rng, prop=prop, definition="cell")
