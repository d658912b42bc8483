"""matdesign.fem against an independent scikit-fem computation (own assembly, quadrature, stress average)."""

import numpy as np
import pytest

from matdesign.fem import bulk_modulus, effective_stiffness

skfem = pytest.importorskip("skfem")
from skfem import (  # noqa: E402
    Basis,
    BilinearForm,
    ElementHex0,
    ElementHex1,
    ElementQuad0,
    ElementQuad1,
    ElementVector,
    Functional,
    MeshHex1,
    MeshQuad1,
    asm,
    condense,
    solve,
)
from skfem.helpers import ddot, sym_grad, trace  # noqa: E402


def skfem_average_stress(E, nu, dim, strain):
    """Volume-averaged stress tensor (dim, dim) for u = strain·x on the boundary, by scikit-fem."""
    n = E.shape[0]
    axis = np.linspace(0.0, 1.0, n + 1)
    mesh = (MeshQuad1 if dim == 2 else MeshHex1).init_tensor(*([axis] * dim))
    basis = Basis(mesh, ElementVector(ElementQuad1() if dim == 2 else ElementHex1()))
    basis0 = basis.with_element(ElementQuad0() if dim == 2 else ElementHex0())
    voxel = tuple(np.floor(mesh.p[:, mesh.t].mean(1) * n).astype(int))  # element -> voxel index
    Ee, nue = E[voxel], nu[voxel]
    mu = Ee / (2 * (1 + nue))
    lam = Ee * nue / (1 - nue**2) if dim == 2 else Ee * nue / ((1 + nue) * (1 - 2 * nue))
    lam_q, mu_q = basis0.interpolate(lam), basis0.interpolate(mu)

    @BilinearForm
    def elasticity(u, v, w):
        return w["lam"] * trace(sym_grad(u)) * trace(sym_grad(v)) + 2 * w["mu"] * ddot(sym_grad(u), sym_grad(v))

    A = asm(elasticity, basis, lam=lam_q, mu=mu_q)
    comp = np.zeros(basis.N, dtype=int)
    for c in range(dim):
        comp[basis.nodal_dofs[c]] = c
    u_affine = (strain @ basis.doflocs)[comp, np.arange(basis.N)]
    u = solve(*condense(A, np.zeros(basis.N), x=u_affine, D=basis.get_dofs().all()))
    uh = basis.interpolate(u)
    sigma = np.zeros((dim, dim))
    for i in range(dim):
        for j in range(dim):

            @Functional
            def s_ij(w, i=i, j=j):
                eps = sym_grad(w["u"])
                return w["lam"] * trace(eps) * (i == j) + 2 * w["mu"] * eps[i, j]

            sigma[i, j] = s_ij.assemble(basis, u=uh, lam=lam_q, mu=mu_q)
    return sigma


def random_fields(rng, shape):
    """Heterogeneous E (log-uniform 0.01..500 GPa) and ν (0..0.49) per voxel."""
    return 10 ** rng.uniform(-2, np.log10(500), shape), rng.uniform(0.0, 0.49, shape)


@pytest.mark.parametrize("dim,n", [(2, 6), (3, 4)])
@pytest.mark.parametrize("solver", ["auto", "pcg", "scipy"])
def test_bulk_modulus_matches_scikit_fem(dim, n, solver):
    rng = np.random.default_rng(10 + dim)
    E, nu = random_fields(rng, (2,) + (n,) * dim)
    K = bulk_modulus(E, nu, dim=dim, solver=solver, tol=1e-13)
    for b in range(2):
        sigma = skfem_average_stress(E[b], nu[b], dim, np.eye(dim))
        K_ref = np.trace(sigma) / (dim * dim)  # tr<σ> / (dim · tr ε), tr ε = dim
        assert K[b] == pytest.approx(K_ref, rel=1e-8)


@pytest.mark.parametrize("dim,n", [(2, 6), (3, 4)])
def test_stiffness_matches_scikit_fem_average_stress(dim, n):
    rng = np.random.default_rng(20 + dim)
    E, nu = random_fields(rng, (n,) * dim)
    C = effective_stiffness(E, nu, dim=dim)
    pairs = [(0, 0), (1, 1), (0, 1)] if dim == 2 else [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    for col, (i, j) in enumerate(pairs):
        strain = np.zeros((dim, dim))
        strain[i, j] = strain[j, i] = 1.0 if i == j else 0.5  # unit engineering strain
        sigma = skfem_average_stress(E, nu, dim, strain)
        voigt = np.array([sigma[p, q] for p, q in pairs])
        np.testing.assert_allclose(C[:, col], voigt, rtol=1e-8, atol=1e-8 * np.abs(C).max())
