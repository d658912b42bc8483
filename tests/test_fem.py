"""matdesign.fem: analytic cases, solver agreement, stiffness tensor, API behaviour and input errors."""

import numpy as np
import pytest
import torch

from matdesign.errors import InputError
from matdesign.fem import (
    Homogenizer,
    bulk_from_young,
    bulk_modulus,
    effective_density,
    effective_stiffness,
    isotropic_projection,
    isotropic_stiffness,
    voigt_reuss_bounds,
)

SOLVERS = ["condense", "pcg", "scipy"]
GRIDS = {2: 8, 3: 4}


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("E,nu", [(1.0, 0.0), (70.0, 0.33), (0.002, 0.49), (466.0, -0.5)])
def test_homogeneous_material_gives_analytic_bulk_modulus(dim, solver, E, nu):
    n = GRIDS[dim]
    K = bulk_modulus(np.full((n,) * dim, E), np.full((n,) * dim, nu), dim=dim, solver=solver)
    expected = E / (3 * (1 - 2 * nu)) if dim == 3 else E / (2 * (1 - nu))
    assert float(K) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("solver", SOLVERS)
def test_phases_with_equal_bulk_modulus_give_that_modulus(dim, solver):
    """Affine displacement is then the exact solution, whatever the shear moduli."""
    rng = np.random.default_rng(dim)
    n, K0 = GRIDS[dim] * 2, 12.5
    nu = rng.uniform(-0.3, 0.49, (3,) + (n,) * dim)
    E = 3 * K0 * (1 - 2 * nu) if dim == 3 else 2 * K0 * (1 - nu)  # same K, shear moduli vary ~100x
    np.testing.assert_allclose(bulk_modulus(E, nu, dim=dim, solver=solver), K0, rtol=1e-8)


def two_phase(rng, dim, n, batch):
    mask = rng.random((batch,) + (n,) * dim) < 0.35
    E = np.where(mask, 300.0, 0.5)
    nu = np.where(mask, 0.2, 0.45)
    return E, nu, mask


@pytest.mark.parametrize("dim,n", [(2, 16), (3, 8)])
def test_solvers_agree_and_pcg_reports_iterations(dim, n):
    rng = np.random.default_rng(3)
    E, nu, mask = two_phase(rng, dim, n, 3)
    K_direct = bulk_modulus(E, nu, dim=dim, solver="scipy")
    K_condense = bulk_modulus(E, nu, dim=dim, solver="condense")
    np.testing.assert_allclose(K_condense, K_direct, rtol=1e-10)
    hom = Homogenizer(dim, n, solver="pcg", tol=1e-6)
    K_pcg = hom.bulk_modulus(E, nu)
    np.testing.assert_allclose(K_pcg, K_direct, rtol=1e-6)  # energy error is quadratic in the residual
    info = hom.last_info
    assert info["solver"] == "pcg" and info["iterations"].shape == (3,)
    assert np.all(info["iterations"] > 0) and np.all(info["residual"] <= 1e-6)
    reuss, voigt = voigt_reuss_bounds(
        np.stack([bulk_from_young(0.5, 0.45, dim), bulk_from_young(300.0, 0.2, dim)]),
        np.stack([1 - mask.mean(axis=tuple(range(1, dim + 1))), mask.mean(axis=tuple(range(1, dim + 1)))], -1),
    )
    assert np.all((reuss < K_direct) & (K_direct < voigt))


def test_warm_start_reduces_iterations():
    rng = np.random.default_rng(4)
    E, nu, _ = two_phase(rng, 3, 8, 2)
    hom = Homogenizer(3, 8, solver="pcg", tol=1e-10)
    K1 = hom.bulk_modulus(E, nu)
    cold = hom.last_info["iterations"]
    assert not hom.last_info["warm_started"]
    E2 = E * (1 + 1e-4 * rng.standard_normal(E.shape))
    K2 = hom.bulk_modulus(E2, nu)
    assert hom.last_info["warm_started"]
    assert np.all(hom.last_info["iterations"] < cold)
    np.testing.assert_allclose(K2, bulk_modulus(E2, nu, dim=3, solver="scipy"), rtol=1e-9)
    assert not np.allclose(K1, K2, rtol=1e-12)


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("solver", SOLVERS)
def test_homogeneous_stiffness_is_the_isotropic_tensor(dim, solver):
    n = GRIDS[dim]
    C = effective_stiffness(np.full((n,) * dim, 70.0), np.full((n,) * dim, 0.33), dim=dim, solver=solver)
    np.testing.assert_allclose(C, isotropic_stiffness(70.0, 0.33, dim), rtol=1e-9, atol=1e-9)
    iso = isotropic_projection(C, dim)
    assert iso["E"] == pytest.approx(70.0, rel=1e-9) and iso["nu"] == pytest.approx(0.33, rel=1e-9)
    assert iso["K"] == pytest.approx(bulk_from_young(70.0, 0.33, dim), rel=1e-9)


def test_plane_stress_stiffness_entries():
    C = isotropic_stiffness(10.0, 0.25, 2)
    assert C[0, 0] == pytest.approx(10.0 / (1 - 0.25**2)) and C[0, 1] == pytest.approx(2.5 / (1 - 0.25**2))
    assert C[2, 2] == pytest.approx(10.0 / 2.5)


@pytest.mark.parametrize("dim,n", [(2, 8), (3, 4)])
def test_stiffness_symmetric_and_consistent_with_bulk_modulus(dim, n):
    rng = np.random.default_rng(5)
    E, nu, _ = two_phase(rng, dim, n, 2)
    C = effective_stiffness(E, nu, dim=dim)
    np.testing.assert_allclose(C, np.swapaxes(C, 1, 2), rtol=1e-12)
    assert np.all(np.linalg.eigvalsh(C) > 0)
    K_from_C = C[:, :dim, :dim].sum((1, 2)) / dim**2  # ε = I is the sum of the normal unit strains
    np.testing.assert_allclose(K_from_C, bulk_modulus(E, nu, dim=dim), rtol=1e-10)
    # the heterogeneous structure is anisotropic: the off-isotropic part is nonzero
    assert not np.allclose(C[:, 0, 0], C[:, 1, 1], rtol=1e-6)


def test_batch_dims_and_torch_dtype_device_roundtrip():
    rng = np.random.default_rng(6)
    E, nu, _ = two_phase(rng, 2, 8, 6)
    K_np = bulk_modulus(E.reshape(2, 3, 8, 8), nu.reshape(2, 3, 8, 8), dim=2)
    assert K_np.shape == (2, 3) and K_np.dtype == np.float64
    K_t = bulk_modulus(torch.tensor(E, dtype=torch.float32), torch.tensor(nu, dtype=torch.float32), dim=2)
    assert K_t.dtype == torch.float32 and K_t.shape == (6,)
    np.testing.assert_allclose(K_t.numpy(), K_np.ravel(), rtol=1e-5)
    # a scalar ν broadcasts against the E grid
    assert bulk_modulus(E[0], 0.45, dim=2) == pytest.approx(bulk_modulus(E[0], np.full((8, 8), 0.45), dim=2))


def test_effective_density_is_mean():
    rho = np.arange(16.0).reshape(1, 4, 4)
    assert effective_density(rho, dim=2)[0] == pytest.approx(7.5)
    assert float(effective_density(torch.tensor(rho), dim=2)[0]) == pytest.approx(7.5)


@pytest.mark.parametrize(
    "E,nu,dim,message",
    [
        (np.ones((4, 5)), np.full((4, 5), 0.3), 2, "square"),
        (np.ones((4, 4)), np.full((4, 4), 0.3), 3, "cube"),
        (np.ones((1, 1)), np.full((1, 1), 0.3), 2, "at least 2"),
        (np.full((4, 4), np.nan), np.full((4, 4), 0.3), 2, "NaN"),
        (np.full((4, 4), np.inf), np.full((4, 4), 0.3), 2, "NaN or inf"),
        (np.zeros((4, 4)), np.full((4, 4), 0.3), 2, "E must be > 0"),
        (np.ones((4, 4)), np.full((4, 4), 0.5), 2, "nu must lie"),
        (np.ones((4, 4)), np.full((4, 4), -1.0), 2, "nu must lie"),
        (np.ones((4, 4)), np.full((3, 3), 0.3), 2, "broadcast"),
        (np.ones((4, 4)), np.full((4, 4), 0.3), 4, "dim"),
    ],
)
def test_input_errors(E, nu, dim, message):
    with pytest.raises(InputError, match=message):
        bulk_modulus(E, nu, dim=dim)


def test_homogenizer_rejects_wrong_size_and_options():
    with pytest.raises(InputError, match="size"):
        Homogenizer(2, 8).bulk_modulus(np.ones((4, 4)), np.full((4, 4), 0.3))
    with pytest.raises(InputError, match="solver"):
        Homogenizer(2, 8, solver="magic")
    with pytest.raises(InputError, match="solver"):
        bulk_modulus(np.ones((4, 4)), np.full((4, 4), 0.3), dim=2, solver="magic")


def test_pcg_on_odd_grid_without_coarse_solve():
    """n = 55 cannot be coarsened and is too large for the exact bottom solve: smoothing-only bottom."""
    rng = np.random.default_rng(8)
    E, nu, _ = two_phase(rng, 2, 55, 1)
    hom = Homogenizer(2, 55, solver="pcg", tol=1e-9)
    K = hom.bulk_modulus(E, nu)
    assert hom.last_info["converged"]
    np.testing.assert_allclose(K, bulk_modulus(E, nu, dim=2, solver="scipy"), rtol=1e-8)
