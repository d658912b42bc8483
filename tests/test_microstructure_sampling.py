"""The paper's balanced design sampling: uniform over non-empty chunks, then within a chunk."""

import numpy as np
import pytest
from scipy import stats

from matdesign.errors import InputError
from matdesign.materials import Material, MaterialTable
from matdesign.microstructure import DIAMETER_RANGE, VOLUME_FRACTION_RANGE, sample_design


class ChunkedTable:
    """Stand-in with the three MaterialTable methods sample_design uses."""

    def __init__(self, chunks):
        self._chunks = np.asarray(chunks)

    def chunk_index(self):
        return self._chunks

    def nonempty_chunks(self):
        return np.unique(self._chunks)

    def __getitem__(self, i):
        return Material(f"m{i}", 1.0 + i, 0.3, 1.0)


def test_paper_ranges():
    assert VOLUME_FRACTION_RANGE == {2: (0.05, 0.5), 3: (0.05, 0.45)}
    assert DIAMETER_RANGE == {2: (0.15, 0.4), 3: (0.15, 0.35)}


def test_small_chunk_drawn_as_often_as_large_one():
    # chunk 7 holds 9 materials, chunk 500 one: balanced sampling gives each chunk half the draws
    table = ChunkedTable([7] * 9 + [500])
    rng = np.random.default_rng(0)
    designs = [sample_design(table, rng, 2) for _ in range(4000)]
    lone = np.mean([d.matrix.name == "m9" for d in designs])
    assert abs(lone - 0.5) < 0.03  # binomial sd 0.008; unbalanced sampling would give 0.1
    rows = np.array([d.diagnostics["particle_index"] for d in designs])
    counts = np.bincount(rows[rows < 9], minlength=9)  # uniform inside the large chunk
    assert stats.chisquare(counts).pvalue > 1e-3
    # matrix and particle drawn independently: same chunk in about half the designs
    same = np.mean([d.diagnostics["matrix_chunk"] == d.diagnostics["particle_chunk"] for d in designs])
    assert abs(same - 0.5) < 0.03


@pytest.mark.parametrize("dim", [2, 3])
def test_builtin_table_balanced_and_in_range(dim):
    table = MaterialTable.builtin()
    chunks, nonempty = table.chunk_index(), table.nonempty_chunks()
    rng = np.random.default_rng(1)
    n = 3000
    designs = [sample_design(table, rng, dim) for _ in range(n)]
    for d in designs:
        for role in ("matrix", "particle"):
            row = d.diagnostics[f"{role}_index"]
            assert getattr(d, role) == table[row] and chunks[row] == d.diagnostics[f"{role}_chunk"]
    vf = np.array([d.volume_fraction for d in designs])
    dia = np.array([d.diameter for d in designs])
    for x, (lo, hi) in ((vf, VOLUME_FRACTION_RANGE[dim]), (dia, DIAMETER_RANGE[dim])):
        assert lo <= x.min() and x.max() <= hi
        assert stats.kstest((x - lo) / (hi - lo), "uniform").pvalue > 1e-3
    drawn = np.array([d.diagnostics[f"{r}_chunk"] for d in designs for r in ("matrix", "particle")])
    counts = np.array([(drawn == c).sum() for c in nonempty])
    assert stats.chisquare(counts).pvalue > 1e-3  # uniform over the non-empty chunks
    # and clearly not proportional to chunk population (what uniform row sampling would give)
    population = np.array([(chunks == c).sum() for c in nonempty])
    assert stats.chisquare(counts, population / population.sum() * counts.sum()).pvalue < 1e-6


def test_bad_dim_raises():
    with pytest.raises(InputError, match="dim"):
        sample_design(ChunkedTable([1, 2]), np.random.default_rng(0), 1)
