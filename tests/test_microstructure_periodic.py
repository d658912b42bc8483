"""Periodic RVE placement, periodic voxelization, arrangement statistics and generate_rve."""

import math

import numpy as np
import pytest
from scipy.spatial import cKDTree

from matdesign.errors import InputError
from matdesign.materials import Material
from matdesign.microstructure import generate_rve
from matdesign.microstructure.periodic import place_periodic
from matdesign.microstructure.placement import particle_volume, place_particles
from matdesign.microstructure.placement_stats import contact_stats, spans, wall_fraction, wraps
from matdesign.microstructure.rve import voxelize_periodic

MATRIX = Material("epoxy", 3.5, 0.35, 1.2)
PARTICLE = Material("alumina", 370.0, 0.22, 3.95)


def rve(diameter, vf, cells=1, dim=2, seed=0, **kw):
    size = kw.pop("size_per_cell", 32 if dim == 3 else 64)
    return generate_rve(MATRIX, PARTICLE, diameter=diameter, volume_fraction=vf, cells=cells, dim=dim,
                        size_per_cell=size, rng=np.random.default_rng(seed), **kw)


def min_image_distance(x, box):
    """Smallest minimum-image distance over all pairs, brute force over all pairs."""
    diff = x[:, None, :] - x[None, :, :]
    diff -= box * np.round(diff / box)
    d = np.linalg.norm(diff, axis=-1)
    return d[np.triu_indices(len(x), 1)].min()


CASES = [  # RSA in 3D below its jamming limit (≈ 0.38)
    (m, 2, d, 0.5) for m in ("equilibrated", "rsa") for d in (0.15, 0.4)
] + [("equilibrated", 3, 0.35, 0.45), ("equilibrated", 3, 0.2, 0.45), ("rsa", 3, 0.2, 0.3)]


@pytest.mark.parametrize("method,dim,diameter,vf", CASES)
@pytest.mark.parametrize("cells", [1, 2, 3])
def test_disjoint_under_minimum_image(method, dim, diameter, vf, cells):
    ms = rve(diameter, vf, cells, dim, placement=method)
    x = ms.centers * cells  # design-cell units
    n = math.floor(vf * cells**dim / particle_volume(diameter / 2, dim) + 0.5)
    assert ms.n_particles == n and x.min() >= 0 and x.max() < cells
    assert ms.radius * cells == pytest.approx(diameter / 2) and ms.size == (32 if dim == 3 else 64) * cells
    assert min_image_distance(x, cells) >= diameter


def test_rsa_refuses_beyond_its_jamming_limit():
    with pytest.raises(InputError, match="too dense for RSA"):
        rve(0.3, 0.45, 1, 3, placement="rsa")


@pytest.mark.parametrize("dim,diameter,vf,cells", [(2, 0.15, 0.5, 2), (2, 0.3, 0.3, 3), (3, 0.25, 0.3, 2)])
def test_voxel_fraction_close_to_design(dim, diameter, vf, cells):
    ms = rve(diameter, vf, cells, dim)
    size = ms.size
    v = particle_volume(diameter / 2, dim)
    exact = ms.n_particles * v / cells**dim  # after rounding the count
    # rounding the count moves vf by at most half a particle
    assert abs(exact - vf) <= 0.5 * v / cells**dim + 1e-12
    # voxel counting is unbiased: the error is a small fraction of one voxel layer per particle
    surface = 2 * math.pi * (diameter / 2) if dim == 2 else 4 * math.pi * (diameter / 2) ** 2
    layer = ms.n_particles * surface / (size / cells) / cells**dim
    assert abs(ms.volume_fraction - exact) < 0.1 * layer


def test_single_particle_at_a_corner_wraps_into_all_corners():
    size, r = 40, 0.2
    for dim in (2, 3):
        mask = voxelize_periodic(np.zeros((1, dim)), r, size)
        h = size // 2
        pieces = [mask[tuple(slice(0, h) if b == 0 else slice(h, size) for b in corner)]
                  for corner in np.ndindex(*(2,) * dim)]
        assert all(p.sum() == mask.sum() / 2**dim > 0 for p in pieces)  # equal pieces by symmetry
        exact = math.pi * r**2 if dim == 2 else 4 / 3 * math.pi * r**3
        assert abs(mask.mean() - exact) < 0.05 * exact
        # the same disc, centred, has the same voxel count as its wrapped pieces together
        assert mask.sum() == voxelize_periodic(np.full((1, dim), 0.5), r, size).sum()


def test_rolled_field_is_the_voxelization_of_shifted_centres():
    ms = rve(0.3, 0.4, 2, seed=5)
    shift = (17, 93)
    rolled = np.roll(ms.particle_mask, shift, axis=(0, 1))
    moved = np.mod(ms.centers + np.array(shift) / ms.size, 1.0)
    np.testing.assert_array_equal(rolled, voxelize_periodic(moved, ms.radius, ms.size))


def test_particles_cross_edges_and_show_up_opposite():
    ms = rve(0.15, 0.5, 1, seed=1)  # 28 discs: several cut by the x edges
    x, y = ms.centers[:, 0], (ms.centers[:, 1] * ms.size).astype(int)
    reach = ms.radius - 2 / ms.size  # caps at least 2 voxels deep beyond x = 0 / x = 1
    low, high = x < reach, x > 1 - reach
    assert low.any() and high.any()
    assert ms.particle_mask[-1, y[low]].all() and ms.particle_mask[0, y[high]].all()  # caps opposite


def test_near_contacts_below_paper_placement():
    d, vf, gap = 0.2, 0.3, 1 / 64
    rng = np.random.default_rng(0)
    n = math.floor(vf / particle_volume(d / 2, 2) + 0.5)
    stats = {m: [] for m in ("paper", "rsa", "equilibrated")}
    for _ in range(30):
        stats["paper"].append(contact_stats(place_particles(n, d / 2, 2, rng), d / 2, 1.0, gap, False))
        for m in ("rsa", "equilibrated"):
            stats[m].append(contact_stats(place_periodic(n, d / 2, 2, 1.0, rng, m), d / 2, 1.0, gap, True))
    mean = {m: np.mean([s["per_particle"] for s in v]) for m, v in stats.items()}
    assert mean["rsa"] < 0.7 * mean["paper"] and mean["equilibrated"] < 0.7 * mean["paper"]


def test_wall_fraction_and_contacts_follow_definitions():
    x = np.array([[0.05, 0.5], [0.5, 0.5], [0.7, 0.5]])
    assert wall_fraction(x, 0.04, 1.0, 0.02) == pytest.approx(1 / 3)
    s = contact_stats(x, 0.09, 1.0, 0.03, periodic=False)  # gap 0.2 - 0.18 = 0.02 < 0.03
    assert s == {"pair_fraction": 1 / 3, "per_particle": 2 / 3, "particle_fraction": 2 / 3}
    wrapped = np.array([[0.02, 0.5], [0.97, 0.5]])  # 0.05 apart across the periodic edge
    assert contact_stats(wrapped, 0.02, 1.0, 0.02, periodic=True)["pair_fraction"] == 1.0
    assert contact_stats(wrapped, 0.02, 1.0, 0.02, periodic=False)["pair_fraction"] == 0.0


def test_spanning_and_wrapping_clusters():
    m = np.zeros((8, 8), dtype=bool)
    m[3, 1:] = True  # touches one x face only... and the y = 7 face but not y = 0
    assert not spans(m) and not wraps(m)
    m[3, 0] = True
    assert spans(m) and wraps(m)
    d = np.zeros((8, 8), dtype=bool)  # a staircase: joins its image only through the seams
    for i in range(8):
        d[i, i] = d[i, (i + 1) % 8] = True
    assert wraps(d)
    ring = np.zeros((8, 8), dtype=bool)  # a closed loop across a seam does not wrap
    ring[[0, 0, 7, 7], [2, 3, 2, 3]] = True
    assert not wraps(ring) and not spans(ring)


def test_reproducible_for_a_seed():
    for placement in ("equilibrated", "rsa"):
        a, b = rve(0.2, 0.4, 2, seed=3, placement=placement), rve(0.2, 0.4, 2, seed=3, placement=placement)
        np.testing.assert_array_equal(a.centers, b.centers)
        np.testing.assert_array_equal(a.fields, b.fields)
        assert not np.array_equal(a.centers, rve(0.2, 0.4, 2, seed=4, placement=placement).centers)


def test_paper_placement_is_the_walled_generator():
    ms = rve(0.2, 0.3, 1, seed=2, placement="paper")
    assert ms.centers.min() >= 0.1 and ms.centers.max() <= 0.9 and ms.size == 64
    with pytest.raises(InputError, match="cells=1"):
        rve(0.2, 0.3, 2, placement="paper")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(vf=0.95), "densest packing"),
        (dict(vf=0.75, dim=3), "densest packing"),
        (dict(diameter=2.5, vf=0.1, cells=2), "exceeds the cell side"),
        (dict(diameter=1.2, vf=0.0), "exceeds the cell side"),
        (dict(diameter=0.6, vf=0.5), "cell side / 2"),
        (dict(diameter=-0.1), "diameter"),
        (dict(diameter=float("nan")), "diameter"),
        (dict(vf=float("nan")), "volume_fraction"),
        (dict(vf=-0.1), "volume_fraction"),
        (dict(cells=0), "cells"),
        (dict(cells=1.5), "cells"),
        (dict(placement="grid"), "placement"),
        (dict(diameter=0.0), "diameter=0"),
    ],
)
def test_impossible_requests_raise(kwargs, match):
    args = dict(diameter=0.2, vf=0.3)
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        rve(args.pop("diameter"), args.pop("vf"), **args)


@pytest.mark.parametrize("vf", [0.3, 0.5])
def test_min_gap_keeps_particles_one_voxel_apart_on_the_grid(vf):
    size, d, gap = 64, 0.15, 1 / 64
    ms = generate_rve(Material("m", 1.0, 0.3, 1.0), Material("p", 100.0, 0.2, 2.0), diameter=d,
                      volume_fraction=vf, cells=2, size_per_cell=size, dim=2, rng=np.random.default_rng(4),
                      min_gap=gap)
    box = 1.0  # ms.centers and ms.radius are relative to the RVE
    tree = cKDTree(ms.centers, boxsize=box)
    pairs = tree.query_pairs(2 * ms.radius + gap / 2 * (1 - 1e-9), output_type="ndarray")
    assert len(pairs) == 0  # centre distances ≥ d + gap (RVE units: gap / cells)
    # no voxel of one particle shares a face (across the edges too) with a voxel of another; corners may
    # touch (two voxel centres a diagonal apart can lie in two disks one voxel apart)
    owner = np.full(ms.particle_mask.shape, -1)
    for k, c in enumerate(ms.centers):
        owner[voxelize_periodic(c[None], ms.radius, ms.particle_mask.shape[0])] = k
    assert (owner >= 0).sum() == ms.particle_mask.sum()
    for shift in [(0, 1), (1, 0)]:
        other = np.roll(owner, shift, (0, 1))
        assert not np.any((owner >= 0) & (other >= 0) & (owner != other))
    without = generate_rve(Material("m", 1.0, 0.3, 1.0), Material("p", 100.0, 0.2, 2.0), diameter=d,
                           volume_fraction=vf, cells=2, size_per_cell=size, dim=2, rng=np.random.default_rng(4))
    close = cKDTree(without.centers, boxsize=box).query_pairs(2 * without.radius + gap / 2 * (1 - 1e-9))
    assert len(close) > 0  # the hard-disk ensemble itself has near contacts: the test could fail


def test_min_gap_must_be_a_nonnegative_number():
    with pytest.raises(InputError, match="min_gap=-0.1"):
        generate_rve(Material("m", 1.0, 0.3, 1.0), Material("p", 100.0, 0.2, 2.0), diameter=0.2,
                     volume_fraction=0.3, rng=np.random.default_rng(0), min_gap=-0.1)
