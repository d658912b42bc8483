"""Particle placement, voxelization and generate(): geometry checked against its definition."""

import math
import time

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from matdesign.errors import InputError
from matdesign.materials import Material
from matdesign.microstructure import Design, generate
from matdesign.microstructure.placement import check_packing, particle_volume, place_particles
from matdesign.microstructure.voxelize import voxelize

MATRIX = Material("epoxy", 3.5, 0.35, 1.2)
PARTICLE = Material("alumina", 370.0, 0.22, 3.95)


def gen(diameter, vf, dim=2, size=64, seed=0, **kw):
    return generate(MATRIX, PARTICLE, diameter=diameter, volume_fraction=vf, size=size, dim=dim,
                    rng=np.random.default_rng(seed), **kw)


def brute_force_mask(centers, radius, size):
    """Distance of every voxel centre to every particle centre, no bounding boxes."""
    dim = centers.shape[1]
    grid = np.stack(np.meshgrid(*[(np.arange(size) + 0.5) / size] * dim, indexing="ij"), -1)
    d = np.linalg.norm(grid[..., None, :] - centers, axis=-1)
    return (d < radius).any(-1)


@pytest.mark.parametrize(
    "dim,diameter,vf",
    [(2, 0.15, 0.5), (2, 0.4, 0.5), (2, 0.2, 0.3), (3, 0.15, 0.45), (3, 0.35, 0.3), (3, 0.25, 0.1)],
)
def test_particles_disjoint_inside_and_counted(dim, diameter, vf):
    ms = gen(diameter, vf, dim=dim, size=32 if dim == 3 else 64)
    r = diameter / 2
    expected_n = math.floor(vf / particle_volume(r, dim) + 0.5)
    assert ms.n_particles == expected_n and ms.centers.shape == (expected_n, dim)
    assert ms.radius == r and ms.diameter == diameter and ms.dim == dim
    assert pdist(ms.centers).min() >= 2 * r  # no overlap
    assert ms.centers.min() >= r and ms.centers.max() <= 1 - r  # no boundary crossing


@pytest.mark.parametrize("dim,size", [(2, 40), (3, 20)])
def test_voxels_follow_definition(dim, size):
    ms = gen(0.3, 0.3, dim=dim, size=size, seed=3)
    assert ms.particle_mask.shape == (size,) * dim and ms.size == size
    np.testing.assert_array_equal(ms.particle_mask, brute_force_mask(ms.centers, ms.radius, size))
    assert ms.fields.dtype == np.float32 and ms.fields.shape == (3,) + (size,) * dim
    for c, p in enumerate(("E", "nu", "rho")):
        want = np.where(ms.particle_mask, getattr(PARTICLE, p), getattr(MATRIX, p)).astype(np.float32)
        np.testing.assert_array_equal(ms.fields[c], want)
    assert ms.volume_fraction == ms.particle_mask.mean()


def test_voxelize_axis_order_and_edge_particles():
    # one off-centre particle: axis 0 is x; a particle touching the faces stays inside the grid
    mask = voxelize(np.array([[0.25, 0.75]]), 0.25, 8)
    assert mask[:4, 4:].sum() == mask.sum() > 0
    np.testing.assert_array_equal(mask, brute_force_mask(np.array([[0.25, 0.75]]), 0.25, 8))


@pytest.mark.parametrize("dim,size", [(2, 64), (2, 256), (3, 48)])
def test_voxel_fraction_matches_disc_area(dim, size):
    r = 0.3
    exact = math.pi * r**2 if dim == 2 else 4 / 3 * math.pi * r**3
    shell = (2 * math.pi * r if dim == 2 else 4 * math.pi * r**2) / size  # one voxel layer
    for seed in range(5):
        ms = gen(2 * r, 0.0, dim=dim, size=size, seed=seed, n_particles=1)
        # counting voxel centres is unbiased: the error is a small fraction of a voxel layer
        assert abs(ms.volume_fraction - exact) < 0.1 * shell


def test_voxel_fraction_close_to_request():
    for seed in range(5):
        ms = gen(0.2, 0.3, seed=seed)
        n_area = ms.n_particles * math.pi * 0.1**2  # 10 discs: 0.314
        # discretisation estimate: a tenth of a voxel layer around each perimeter
        assert abs(ms.volume_fraction - n_area) < 0.1 * ms.n_particles * 2 * math.pi * 0.1 / 64
        assert abs(ms.volume_fraction - 0.3) < 0.03


def test_deterministic_for_a_seed():
    a, b, c = gen(0.2, 0.3, seed=7), gen(0.2, 0.3, seed=7), gen(0.2, 0.3, seed=8)
    np.testing.assert_array_equal(a.centers, b.centers)
    np.testing.assert_array_equal(a.fields, b.fields)
    assert not np.array_equal(a.centers, c.centers)


def test_pure_matrix_and_count_override():
    ms = gen(0.2, 0.0)
    assert ms.n_particles == 0 and ms.volume_fraction == 0.0 and not ms.particle_mask.any()
    assert np.all(ms.fields[0] == np.float32(MATRIX.E)) and np.all(ms.fields[2] == np.float32(MATRIX.rho))
    ms = gen(0.2, 0.3, n_particles=3)
    assert ms.n_particles == 3 and pdist(ms.centers).min() >= 0.2


def test_expected_particle_count_is_analytic():
    d2 = Design(MATRIX, PARTICLE, diameter=0.2, volume_fraction=3 * math.pi * 0.01)
    assert d2.expected_particle_count(2) == pytest.approx(3.0, rel=1e-12)
    d3 = Design(MATRIX, PARTICLE, diameter=0.2, volume_fraction=4 / 3 * math.pi * 1e-3 * 2.5)
    assert d3.expected_particle_count(3) == pytest.approx(2.5, rel=1e-12)
    assert Design(MATRIX, PARTICLE, 0.2, 0.0).expected_particle_count(2) == 0.0
    assert d2.diagnostics == {} and d2.diagnostics is not Design(MATRIX, PARTICLE, 0.2, 0.1).diagnostics


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(diameter=1.2, vf=0.5), "larger than the unit cell"),
        (dict(diameter=0.2, vf=0.95), "densest packing"),
        (dict(diameter=0.2, vf=0.75, dim=3), "densest packing"),
        (dict(diameter=0.6, vf=0.5), "do not fit"),  # two discs of d=0.6 need a diagonal of 0.6·√2
    ],
)
def test_impossible_requests_raise_immediately(kwargs, match):
    t = time.perf_counter()
    with pytest.raises(InputError, match=match):
        gen(kwargs["diameter"], kwargs["vf"], dim=kwargs.get("dim", 2))
    assert time.perf_counter() - t < 0.5


def test_oler_bound_rejects_only_impossible_counts():
    check_packing(25, 0.1, 2)  # 5×5 square lattice of touching discs fits exactly
    check_packing(4, 0.25, 2)  # four discs in the corners
    check_packing(5, 0.2, 2)  # largest radius for 5 discs in a unit square is 0.2071
    with pytest.raises(InputError, match="Oler"):
        check_packing(7, 0.2, 2)  # density 0.88 passes the density bound; 7 discs need r <= 0.1745


def test_too_dense_for_random_placement_raises_after_capped_restarts():
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    with pytest.raises(InputError, match="too dense for random placement"):
        place_particles(45, 0.075, 2, rng, max_iterations=300, max_attempts=2)  # vf 0.80
    assert time.perf_counter() - t < 2.0


@pytest.mark.slow
def test_generate_gives_up_within_default_caps():
    t = time.perf_counter()
    with pytest.raises(InputError, match="5 attempts of 10000 iterations"):
        gen(0.3, 0.75)  # 11 discs: fits as a packing, never reached by random push-apart
    assert time.perf_counter() - t < 30


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(dim=4), "dim"),
        (dict(size=1), "size"),
        (dict(diameter=-0.1), "diameter"),
        (dict(diameter=float("nan")), "diameter"),
        (dict(volume_fraction=1.5), "volume_fraction"),
        (dict(n_particles=-1), "n_particles"),
        (dict(diameter=0.0), "diameter=0"),
        (dict(matrix="steel"), "matrix"),
    ],
)
def test_invalid_arguments_name_the_field(kwargs, field):
    args = dict(matrix=MATRIX, particle=PARTICLE, diameter=0.2, volume_fraction=0.3, size=16, dim=2)
    args.update(kwargs)
    with pytest.raises(InputError, match=field):
        generate(args.pop("matrix"), args.pop("particle"), rng=np.random.default_rng(0), **args)
