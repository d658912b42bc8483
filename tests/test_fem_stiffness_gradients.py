"""Energy-form gradient of the effective stiffness C against central finite differences (float64).

The claim under test: ``dC_ij/dθ = u_iᵀ(∂K_h/∂θ)u_j / V`` with the solutions u_i of the unit Voigt
strains frozen — no second solve.
"""

import numpy as np
import pytest
import torch

from matdesign.fem import (
    Homogenizer,
    bulk_modulus,
    effective_stiffness,
    isotropic_projection,
    isotropic_stiffness,
)


def fields(dim, n, batch, seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((batch,) + (n,) * dim) < 0.4
    E = np.where(mask, 200.0, 2.0) * rng.uniform(0.8, 1.25, mask.shape)
    nu = np.where(mask, 0.25, 0.42) + rng.uniform(-0.05, 0.05, mask.shape)
    return torch.tensor(E), torch.tensor(nu)


def central_difference(hom, E, nu, which, idx, rel_step=1e-5):
    """(C(θ + h) − C(θ − h)) / 2h for one voxel ``idx`` of E or ν, all samples: (B, R, R)."""
    x = E if which == "E" else nu
    h = rel_step * float(x[idx])
    out = []
    for sign in (1.0, -1.0):
        xs = x.clone()
        xs[idx] += sign * h
        args = (xs, nu) if which == "E" else (E, xs)
        out.append(hom.effective_stiffness(*args))
    return (out[0] - out[1]) / (2 * h)


@pytest.mark.parametrize("dim,n,solver", [(2, 6, "condense"), (2, 6, "scipy"), (3, 4, "pcg"), (3, 4, "condense")])
def test_every_entry_of_dC_matches_central_differences(dim, n, solver):
    """Each (i, j) of dC/dE_e and dC/dν_e from the frozen solutions equals the FD of C itself."""
    E, nu = fields(dim, n, 2, seed=dim)
    hom = Homogenizer(dim, n, solver=solver, tol=1e-13, warm_start=False)
    C, dC_dE, dC_dnu = hom.stiffness_with_gradient(E, nu)
    R = 3 if dim == 2 else 6
    assert C.shape == (2, R, R) and dC_dE.shape == (2, R, R) + (n,) * dim
    rng = np.random.default_rng(0)
    for flat in rng.choice(n**dim, 3, replace=False):
        vox = tuple(int(i) for i in np.unravel_index(flat, (n,) * dim))
        for which, grad in (("E", dC_dE), ("nu", dC_dnu)):
            for b in range(2):
                fd_all = central_difference(hom, E, nu, which, (b, *vox))
                fd = fd_all[b]
                analytic = grad[(b, slice(None), slice(None), *vox)]
                scale = float(analytic.abs().max())
                assert scale > 0
                np.testing.assert_allclose(analytic.numpy(), fd.numpy(), rtol=1e-5, atol=1e-6 * scale,
                                           err_msg=f"d C / d {which} at sample {b}, voxel {vox}")
                assert float(fd_all[1 - b].abs().max()) == 0.0  # the other sample does not see this voxel


@pytest.mark.parametrize("dim,n", [(2, 6), (3, 4)])
def test_autograd_through_public_function_matches_finite_differences(dim, n):
    """``effective_stiffness`` with torch inputs that require grad backpropagates any weighting of C."""
    E, nu = fields(dim, n, 2, seed=10 + dim)
    E.requires_grad_(True)
    nu.requires_grad_(True)
    C = effective_stiffness(E, nu, dim=dim, tol=1e-13)
    assert C.requires_grad and C.dtype == torch.float64
    W = torch.as_tensor(np.random.default_rng(1).normal(size=tuple(C.shape)))
    gE, gnu = torch.autograd.grad((C * W).sum(), (E, nu))
    hom = Homogenizer(dim, n, tol=1e-13, warm_start=False)
    rng = np.random.default_rng(2)
    for flat in rng.choice(E.numel(), 5, replace=False):
        idx = tuple(int(i) for i in np.unravel_index(flat, E.shape))
        for which, g in (("E", gE), ("nu", gnu)):
            fd = float((central_difference(hom, E.detach(), nu.detach(), which, idx) * W).sum())
            assert float(g[idx]) == pytest.approx(fd, rel=1e-5), (which, idx)


@pytest.mark.parametrize("dim,n", [(2, 8), (3, 4)])
def test_euler_identity_and_consistency_with_bulk_modulus(dim, n):
    """C is homogeneous of degree 1 in the E field: Σ_e E_e ∂C/∂E_e = C exactly; and K = Σ_{i,j≤d} C_ij/d²
    has the same value and gradient as ``bulk_modulus``."""
    E, nu = fields(dim, n, 3, seed=20 + dim)
    E.requires_grad_(True)
    nu.requires_grad_(True)
    hom = Homogenizer(dim, n, tol=1e-13, warm_start=False)
    C, dC_dE, _ = hom.stiffness_with_gradient(E.detach(), nu.detach())
    euler = (dC_dE * E.detach()[:, None, None]).flatten(3).sum(-1)
    np.testing.assert_allclose(euler.numpy(), C.numpy(), rtol=1e-9, atol=1e-9 * float(C.abs().max()))
    C = effective_stiffness(E, nu, dim=dim, tol=1e-13)
    K_from_C = C[:, :dim, :dim].sum((-1, -2)) / dim**2
    K = bulk_modulus(E, nu, dim=dim, tol=1e-13)
    np.testing.assert_allclose(K_from_C.detach().numpy(), K.detach().numpy(), rtol=1e-10)
    g_C = torch.autograd.grad(K_from_C.sum(), (E, nu))
    g_K = torch.autograd.grad(K.sum(), (E, nu))
    for a, b in zip(g_C, g_K):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-8, atol=1e-12 * float(b.abs().max()))


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("E0,nu0", [(70.0, 0.33), (3.0, -0.4), (400.0, 0.45)])
def test_homogeneous_material_gives_the_analytic_tensor_and_moduli(dim, E0, nu0):
    n = 4
    E = torch.full((n,) * dim, E0, dtype=torch.float64, requires_grad=True)
    nu = torch.full((n,) * dim, nu0, dtype=torch.float64, requires_grad=True)
    C = effective_stiffness(E, nu, dim=dim)
    np.testing.assert_allclose(C.detach().numpy(), isotropic_stiffness(E0, nu0, dim), rtol=1e-10, atol=1e-10 * E0)
    iso = isotropic_projection(C, dim)
    K0 = E0 / (2 * (1 - nu0)) if dim == 2 else E0 / (3 * (1 - 2 * nu0))
    for name, value in (("K", K0), ("G", E0 / (2 * (1 + nu0))), ("E", E0), ("nu", nu0)):
        assert float(iso[name].detach()) == pytest.approx(value, rel=1e-10, abs=1e-12), name
    # the isotropic moduli are differentiable; for a homogeneous field dE_eff/dE_e = 1/n_voxels
    (gE,) = torch.autograd.grad(iso["E"], E)
    np.testing.assert_allclose(gE.numpy(), 1.0 / n**dim, rtol=1e-8)


def test_batched_leading_dims_dtype_and_numpy_roundtrip():
    E, nu = fields(2, 6, 4, seed=5)
    C_np = effective_stiffness(E.numpy(), nu.numpy(), dim=2)
    assert isinstance(C_np, np.ndarray) and C_np.dtype == np.float64 and C_np.shape == (4, 3, 3)
    np.testing.assert_allclose(C_np, np.swapaxes(C_np, -1, -2), rtol=0, atol=1e-12)
    E32 = E.float().reshape(2, 2, 6, 6).requires_grad_(True)
    nu32 = nu.float().reshape(2, 2, 6, 6)
    C32 = effective_stiffness(E32, nu32, dim=2)
    assert C32.shape == (2, 2, 3, 3) and C32.dtype == torch.float32
    np.testing.assert_allclose(C32.detach().reshape(4, 3, 3).numpy(), C_np, rtol=1e-5)
    C32[1, 0, 2, 2].backward()  # C_66 of the third sample only
    assert torch.count_nonzero(E32.grad[0]) == 0 and torch.count_nonzero(E32.grad[1, 1]) == 0
    assert torch.all(E32.grad[1, 0] > 0)  # stiffening any voxel raises the shear stiffness
    with torch.no_grad():
        assert not effective_stiffness(E32, nu32, dim=2).requires_grad


def test_warm_started_homogenizer_gives_the_same_gradient():
    E, nu = fields(3, 4, 2, seed=9)
    hom = Homogenizer(3, 4, solver="pcg", tol=1e-12)
    ref = Homogenizer(3, 4, solver="condense")
    for step in range(2):
        Ei = (E * (1 + 0.01 * step)).requires_grad_(True)
        C = hom.effective_stiffness(Ei, nu)
        (g,) = torch.autograd.grad(C[:, 3:, 3:].sum(), Ei)
        Ej = Ei.detach().requires_grad_(True)
        (g_ref,) = torch.autograd.grad(ref.effective_stiffness(Ej, nu)[:, 3:, 3:].sum(), Ej)
        np.testing.assert_allclose(g.numpy(), g_ref.numpy(), rtol=1e-8)
        assert hom.last_info["warm_started"] == (step == 1)
