"""Independent periodic homogenization reference for the tests (SciPy sparse, written apart from src/).

Total-displacement formulation with master–slave constraints: the nodal field ``u`` on the
``(n+1)**dim`` node grid over the unit cell satisfies ``u(x + e_k) = u(x) + ε e_k`` on opposite faces.
Every node is mapped to its master node (coordinates mod n) plus a known jump, ``u = T w + g``; one
master node is pinned (rigid translation). Element matrices come from a 3-point Gauss rule on an
explicit constitutive matrix (plane stress in 2D), not from :mod:`matdesign.fem.elements`.
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla


def _element_matrix(dim: int, h: float, E: float, nu: float) -> np.ndarray:
    if dim == 2:
        D = E / (1 - nu * nu) * np.array([[1, nu, 0], [nu, 1, 0], [0, 0, (1 - nu) / 2]])
    else:
        lam, mu = E * nu / ((1 + nu) * (1 - 2 * nu)), E / (2 * (1 + nu))
        D = np.zeros((6, 6))
        D[:3, :3] = lam
        D[range(3), range(3)] += 2 * mu
        D[range(3, 6), range(3, 6)] = mu
    corners = np.array(list(itertools.product((0, 1), repeat=dim)))
    x1, w1 = np.polynomial.legendre.leggauss(3)
    x1, w1 = (x1 + 1) / 2, w1 / 2
    shear = [(0, 1)] if dim == 2 else [(1, 2), (0, 2), (0, 1)]
    K = np.zeros((dim * len(corners),) * 2)
    for idx in itertools.product(range(3), repeat=dim):
        xi, w = x1[list(idx)], np.prod(w1[list(idx)])
        grad = np.empty((len(corners), dim))
        for a, c in enumerate(corners):
            f = np.where(c == 1, xi, 1 - xi)
            for i in range(dim):
                grad[a, i] = (1 if c[i] else -1) * np.prod(np.delete(f, i)) / h
        B = np.zeros((dim + len(shear), dim * len(corners)))
        for a in range(len(corners)):
            for i in range(dim):
                B[i, a * dim + i] = grad[a, i]
            for row, (i, j) in enumerate(shear):
                B[dim + row, a * dim + i] = grad[a, j]
                B[dim + row, a * dim + j] = grad[a, i]
        K += w * h**dim * B.T @ D @ B
    return K


def periodic_solutions(E: np.ndarray, nu: np.ndarray, strains: np.ndarray):
    """Nodal solutions ``u`` (R, n_nodes*dim) and the sparse global matrix for fields (*grid)."""
    dim, n = E.ndim, E.shape[0]
    h = 1.0 / n
    shape = (n + 1,) * dim
    coords = np.stack(np.unravel_index(np.arange((n + 1) ** dim), shape), 1)
    n_dof = dim * len(coords)
    corners = np.array(list(itertools.product((0, 1), repeat=dim)))
    rows, cols, vals = [], [], []
    for e in itertools.product(range(n), repeat=dim):
        nodes = np.ravel_multi_index(tuple((np.array(e) + corners).T), shape)
        dofs = (nodes[:, None] * dim + np.arange(dim)).ravel()
        Ke = _element_matrix(dim, h, float(E[e]), float(nu[e]))
        rows.append(np.repeat(dofs, len(dofs)))
        cols.append(np.tile(dofs, len(dofs)))
        vals.append(Ke.ravel())
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), (n_dof, n_dof))
    master = np.ravel_multi_index(tuple((coords % n).T), shape)
    jump = (coords // n).astype(float)  # which faces a node sits beyond
    keep = np.unique(master)[1:]  # pin the master node at the origin
    col = np.full(len(coords), -1)
    col[keep] = np.arange(len(keep))
    T = sp.lil_matrix((n_dof, dim * len(keep)))
    for node, m in enumerate(master):
        if col[m] >= 0:
            for c in range(dim):
                T[node * dim + c, col[m] * dim + c] = 1.0
    T = T.tocsr()
    out = []
    for eps in strains:
        g = (jump @ np.asarray(eps).T).ravel()  # u_jump = ε · (face offsets)
        w = spla.spsolve((T.T @ A @ T).tocsc(), -(T.T @ (A @ g)))
        out.append(T @ w + g)
    return np.array(out), A


def periodic_stiffness(E: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """Voigt stiffness (3, 3) / (6, 6) (engineering shear) of one periodic cell, unit volume."""
    dim = E.ndim
    pairs = [(0, 0), (1, 1), (0, 1)] if dim == 2 else [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    strains = np.zeros((len(pairs), dim, dim))
    for r, (i, j) in enumerate(pairs):
        strains[r, i, j] = strains[r, j, i] = 1.0 if i == j else 0.5
    u, A = periodic_solutions(np.asarray(E, float), np.asarray(nu, float), strains)
    return u @ (A @ u.T)


def periodic_bulk(E: np.ndarray, nu: np.ndarray) -> float:
    """Periodic bulk modulus ``tr⟨σ⟩/(dim tr ε)`` for ε = I (2D: plane-stress area bulk modulus)."""
    dim = np.ndim(E)
    u, A = periodic_solutions(np.asarray(E, float), np.asarray(nu, float), np.eye(dim)[None])
    return float(u[0] @ (A @ u[0])) / dim**2
