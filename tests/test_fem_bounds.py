"""Voigt–Reuss bounds on random two-phase microstructures: a conforming displacement FEM with affine
boundary conditions lies between them, so the count of violations must be exactly zero."""

import numpy as np
import pytest

from matdesign.fem import Homogenizer, bulk_from_young, voigt_reuss_bounds
from matdesign.materials import Material
from matdesign.microstructure import DIAMETER_RANGE, VOLUME_FRACTION_RANGE, generate


def random_two_phase(rng, dim, size, count):
    """Particles (microstructure.generate, the paper's size ranges) with random phases: E log-uniform 0.001..500 GPa, ν 0..0.49.

    Every fourth sample uses a random voxel mask instead (percolating clusters). Returns E, ν fields,
    phase properties (count, 2, 2) = [[E_m, ν_m], [E_p, ν_p]] and volume fractions (count, 2).
    """
    E = np.empty((count,) + (size,) * dim)
    nu = np.empty_like(E)
    phases = np.empty((count, 2, 2))
    fractions = np.empty((count, 2))
    for i in range(count):
        (Em, Ep), (nm, n_p) = 10 ** rng.uniform(-3, np.log10(500), 2), rng.uniform(0.0, 0.49, 2)
        if i % 4 == 3:
            mask = rng.random((size,) * dim) < rng.uniform(0.1, 0.9)
        else:
            mask = generate(Material("m", Em, nm, 1.0), Material("p", Ep, n_p, 1.0),
                            diameter=rng.uniform(*DIAMETER_RANGE[dim]),
                            volume_fraction=rng.uniform(*VOLUME_FRACTION_RANGE[dim]),
                            size=size, dim=dim, rng=rng).particle_mask
        E[i], nu[i] = np.where(mask, Ep, Em), np.where(mask, n_p, nm)
        phases[i] = [[Em, nm], [Ep, n_p]]
        fractions[i] = [1 - mask.mean(), mask.mean()]
    return E, nu, phases, fractions


def check_bounds(dim, size, count, seed, solver="auto"):
    rng = np.random.default_rng(seed)
    E, nu, phases, fractions = random_two_phase(rng, dim, size, count)
    K = Homogenizer(dim, size, solver=solver, tol=1e-8).bulk_modulus(E, nu)
    K_phase = bulk_from_young(phases[..., 0], phases[..., 1], dim)  # 2D: plane-stress E/(2(1−ν))
    reuss, voigt = voigt_reuss_bounds(K_phase, fractions)
    slack = 1e-9 * voigt
    assert np.sum(K < reuss - slack) == 0 and np.sum(K > voigt + slack) == 0
    # the bounds are not trivially loose: with these contrasts K sits strictly inside
    assert np.mean((K > reuss * (1 + 1e-6)) & (K < voigt * (1 - 1e-6))) > 0.9
    return K, reuss, voigt


def test_voigt_reuss_bounds_3d():
    check_bounds(3, 10, 200, seed=1)


def test_voigt_reuss_bounds_2d_plane_stress():
    check_bounds(2, 32, 200, seed=2)


@pytest.mark.slow
def test_voigt_reuss_bounds_3d_32():
    check_bounds(3, 32, 200, seed=3)
