"""The paper's balanced design sampling for the training data (sec. 6, supp. mat. "Dataset sampling")."""

from __future__ import annotations

import numpy as np

from matdesign.errors import InputError
from matdesign.validate import check_dim
from matdesign.microstructure.design import Design

VOLUME_FRACTION_RANGE = {2: (0.05, 0.5), 3: (0.05, 0.45)}
"""Uniform range of the particle volume fraction per dimension."""
DIAMETER_RANGE = {2: (0.15, 0.4), 3: (0.15, 0.35)}
"""Uniform range of the particle diameter (relative to the unit cell) per dimension."""


def sample_design(table, rng: np.random.Generator, dim: int) -> Design:
    """Random design: matrix and particle each drawn independently by first picking a non-empty
    material chunk uniformly, then a material uniformly inside it; then volume fraction and
    diameter uniformly in the ranges for ``dim``.

    ``table`` is a MaterialTable (uses ``chunk_index()``, ``nonempty_chunks()`` and ``table[i]``).
    ``diagnostics`` records the table rows and chunks drawn.
    """
    check_dim(dim)
    chunks = np.asarray(table.chunk_index())
    nonempty = np.asarray(table.nonempty_chunks())
    if nonempty.size == 0:
        raise InputError("material table is empty: no chunk to sample from")
    picks = {}
    for role in ("matrix", "particle"):
        chunk = int(rng.choice(nonempty))
        picks[role] = (int(rng.choice(np.flatnonzero(chunks == chunk))), chunk)
    volume_fraction = float(rng.uniform(*VOLUME_FRACTION_RANGE[dim]))
    diameter = float(rng.uniform(*DIAMETER_RANGE[dim]))
    return Design(
        matrix=table[picks["matrix"][0]],
        particle=table[picks["particle"][0]],
        diameter=diameter,
        volume_fraction=volume_fraction,
        diagnostics={
            "matrix_index": picks["matrix"][0],
            "matrix_chunk": picks["matrix"][1],
            "particle_index": picks["particle"][0],
            "particle_chunk": picks["particle"][1],
        },
    )
