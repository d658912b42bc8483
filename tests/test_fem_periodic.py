"""Periodic homogenization (bc="periodic") through the public API, against physics and an independent solver."""

import numpy as np
import pytest
import torch

from matdesign.errors import InputError
from matdesign.fem import Homogenizer, bulk_modulus, effective_stiffness, voigt_reuss_bounds
from matdesign.fem.moduli import bulk_from_young
from periodic_reference import periodic_bulk, periodic_stiffness


def _two_phase(rng, shape, contrast, p=0.4):
    stiff = rng.random(shape) < p
    return np.where(stiff, contrast, 1.0), np.where(stiff, 0.2, 0.45), stiff


@pytest.mark.parametrize("dim,n,solver", [(2, 8, "condense"), (2, 16, "condense"), (2, 16, "pcg"), (3, 4, "pcg")])
@pytest.mark.parametrize("contrast", [1e2, 1e4])
def test_periodic_stiffness_matches_independent_solver(dim, n, solver, contrast):
    rng = np.random.default_rng(n + int(contrast))
    E, nu, _ = _two_phase(rng, (n,) * dim, contrast)
    C = effective_stiffness(E, nu, dim=dim, bc="periodic", solver=solver)
    ref = periodic_stiffness(E, nu)
    assert np.abs(C - ref).max() <= 1e-8 * np.abs(ref).max()
    K = bulk_modulus(E, nu, dim=dim, bc="periodic", solver=solver)
    assert K == pytest.approx(periodic_bulk(E, nu), rel=1e-8)


@pytest.mark.parametrize("dim,n,solver", [(2, 32, "condense"), (2, 32, "pcg"), (3, 8, "pcg")])
def test_homogeneous_and_equal_bulk_modulus_are_exact(dim, n, solver):
    rng = np.random.default_rng(3)
    E, nu = np.full((n,) * dim, 7.0), np.full((n,) * dim, 0.3)
    K = bulk_modulus(E, nu, dim=dim, bc="periodic", solver=solver)
    assert K == pytest.approx(bulk_from_young(7.0, 0.3, dim), rel=1e-9)
    # two phases with one bulk modulus and different shear moduli: K is that bulk modulus exactly
    k0 = 5.0
    stiff = rng.random((n,) * dim) < 0.5
    nu2 = np.where(stiff, 0.1, 0.4)
    E2 = k0 * (2 * (1 - nu2) if dim == 2 else 3 * (1 - 2 * nu2))
    assert bulk_modulus(E2, nu2, dim=dim, bc="periodic", solver=solver) == pytest.approx(k0, rel=1e-8)


def test_periodic_below_affine_and_within_voigt_reuss():
    rng = np.random.default_rng(5)
    for contrast in (3.0, 1e2, 1e4):
        E, nu, stiff = _two_phase(rng, (12, 32, 32), contrast, p=rng.uniform(0.1, 0.6))
        Kp = bulk_modulus(E, nu, dim=2, bc="periodic")
        Ka = bulk_modulus(E, nu, dim=2, bc="affine")
        k_phase = np.stack([bulk_from_young(1.0, 0.45, 2), bulk_from_young(contrast, 0.2, 2)], -1)
        f = stiff.reshape(12, -1).mean(1)
        reuss, voigt = voigt_reuss_bounds(k_phase, np.stack([1 - f, f], -1))
        assert np.all(Kp <= Ka * (1 + 1e-12))
        assert np.all(Kp < Ka)  # strictly: heterogeneous fields
        assert np.all((reuss * (1 - 1e-12) <= Kp) & (Kp <= voigt * (1 + 1e-12)))


def test_tiled_cell_has_the_cell_modulus():
    rng = np.random.default_rng(7)
    E, nu, _ = _two_phase(rng, (16, 16), 50.0)
    K1 = bulk_modulus(E, nu, dim=2, bc="periodic")
    K2 = bulk_modulus(np.tile(E, (2, 2)), np.tile(nu, (2, 2)), dim=2, bc="periodic")
    shifted = bulk_modulus(np.roll(E, (5, 3), (0, 1)), np.roll(nu, (5, 3), (0, 1)), dim=2, bc="periodic")
    assert K2 == pytest.approx(K1, rel=1e-10)
    assert shifted == pytest.approx(K1, rel=1e-10)  # no wall: a shifted tile is the same composite
    assert bulk_modulus(np.roll(E, 5, 0), np.roll(nu, 5, 0), dim=2, bc="affine") != pytest.approx(
        bulk_modulus(E, nu, dim=2, bc="affine"), rel=1e-6)


@pytest.mark.parametrize("dim,solver", [(2, "condense"), (2, "pcg"), (3, "pcg")])
def test_gradient_matches_finite_differences(dim, solver):
    rng = np.random.default_rng(11)
    E, nu, _ = _two_phase(rng, (16, 16) if dim == 2 else (6, 6, 6), 30.0)
    Et = torch.tensor(E, requires_grad=True)
    nut = torch.tensor(nu, requires_grad=True)
    bulk_modulus(Et, nut, dim=dim, bc="periodic", solver=solver).backward()
    for idx in [(0, 0), (3, 15), (9, 4)] if dim == 2 else [(0, 0, 0), (5, 2, 3)]:
        for field, grad, h in ((E, Et.grad, 1e-4 * E[idx]), (nu, nut.grad, 1e-5)):
            up, dn = field.copy(), field.copy()
            up[idx] += h
            dn[idx] -= h
            args = [(up, nu), (dn, nu)] if field is E else [(E, up), (E, dn)]
            fd = (bulk_modulus(*args[0], dim=dim, bc="periodic", solver=solver)
                  - bulk_modulus(*args[1], dim=dim, bc="periodic", solver=solver)) / (2 * h)
            assert float(grad[idx]) == pytest.approx(fd, rel=1e-5, abs=1e-12)


def test_threaded_batch_equals_single_thread():
    rng = np.random.default_rng(13)
    E, nu, _ = _two_phase(rng, (4, 32, 32), 1e3)
    hom = Homogenizer(2, 32, bc="periodic", chunk=1)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        K2 = hom.bulk_modulus(E, nu)
        torch.set_num_threads(1)
        K1 = hom.bulk_modulus(E, nu)
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(K1, K2)
    assert hom.last_info["bc"] == "periodic"


def test_bad_boundary_condition_is_one_clear_error():
    E, nu = np.full((8, 8), 1.0), np.full((8, 8), 0.3)
    with pytest.raises(InputError, match="bc='walls'"):
        bulk_modulus(E, nu, dim=2, bc="walls")
    with pytest.raises(InputError, match="SciPy reference is affine only"):
        Homogenizer(2, 8, bc="periodic", solver="scipy")
