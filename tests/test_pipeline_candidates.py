"""The one fields → verified candidates tail (matdesign.pipeline.candidates), against the pieces it is made of."""

from __future__ import annotations

import time

import numpy as np
import pytest

from matdesign.backproject import backproject_batch
from matdesign.materials import MaterialTable
from matdesign.microstructure import generate
from matdesign.pipeline.candidates import add_cell_values, backprojected_candidates, verified_candidates, verify_candidates
from matdesign.verification import sample_property, verify

TABLE = MaterialTable.builtin()
SIZE = 24


@pytest.fixture(scope="module")
def fields():
    """Three two-phase fields (3, 3, 24, 24) of real materials, physical units."""
    pairs = [("Epoxy (cast unfilled)", "Alumina 99.5% (AD-995)"), ("Aluminium 6061-T6", "Alumina 99.5% (AD-995)"),
             ("Polyurethane elastomer", "AISI 1018 steel (cold drawn)")]
    rng = np.random.default_rng(4)
    return np.stack([generate(TABLE[TABLE.index(m)], TABLE[TABLE.index(p)], diameter=0.3, volume_fraction=0.3,
                              size=SIZE, dim=2, rng=rng).fields for m, p in pairs]).astype(np.float64)


def test_candidates_are_the_backprojection_the_sample_value_and_the_seeded_verification(fields):
    cands = verified_candidates(fields, TABLE, TABLE.normalization, size=SIZE, n=3, seed=7, definition="cell",
                                progress=False)
    designs = backproject_batch(fields, TABLE, TABLE.normalization, seed=7)
    K_s = sample_property(fields, "K", dim=2)
    assert [c.sample for c in cands] == [0, 1, 2]
    for i, c in enumerate(cands):
        assert (c.design.matrix.name, c.design.particle.name) == (designs[i].matrix.name, designs[i].particle.name)
        assert c.design.volume_fraction == designs[i].volume_fraction
        assert c.value_s == pytest.approx(K_s[i], rel=1e-12)
        direct = verify(designs[i], size=SIZE, dim=2, n=3, rng=np.random.default_rng([7, i]), definition="cell")
        np.testing.assert_array_equal(c.verification.samples, direct.samples)
    # the rubber–steel field is far softer than the aluminium–alumina one, as its phases are
    assert cands[2].value_s < cands[1].value_s / 10


def test_batched_sample_values_equal_one_batch(fields):
    one = backprojected_candidates(fields, TABLE, TABLE.normalization, seed=0, progress=False)
    split = backprojected_candidates(fields, TABLE, TABLE.normalization, seed=0, batch=1, progress=False)
    np.testing.assert_allclose([c.value_s for c in split], [c.value_s for c in one], rtol=1e-9)
    assert all(c.verification is None for c in one)


def test_skip_and_explicit_generators(fields):
    cands = backprojected_candidates(fields, TABLE, TABLE.normalization, seed=0, progress=False)
    verify_candidates(cands, size=SIZE, dim=2, n=2, seed=0, definition="cell", skip=lambda c: c.sample == 1,
                      rngs=[np.random.default_rng(100 + k) for k in range(3)], progress=False)
    assert cands[1].verification is None
    direct = verify(cands[2].design, size=SIZE, dim=2, n=2, rng=np.random.default_rng(102), definition="cell")
    np.testing.assert_array_equal(cands[2].verification.samples, direct.samples)


def test_cell_values_after_the_deadline_only_where_needed(fields):
    cands = verified_candidates(fields, TABLE, TABLE.normalization, size=SIZE, n=2, seed=1, definition="composite",
                                progress=False)
    add_cell_values(cands, size=SIZE, dim=2, n=2, seed=1, deadline=time.perf_counter() - 1,
                    needed=lambda c: c.sample == 0, progress=False)
    assert cands[0].cell is not None and cands[1].cell is None and cands[2].cell is None
    assert cands[0].cell.definition == "cell"
    direct = verify(cands[0].design, size=SIZE, dim=2, n=2, rng=np.random.default_rng([1, 0, 2]), definition="cell")
    np.testing.assert_array_equal(cands[0].cell.samples, direct.samples)
