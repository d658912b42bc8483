"""Sample-quality measures: clean generated microstructures are valid two-phase designs, each
degenerate case is named, the Wasserstein distances have known values, the noise floor is a
distance between subsets, and evaluate_samples' Ks agree with the FEM."""

import numpy as np
import pytest

from matdesign.errors import InputError
from matdesign.verification import sample_K, verify
from matdesign.evaluate.quality import degeneracy, evaluate_samples, k_distance, noise_floor, valid_fraction
from matdesign.backproject import backproject
from matdesign.materials import MaterialTable
from matdesign.microstructure import Design, generate, sample_design

TABLE = MaterialTable.builtin()


def _clean_fields(n, rng, size=32):
    """n generated microstructures of distinct materials with at least one particle."""
    out = []
    while len(out) < n:
        d = sample_design(TABLE, rng, 2)
        if d.matrix == d.particle:
            continue
        ms = generate(d.matrix, d.particle, diameter=d.diameter, volume_fraction=d.volume_fraction,
                      size=size, dim=2, rng=rng)
        if len(ms.centers):
            out.append(ms.fields)
    return np.stack(out).astype(np.float64)


def test_clean_generated_microstructures_are_all_valid_two_phase_designs():
    fields = _clean_fields(12, np.random.default_rng(3))
    designs = [backproject(f, TABLE, rng=np.random.default_rng(0)) for f in fields]
    assert [degeneracy(d) for d in designs] == [""] * 12
    assert valid_fraction(designs) == 1.0


def test_each_degenerate_case_is_named_and_counted():
    steel, glass = TABLE[TABLE.index("AISI 1045 steel")], TABLE[TABLE.index("Soda-lime float glass")]
    homogeneous = backproject(generate(steel, steel, diameter=0.2, volume_fraction=0.2, size=32, dim=2,
                                       rng=np.random.default_rng(0)).fields, TABLE)
    i, j = np.indices((32, 32))  # one-voxel checkerboard: two materials, neither phase has particles
    checkerboard = np.where((i + j) % 2 == 0, np.array([steel.E, steel.nu, steel.rho])[:, None, None],
                            np.array([glass.E, glass.nu, glass.rho])[:, None, None])
    no_particles = backproject(checkerboard, TABLE)
    all_particle = Design(glass, steel, 0.1, 0.95, {"flags": ["all_particle"], "valid": False})
    same = Design(steel, steel, 0.1, 0.3, {"flags": ["touching_particles"], "valid": True})
    designs = [homogeneous, no_particles, all_particle, same]
    assert [degeneracy(d) for d in designs] == ["one_phase", "no_particles", "all_particle", "same_material"]
    assert valid_fraction(designs + [Design(glass, steel, 0.1, 0.3, {"flags": []})]) == pytest.approx(0.2)


def test_k_distance_known_values():
    K = np.array([0.01, 1.0, 5.0, 120.0])
    assert k_distance(K, K) == 0.0 and k_distance(K, K[::-1], log=True) == 0.0
    assert k_distance(K, K + 3.5) == pytest.approx(3.5)
    assert k_distance(K, 10.0 * K, log=True) == pytest.approx(1.0)  # one decade
    assert k_distance([1.0, 3.0], [2.0]) == pytest.approx(1.0)  # |1−2|/2 + |3−2|/2


@pytest.mark.parametrize("a,b,log,match", [([], [1.0], False, "no K"), ([1.0, np.nan], [1.0], False, "finite"),
                                           ([1.0, 0.0], [1.0], True, "K > 0")])
def test_k_distance_rejects_bad_input(a, b, log, match):
    with pytest.raises(InputError, match=match):
        k_distance(a, b, log=log)


def test_noise_floor_is_the_distance_of_subsets():
    rng = np.random.default_rng(0)
    fresh = np.array([1.0] * 50 + [2.0] * 50)
    assert np.all(noise_floor([1.0] * 50 + [2.0] * 50, fresh, 100, draws=3, rng=rng) == 0.0)
    floor = noise_floor([1.5], fresh, 10, draws=20, rng=rng)
    assert floor.shape == (20,) and np.allclose(floor, 0.5)  # every point of either value is 0.5 away
    small, large = (noise_floor(fresh, rng.normal(size=2000) + 1.5, n, draws=50, rng=rng).mean() for n in (10, 1000))
    assert small > large
    with pytest.raises(InputError, match="n=101"):
        noise_floor(fresh, fresh, 101, rng=rng)


def test_evaluate_samples_K_matches_fem_and_marks_degenerate_samples():
    fields = _clean_fields(3, np.random.default_rng(5), size=16)
    steel = TABLE[TABLE.index("AISI 1045 steel")]
    fields = np.concatenate([fields, generate(steel, steel, diameter=0.2, volume_fraction=0.2, size=16, dim=2,
                                              rng=np.random.default_rng(0)).fields[None].astype(np.float64)])
    ev = evaluate_samples(fields, TABLE, TABLE.normalization, seed=2)
    assert ev.reasons == ["", "", "", "one_phase"] and ev.valid_fraction == 0.75
    assert ev.counts() == {"valid": 3, "no_particles": 0, "all_particle": 0, "one_phase": 1,
                           "same_material": 0, "unplaceable": 0}
    np.testing.assert_allclose(ev.K_sample, sample_K(fields, dim=2), rtol=1e-12)
    assert np.isnan(ev.K_design[3])
    expected = [verify(d, size=16, dim=2, n=1, rng=np.random.default_rng([2, i])).K
                for i, d in enumerate(ev.designs[:3])]
    np.testing.assert_allclose(ev.K_design[:3], expected, rtol=1e-12)
    # the design's K on a fresh arrangement lies near the field's own K for a clean microstructure
    np.testing.assert_allclose(ev.K_design[:3], ev.K_sample[:3], rtol=0.3)
