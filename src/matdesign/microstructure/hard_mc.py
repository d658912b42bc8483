"""Metropolis Monte Carlo of hard disks/spheres in a periodic box, vectorised by a checkerboard.

Each pass lays a grid of m^dim cells (side c = box/m >= the contact distance, m even) with a random
offset over the box. For each of the 2^dim checkerboard colours (in random order) one particle of
every occupied cell of that colour gets a uniform trial displacement in [-δ, δ]^dim; it is accepted
iff it stays in its cell and overlaps no other particle (all in the 3^dim neighbouring cells). Cells
of one colour are never adjacent, so their trial moves are independent and the whole colour is one
vectorised step; rejecting moves out of the cell keeps detailed balance (the scheme of Anderson et
al., J. Comput. Phys. 254, 2013). δ is tuned towards 40 % acceptance during the first half of the
sweeps and then held fixed.
"""

from __future__ import annotations

import itertools

import numpy as np

TARGET_ACCEPTANCE = 0.4


def hard_particle_mc(
    x: np.ndarray, radius: float, box: float, rng: np.random.Generator, sweeps: float
) -> tuple[np.ndarray, dict]:
    """Run ``sweeps`` × n trial moves from the valid configuration ``x`` (n, dim) in [0, box)^dim.

    Returns the new centres and {"acceptance": fraction accepted in the second half,
    "step": final δ, "msd": mean squared displacement from ``x`` (unwrapped), "trials": int}.
    """
    x = np.array(x, dtype=np.float64)
    n, dim = x.shape
    start = x.copy()
    shift = np.zeros_like(x)  # accumulated wrap-around, to unwrap displacements
    contact2 = (2.0 * radius * (1.0 + 1e-9)) ** 2
    m = int(box // (2.0 * radius * (1.0 + 1e-6)))
    m = max(1, m - m % 2)  # an even count: the two colours alternate across the periodic seam
    c = box / m
    step = min(0.1 * 2.0 * radius, c / 2)
    neigh = _neighbours(m, dim)
    colours = [np.flatnonzero(_parity(m, dim) == k) for k in range(2**dim)]
    total = int(np.ceil(sweeps * n)) if n else 0
    trials = accepted = late_trials = late_accepted = 0
    while trials < total:
        offset = rng.uniform(0.0, c, dim)
        cell = _cell_of(x, offset, c, m)
        counts = np.bincount(cell, minlength=m**dim)
        table = _table(cell, counts)
        pass_trials = pass_accepted = 0
        for k in rng.permutation(2**dim):
            cells = colours[k][counts[colours[k]] > 0]
            if cells.size == 0:
                continue
            pick = table[cells, (rng.random(cells.size) * counts[cells]).astype(np.int64)]
            new = x[pick] + rng.uniform(-step, step, (cells.size, dim))
            wrapped = np.mod(new, box)
            wrapped[wrapped >= box] = 0.0
            ok = _cell_of(wrapped, offset, c, m) == cells
            cand = table[neigh[cells]].reshape(cells.size, -1)
            diff = x[cand] - wrapped[:, None, :]
            diff -= box * np.round(diff / box)
            hit = (np.einsum("mkd,mkd->mk", diff, diff) < contact2) & (cand >= 0) & (cand != pick[:, None])
            ok &= ~hit.any(axis=1)
            shift[pick[ok]] += new[ok] - wrapped[ok]
            x[pick[ok]] = wrapped[ok]
            pass_trials += cells.size
            pass_accepted += int(ok.sum())
        trials += pass_trials
        accepted += pass_accepted
        if trials <= total / 2:
            rate = pass_accepted / max(pass_trials, 1)
            step = min(step * float(np.clip(rate / TARGET_ACCEPTANCE, 0.7, 1.3)), c / 2)
        else:
            late_trials += pass_trials
            late_accepted += pass_accepted
    msd = float(np.mean(np.sum((x + shift - start) ** 2, axis=1))) if n else 0.0
    info = {"acceptance": late_accepted / max(late_trials, 1), "step": step, "msd": msd, "trials": trials}
    return x, info


def _cell_of(x: np.ndarray, offset: np.ndarray, c: float, m: int) -> np.ndarray:
    """Flat index of the grid cell holding each row of ``x`` (grid shifted by ``offset``)."""
    idx = np.minimum((np.mod(x - offset, c * m) // c).astype(np.int64), m - 1)
    return np.ravel_multi_index(tuple(idx.T), (m,) * x.shape[1])


def _table(cell: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(cells, max count) particle indices per cell, padded with -1."""
    order = np.argsort(cell, kind="stable")
    first = np.cumsum(counts) - counts
    table = np.full((counts.size, max(int(counts.max()), 1)), -1, dtype=np.int64)
    table[cell[order], np.arange(cell.size) - first[cell[order]]] = order
    return table


def _neighbours(m: int, dim: int) -> np.ndarray:
    """(m^dim, 3^dim) flat indices of each cell's periodic 3^dim neighbourhood (itself included)."""
    idx = np.stack(np.meshgrid(*[np.arange(m)] * dim, indexing="ij"), -1).reshape(-1, 1, dim)
    offsets = np.array(list(itertools.product((-1, 0, 1), repeat=dim)))
    return np.ravel_multi_index(tuple(np.moveaxis((idx + offsets) % m, -1, 0)), (m,) * dim)


def _parity(m: int, dim: int) -> np.ndarray:
    """Checkerboard colour 0 … 2^dim - 1 of each flat cell index."""
    idx = np.stack(np.meshgrid(*[np.arange(m)] * dim, indexing="ij"), -1).reshape(-1, dim)
    return ((idx % 2) << np.arange(dim)).sum(axis=1)
