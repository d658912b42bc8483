"""Periodic homogenization by matrix-free PCG (fem.periodic_pcg): physics checks and an independent
periodic reference solver (SciPy sparse, its own element matrices, one node pinned)."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from matdesign.fem import bulk_modulus
from matdesign.fem.homogenize import unit_strains
from matdesign.fem.moduli import bulk_from_young, lame, voigt_reuss_bounds
from matdesign.fem.periodic_grid import PeriodicVoxelGrid
from matdesign.fem.periodic_pcg import PeriodicPCGBackend

PAIRS = {2: [(0, 0), (1, 1), (0, 1)], 3: [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]}


def periodic_stiffness(E, nu, strains):
    """``C_ij = a(u_i, u_j)`` (V = 1) of fields E, ν (B, *grid) for strains (R, dim, dim) → (B, R, R)."""
    dim, n = E.ndim - 1, E.shape[-1]
    g = PeriodicVoxelGrid(dim, n)
    lam, mu = lame(torch.tensor(E.reshape(len(E), -1)), torch.tensor(nu.reshape(len(E), -1)), dim)
    ue, info, _ = PeriodicPCGBackend(g, 1e-10, 1000).solve(lam, mu, g.element_affine(strains))
    assert info["converged"]
    y = torch.matmul(g.K_stack, ue)
    Ky = lam[:, None, None] * y[:, :, : g.ne] + mu[:, None, None] * y[:, :, g.ne :]
    return torch.einsum("bikn,bjkn->bij", ue, Ky).numpy()


def periodic_bulk(E, nu):
    """K = 2W/dim² for ε = I, fields (B, *grid) → (B,)."""
    dim = E.ndim - 1
    return periodic_stiffness(E, nu, torch.eye(dim, dtype=torch.float64)[None])[:, 0, 0] / dim**2


def constitutive(dim, E, nu):
    """Voigt D (engineering shear): 2D plane stress, 3D isotropic."""
    if dim == 2:
        return E / (1 - nu**2) * np.array([[1, nu, 0], [nu, 1, 0], [0, 0, (1 - nu) / 2]])
    lam, mu = E * nu / ((1 + nu) * (1 - 2 * nu)), E / (2 * (1 + nu))
    D = np.diag([2 * mu] * 3 + [mu] * 3)
    D[:3, :3] += lam
    return D


def b_matrices(dim, h):
    """Gauss weights (p,) and B (p, nvoigt, ne) of the [0, h]^dim voxel; shape-function derivatives by
    central differences (exact: the shape functions are linear in each coordinate)."""
    corners = list(itertools.product((0, 1), repeat=dim))

    def shape(xi):
        return np.array([np.prod([x if o else 1 - x for x, o in zip(xi, c)]) for c in corners])

    g = 0.5 / np.sqrt(3)
    pts = list(itertools.product((0.5 - g, 0.5 + g), repeat=dim))
    Bs = []
    for xi in pts:
        dN = np.stack([(shape(np.add(xi, 0.1 * e)) - shape(np.subtract(xi, 0.1 * e))) / (0.2 * h)
                       for e in np.eye(dim)], 1)  # (corners, dim)
        B = np.zeros((len(PAIRS[dim]), dim * len(corners)))
        for row, (i, j) in enumerate(PAIRS[dim]):
            B[row, i::dim] += dN[:, j]
            if i != j:
                B[row, j::dim] += dN[:, i]
        Bs.append(B)
    return np.full(len(pts), h**dim / len(pts)), np.array(Bs), np.array(corners)


def reference_stiffness(E, nu):
    """Voigt stiffness (R, R) of one field (*grid) by periodic sparse FEM: assemble with the periodic node
    map, load −Σ K_e (ε·x_e), pin node 0, spsolve; C[:, r] = volume-averaged stress of unit strain r."""
    dim, n = E.ndim, E.shape[0]
    h = 1.0 / n
    w, B, corners = b_matrices(dim, h)
    cells = np.array(list(itertools.product(range(n), repeat=dim)))  # C order = E.ravel() order
    x = (cells[:, None, :] + corners[None]) * h  # (n_el, corners, dim) unwrapped corner coordinates
    nodes = np.ravel_multi_index(tuple(((cells[:, None, :] + corners[None]) % n).transpose(2, 0, 1)), (n,) * dim)
    dofs = (nodes[:, :, None] * dim + np.arange(dim)).reshape(len(cells), -1)
    D = np.array([constitutive(dim, e, v) for e, v in zip(E.ravel(), nu.ravel())])
    Ke = np.einsum("p,pvk,evw,pwl->ekl", w, B, D, B)
    ne = dofs.shape[1]
    A = sp.csr_matrix((Ke.ravel(), (np.repeat(dofs, ne, 1).ravel(), np.tile(dofs, ne).ravel())),
                      shape=(dim * n**dim,) * 2)
    free = np.arange(dim, dim * n**dim)
    C = np.zeros((len(PAIRS[dim]),) * 2)
    for r, (i, j) in enumerate(PAIRS[dim]):
        eps = np.zeros((dim, dim))
        eps[i, j] = eps[j, i] = 1.0 if i == j else 0.5
        ua = np.einsum("cj,ekj->ekc", eps, x).reshape(len(cells), -1)
        f = np.zeros(dim * n**dim)
        np.add.at(f, dofs, -np.einsum("ekl,el->ek", Ke, ua))
        u = np.zeros_like(f)
        u[free] = spla.spsolve(A[free][:, free].tocsc(), f[free])
        ue = ua + u[dofs]
        C[:, r] = np.einsum("p,evw,pwk,ek->v", w, D, B, ue)
    return C


def two_phase(dim, n, contrast, seed):
    """Random voxel field: soft phase (E 1, ν 0.45), fraction 0.4 stiff (E = contrast, ν 0.3)."""
    stiff = np.random.default_rng(seed).random((n,) * dim) < 0.4
    return np.where(stiff, contrast, 1.0), np.where(stiff, 0.3, 0.45)


@pytest.mark.parametrize("dim", [2, 3])
def test_homogeneous_field_gives_the_phase_bulk_modulus(dim):
    E, nu = np.full((1,) + (8,) * dim, 70.0), np.full((1,) + (8,) * dim, 0.33)
    K = 70.0 / (2 * (1 - 0.33)) if dim == 2 else 70.0 / (3 * (1 - 2 * 0.33))
    np.testing.assert_allclose(periodic_bulk(E, nu), K, rtol=1e-9)


@pytest.mark.parametrize("dim", [2, 3])
def test_phases_of_equal_bulk_modulus_give_that_modulus(dim):
    """Hill: equal bulk moduli, any shear moduli → uniform dilation is exact, K_eff = K."""
    K, nus = 10.0, np.where(np.random.default_rng(3).random((1,) + (8,) * dim) < 0.5, 0.1, 0.45)
    E = 2 * K * (1 - nus) if dim == 2 else 3 * K * (1 - 2 * nus)
    np.testing.assert_allclose(periodic_bulk(E, nus), K, rtol=1e-9)


@pytest.mark.parametrize("dim,n", [(2, 16), (3, 8)])
def test_bulk_modulus_matches_independent_periodic_solver(dim, n):
    fields = [two_phase(dim, n, c, seed) for seed, c in enumerate((1e2, 1e4))]
    E, nu = (np.stack(f) for f in zip(*fields))
    K = periodic_bulk(E, nu)  # both contrasts in one batch
    for k, (Ei, nui) in zip(K, fields):
        C = reference_stiffness(Ei, nui)
        np.testing.assert_allclose(k, C[:dim, :dim].sum() / dim**2, rtol=1e-8)


@pytest.mark.parametrize("dim,n", [(2, 16), (3, 8)])
def test_stiffness_matches_independent_periodic_solver(dim, n):
    E, nu = two_phase(dim, n, 1e3, seed=7)
    C = periodic_stiffness(E[None], nu[None], unit_strains(dim, "voigt"))[0]
    C_ref = reference_stiffness(E, nu)
    np.testing.assert_allclose(C, C_ref, rtol=0, atol=1e-8 * np.abs(C_ref).max())


@pytest.mark.parametrize("dim,n", [(2, 16), (3, 8)])
def test_periodic_bulk_lies_between_reuss_and_affine(dim, n):
    """Periodic BC are softer than affine BC (u = ε·x is periodic-admissible); Reuss ≤ K ≤ Voigt."""
    fields = [two_phase(dim, n, c, seed) for seed, c in enumerate((1e2, 1e4))]
    E, nu = (np.stack(f) for f in zip(*fields))
    K = periodic_bulk(E, nu)
    K_aff = bulk_modulus(E, nu, dim=dim, solver="pcg")
    stiff = (E == E.reshape(2, -1).max(1).reshape(2, *(1,) * dim)).reshape(2, -1).mean(1)
    reuss, voigt = voigt_reuss_bounds(np.stack([np.full(2, bulk_from_young(1.0, 0.45, dim)),
                                                bulk_from_young(np.array([1e2, 1e4]), 0.3, dim)], -1),
                                      np.stack([1 - stiff, stiff], -1))
    assert np.all(reuss < K) and np.all(K < K_aff) and np.all(K_aff < voigt)


@pytest.mark.parametrize("dim,n", [(2, 8), (3, 4)])
def test_field_tiled_twice_per_axis_has_the_same_modulus(dim, n):
    E, nu = two_phase(dim, n, 1e3, seed=11)
    tile = (2,) * dim
    K = periodic_bulk(np.stack([E]), np.stack([nu]))
    K2 = periodic_bulk(np.tile(E, tile)[None], np.tile(nu, tile)[None])
    np.testing.assert_allclose(K2, K, rtol=1e-9)
    assert abs(bulk_modulus(np.tile(E, tile), np.tile(nu, tile), dim=dim) / bulk_modulus(E, nu, dim=dim) - 1) > 1e-3
