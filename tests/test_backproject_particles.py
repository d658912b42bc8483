"""Particle finding on hand-made masks: counts, radii, flags, the paper's suppression rule."""

import numpy as np
import pytest

from matdesign.backproject.particles import (
    boundary_fraction,
    choose_particle_phase,
    find_particles,
    suppress_non_maxima,
)
from matdesign.microstructure.voxelize import voxelize


def test_suppression_keeps_one_point_per_disc_and_separate_discs():
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.5, 0.0]])
    d = np.array([5.0, 5.0, 4.0, 3.0, 2.0])
    assert sorted(suppress_non_maxima(points, d)) == [0, 3]  # tie at index 0/1: first wins
    assert sorted(suppress_non_maxima(points, d, factor=2.0)) == [0, 4]  # 10 <= 2·5 < 10.5
    assert sorted(suppress_non_maxima(points, d, factor=2.1)) == [0]


def test_boundary_fraction_counts_edge_voxels():
    mask = np.zeros((10, 10), bool)
    mask[0, :] = True  # one full edge of 36 boundary voxels
    assert boundary_fraction(mask) == pytest.approx(10 / 36)


@pytest.mark.parametrize("dim,size,radius", [(2, 64, 0.13), (3, 32, 0.16)])
def test_single_particle_radius_within_a_tenth_voxel(dim, size, radius):
    centre = np.full((1, dim), 0.47)
    fit = find_particles(voxelize(centre, radius, size))
    assert fit.count == 1 and not fit.skipped
    assert fit.radius / size == pytest.approx(radius, abs=0.1 / size)
    np.testing.assert_allclose(fit.centers[0] / size, centre[0], atol=1.5 / size)
    assert not fit.touching_each_other and not fit.touching_boundary


def test_touching_particles_are_counted_separately_and_flagged():
    r = 0.1
    centres = np.array([[0.3, 0.5], [0.3 + 2 * r, 0.5], [0.75, 0.2]])  # first two in contact
    fit = find_particles(voxelize(centres, r, 64))
    assert fit.count == 3
    assert fit.touching_each_other
    assert fit.radius / 64 == pytest.approx(r, abs=0.2 / 64)


def test_paper_method_underestimates_radius_by_edt_bias():
    fit = find_particles(voxelize(np.array([[0.5, 0.5]]), 0.15, 64), method="paper")
    assert fit.count == 1
    assert 0 < 0.15 * 64 - fit.radius < 1.0  # EDT maximum of a centre-in disc lies below r


def test_matrix_case_is_skipped_and_particle_phase_chosen():
    mask = voxelize(np.array([[0.3, 0.3], [0.7, 0.7]]), 0.12, 64)
    label, fits = choose_particle_phase(mask.astype(int))
    assert label == 1
    assert fits[0].skipped == "covers boundary"
    # swapping the labels swaps the choice
    label, _ = choose_particle_phase((~mask).astype(int))
    assert label == 0


def test_particle_cut_by_boundary_is_flagged():
    fit = find_particles(voxelize(np.array([[0.05, 0.5]]), 0.12, 64))
    assert fit.touching_boundary and fit.count == 1


def test_thin_lines_have_no_centres():
    mask = np.zeros((32, 32), bool)
    mask[16, 4:28] = True
    assert find_particles(mask).skipped == "no centres"
    assert find_particles(np.zeros((8, 8), bool)).skipped == "empty"
