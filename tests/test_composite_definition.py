"""The composite definition of a design's property (periodic RVEs) against the paper's walled cell."""

import numpy as np
import pytest

from matdesign.errors import InputError
from matdesign.verification import verify
from matdesign.verification.definition import DEFINITIONS, get_definition
from matdesign.verification.verify import arrangement
from matdesign.fem import bulk_from_young, bulk_modulus, voigt_reuss_bounds
from matdesign.materials import Material, MaterialTable
from matdesign.microstructure import Design
from matdesign.pipeline.refine import refine_volume_fraction

TABLE = MaterialTable.builtin()


def _material(name):
    return TABLE[TABLE.index(name)]


def _design(matrix, particle, d=0.25, vf=0.3):
    return Design(_material(matrix), _material(particle), d, vf)


def test_stiff_particles_in_soft_matrix_composite_is_far_below_the_walled_cell():
    d = _design("Polyurethane elastomer", "AISI 1018 steel (cold drawn)")
    comp = verify(d, size=32, dim=2, n=6, rng=np.random.default_rng(0), definition="composite")
    cell = verify(d, size=32, dim=2, n=6, rng=np.random.default_rng(0), definition="cell")
    k = np.array([bulk_from_young(m.E, m.nu, 2) for m in (d.matrix, d.particle)])
    reuss, voigt = voigt_reuss_bounds(k, np.array([1 - d.volume_fraction, d.volume_fraction]))
    assert comp.definition == "composite" and cell.definition == "cell"
    assert np.all((comp.samples > 0.9 * reuss) & (comp.samples < voigt))
    # the affine walled cell transmits load through particles pinned at the walls: several times stiffer
    assert cell.mean > 3 * comp.mean


@pytest.mark.parametrize("dim", [2, 3])
def test_one_bulk_modulus_gives_it_exactly_in_every_definition(dim):
    """Phases of one bulk modulus: K is exact in every definition (the release's "paper" one included:
    tr σ = 3K tr ε pointwise; it uses 3D moduli for its 2D plate too)."""
    k0 = 20.0
    for name, definition in DEFINITIONS.items():
        three_d = dim == 3 or definition.fem == "paper"
        soft = Material("a", k0 * (3 * (1 - 2 * 0.4) if three_d else 2 * (1 - 0.4)), 0.4, 1.0)
        hard = Material("b", k0 * (3 * (1 - 2 * 0.1) if three_d else 2 * (1 - 0.1)), 0.1, 2.0)
        d = Design(soft, hard, 0.3, 0.3)
        v = verify(d, size=16 if dim == 2 else 8, dim=dim, n=2, rng=np.random.default_rng(1), definition=name)
        assert v.samples == pytest.approx(k0, rel=1e-6), name  # fields are stored in float32


def test_composite_arrangements_are_periodic_rves_and_reproducible():
    d = _design("Epoxy (cast unfilled)", "Alumina 99.5% (AD-995)", 0.3, 0.3)
    v = verify(d, size=16, dim=2, n=3, rng=np.random.default_rng(2), definition="composite")
    cells, voxels = get_definition("composite").grid(2, 16)
    for seed, count, value in zip(v.seeds, v.n_particles, v.samples):
        ms = arrangement(d, size=16, dim=2, seed=seed, n_particles=count, definition="composite")
        assert ms.fields.shape == (3, cells * voxels, cells * voxels) and ms.n_particles == count
        assert float(bulk_modulus(ms.fields[0].astype(float), ms.fields[1].astype(float), dim=2,
                                  bc="periodic")) == pytest.approx(value, rel=1e-12)
    # the expected count is that of the whole RVE: vf · L² / particle area
    assert np.mean(v.n_particles) == pytest.approx(0.3 * cells**2 / (np.pi * 0.15**2), abs=1.0)


def test_refinement_reports_a_fresh_verification():
    d = _design("Epoxy (cast unfilled)", "Alumina 99.5% (AD-995)", 0.3, 0.2)
    r = refine_volume_fraction(d, 5.0, size=16, dim=2, n=4, seed=3, iterations=3, definition="composite",
                               fresh_seed=[3, 1])
    search = verify(r.design, size=16, dim=2, n=4, rng=np.random.default_rng(3), definition="composite")
    assert not set(r.verification.seeds) & set(search.seeds)
    assert r.verification.definition == "composite"
    assert r.verification.mean != search.mean


def test_unknown_definition_is_one_clear_error():
    with pytest.raises(InputError, match="definition='walls'"):
        verify(_design("Epoxy (cast unfilled)", "Alumina 99.5% (AD-995)"), size=16, dim=2, n=1,
               rng=np.random.default_rng(0), definition="walls")


def test_systematic_counts_keep_the_design_volume_fraction():
    from matdesign.verification.verify import systematic_counts

    rng = np.random.default_rng(0)
    for x, n in [(4.24, 10), (21.5, 7), (0.3, 4), (3.0, 5)]:
        draws = np.array([systematic_counts(x, n, rng) for _ in range(4000)])
        assert set(np.unique(draws)) <= {np.floor(x), np.floor(x) + 1}
        assert np.all(np.abs(draws.mean(1) - x) <= 1 / n + 1e-12)  # every batch, not only on average
        assert draws.mean() == pytest.approx(x, abs=2e-3)  # unbiased over the offset u


def test_composite_mean_is_less_noisy_than_with_independent_rounding():
    """4.24 expected particles per RVE: independent rounding makes the RVEs' mean vf jitter by ~±5 %."""
    d = _design("Epoxy (cast unfilled)", "Alumina 99.5% (AD-995)", 0.3, 0.3)
    composite = get_definition("composite")
    cells = {2: 1, 3: 1}
    systematic = type(composite)(**{**composite.__dict__, "name": "sys", "cells": cells, "voxels": {2: 16, 3: 16}})
    independent = type(composite)(**{**systematic.__dict__, "name": "ind", "rounding": "stochastic"})
    means = {}
    for definition in (systematic, independent):
        means[definition.name] = [verify(d, size=16, dim=2, n=6, rng=np.random.default_rng(s),
                                         definition=definition).mean for s in range(12)]
    assert np.std(means["sys"]) < 0.6 * np.std(means["ind"])
