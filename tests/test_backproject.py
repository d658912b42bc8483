"""backproject(): exact recovery of clean generated microstructures and the degenerate cases."""

import numpy as np
import pytest
import torch

from matdesign.backproject import backproject
from matdesign.errors import InputError
from matdesign.materials import MaterialTable, Normalization
from matdesign.microstructure import generate, sample_design
from matdesign.microstructure.voxelize import voxelize


@pytest.fixture(scope="module")
def table():
    return MaterialTable.builtin()


def _props(m):
    return np.array([m.E, m.nu, m.rho])


def _clean_cases(table, dim, size, n, seed):
    """(design, microstructure) pairs with two distinguishable materials and >= 1 particle."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < n:
        d = sample_design(table, rng, dim)
        if np.array_equal(_props(d.matrix), _props(d.particle)):
            continue
        m = generate(d.matrix, d.particle, diameter=d.diameter, volume_fraction=d.volume_fraction,
                     size=size, dim=dim, rng=rng)
        if len(m.centers):
            cases.append(m)
    return cases


@pytest.mark.parametrize("dim,size,n", [(2, 64, 12), (3, 32, 4)])
def test_exact_recovery_of_clean_microstructures(table, dim, size, n):
    for m in _clean_cases(table, dim, size, n, seed=dim):
        design = backproject(m.fields, table, rng=np.random.default_rng(1))
        diag = design.diagnostics
        np.testing.assert_allclose(_props(design.matrix), _props(m.matrix), rtol=1e-12)
        np.testing.assert_allclose(_props(design.particle), _props(m.particle), rtol=1e-12)
        assert design.volume_fraction == m.volume_fraction
        assert abs(design.diameter - m.diameter) < 1.0 / size
        assert diag["particle_count"] == len(m.centers)
        assert diag["valid"] and "one_phase" not in diag["flags"]
        assert diag["d_m"] < 1e-5 and diag["V_m"] < 1e-4
        np.testing.assert_allclose(diag["gmm_means"][0], _props(m.matrix), rtol=1e-5)


def test_torch_input_gives_the_same_design(table):
    m = _clean_cases(table, 2, 48, 1, seed=7)[0]
    a = backproject(m.fields, table, rng=np.random.default_rng(0))
    b = backproject(torch.from_numpy(m.fields), table, rng=np.random.default_rng(0))
    assert (a.matrix, a.particle, a.diameter, a.volume_fraction) == (b.matrix, b.particle, b.diameter, b.volume_fraction)


def test_noise_in_normalized_space_shows_up_as_V_m(table):
    """Gaussian noise of σ per channel gives spherical variances ≈ σ² per component; the design is
    still recovered (materials exact, volume fraction within the few flipped voxels)."""
    m = _clean_cases(table, 2, 64, 1, seed=3)[0]
    sigma = 0.03
    norm = table.normalization
    x = norm.normalize(m.fields.astype(np.float64), axis=0)
    x += np.random.default_rng(0).normal(0.0, sigma, x.shape)
    design = backproject(norm.denormalize(x, axis=0), table, rng=np.random.default_rng(0))
    assert design.diagnostics["V_m"] == pytest.approx(2 * sigma**2, rel=0.1)
    assert design.matrix == m.matrix and design.particle == m.particle
    assert design.volume_fraction == pytest.approx(m.volume_fraction, abs=0.01)
    assert design.diameter == pytest.approx(m.diameter, abs=2 / 64)


def test_one_phase_constant_field(table):
    mat = table[5]
    fields = np.broadcast_to(_props(mat)[:, None, None], (3, 16, 16))
    design = backproject(fields, table)
    diag = design.diagnostics
    assert diag["flags"] == ["one_phase"] and diag["valid"]
    assert design.matrix == mat and design.particle == mat
    assert design.volume_fraction == 0.0 and design.diameter == 0.0
    assert diag["V_m"] == 0.0 and diag["d_m"] < 1e-12


def test_one_phase_with_noise_is_not_split(table):
    mat = table[10]
    norm = table.normalization
    x = norm.normalize(_props(mat))[:, None, None] + np.random.default_rng(0).normal(0, 0.05, (3, 64, 64))
    design = backproject(norm.denormalize(x, axis=0), table, rng=np.random.default_rng(0))
    assert "one_phase" in design.diagnostics["flags"]
    assert design.matrix == mat and design.volume_fraction == 0.0


def _two_material_field(table, mask):
    a, b = _props(table[0]), _props(table[-1])
    return np.where(mask[None], b[(slice(None),) + (None,) * mask.ndim], a[(slice(None),) + (None,) * mask.ndim])


def test_no_particles_when_the_minor_phase_is_thin_lines(table):
    mask = np.zeros((64, 64), bool)
    mask[32, 8:56] = mask[8:56, 32] = True
    design = backproject(_two_material_field(table, mask), table)
    assert "no_particles" in design.diagnostics["flags"] and not design.diagnostics["valid"]
    assert design.particle == table[-1] and design.volume_fraction == mask.mean()


def test_all_particle_when_particle_phase_exceeds_packing(table):
    mask = np.zeros((64, 64), bool)
    mask[1:-1, 1:-1] = True  # matrix only on the boundary ring
    design = backproject(_two_material_field(table, mask), table)
    assert "all_particle" in design.diagnostics["flags"] and not design.diagnostics["valid"]
    assert design.particle == table[-1]


def test_touching_particles_and_boundary_flags(table):
    r = 0.1
    mask = voxelize(np.array([[0.3, 0.5], [0.5, 0.5], [0.8, 0.09]]), r, 64)
    design = backproject(_two_material_field(table, mask), table)
    diag = design.diagnostics
    assert {"touching_particles", "touching_boundary"} <= set(diag["flags"]) and diag["valid"]
    assert diag["particle_count"] == 3
    assert design.diameter == pytest.approx(2 * r, abs=1 / 64)


def test_model_normalization_is_used_for_nearest_and_d_m(table):
    """A field halfway between two materials: d_m is measured in the given normalization."""
    wide = Normalization(table.normalization.bounds * np.array([[1, 4], [1, 1], [1, 1]]))
    mid = (_props(table[0]) + _props(table[1])) / 2
    fields = np.broadcast_to(mid[:, None, None], (3, 8, 8))
    for norm in (None, wide):
        design = backproject(fields, table, normalization=norm)
        used = table.normalization if norm is None else norm
        row = table.nearest(*mid, normalization=used)
        expected = np.linalg.norm(used.normalize(mid) - used.normalize(_props(table[int(row)])))
        assert design.matrix == table[int(row)]
        assert design.diagnostics["d_m"] == pytest.approx(expected, rel=1e-9)


def test_paper_method_recovers_materials_and_volume_fraction(table):
    m = _clean_cases(table, 2, 64, 1, seed=11)[0]
    design = backproject(m.fields, table, method="paper")
    assert design.matrix == m.matrix and design.particle == m.particle
    assert design.volume_fraction == m.volume_fraction
    assert abs(design.diameter - m.diameter) < 2.0 / 64


@pytest.mark.parametrize("bad", [np.zeros((2, 8, 8)), np.zeros((3, 8)), np.zeros((3, 8, 9)),
                                 np.full((3, 4, 4), np.nan)])
def test_malformed_fields_raise_input_error(table, bad):
    with pytest.raises(InputError, match="fields"):
        backproject(bad, table)


def test_unknown_method_raises_input_error(table):
    with pytest.raises(InputError, match="method"):
        backproject(np.ones((3, 4, 4)), table, method="hough")


def test_raw_design_uses_the_mixture_means(table):
    from matdesign.backproject import raw_design

    mid = (_props(table[0]) + _props(table[1])) / 2
    mask = voxelize(np.array([[0.5, 0.5]]), 0.2, 32)
    fields = np.where(mask[None], _props(table[-1])[:, None, None], mid[:, None, None])
    design = backproject(fields, table)
    raw = raw_design(design)
    np.testing.assert_allclose(_props(raw.matrix), mid, rtol=1e-9)
    np.testing.assert_allclose(_props(raw.particle), _props(table[-1]), rtol=1e-9)
    assert (raw.diameter, raw.volume_fraction) == (design.diameter, design.volume_fraction)
