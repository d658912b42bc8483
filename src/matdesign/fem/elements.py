"""Element matrices of bilinear quad4 (2D) and trilinear hex8 (3D) voxel elements.

An element is the cube ``[0, h]^dim``. Its nodes are the corners, ordered as
``itertools.product((0, 1), repeat=dim)`` (the first offset runs along array/spatial axis 0);
local dof ``a * dim + c`` is component ``c`` of node ``a``.

The stiffness is linear in the Lamé parameters, ``K_e = lam * K_lam + mu * K_mu`` with
``K_lam = ∫ Bᵀ m mᵀ B`` (``λ (div u)(div v)``) and ``K_mu = ∫ Bᵀ diag(2,..,2,1,..,1) B``
(``2μ ε(u):ε(v)``), ``B`` the Voigt strain operator with engineering shear strains. In 2D ``lam`` is
the plane-stress ``λ* = Eν/(1−ν²)`` (unit thickness). Integrated exactly by 2-point Gauss rules.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np

# Voigt order: 2D (11, 22, 12); 3D (11, 22, 33, 23, 13, 12); shear entries are engineering strains.
VOIGT_PAIRS = {2: ((0, 0), (1, 1), (0, 1)), 3: ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))}


def corner_offsets(dim: int) -> np.ndarray:
    """Node offsets of an element, shape (2**dim, dim), in local node order."""
    return np.array(list(itertools.product((0, 1), repeat=dim)), dtype=np.int64)


def shape_values(dim: int, xi: np.ndarray) -> np.ndarray:
    """Multilinear shape functions at local points ``xi`` (p, dim) in [0, 1]^dim → (p, 2**dim)."""
    off = corner_offsets(dim)
    xi = np.asarray(xi, dtype=np.float64)[:, None, :]
    return np.prod(np.where(off[None] == 1, xi, 1.0 - xi), axis=-1)


def _shape_gradients(dim: int, xi: np.ndarray) -> np.ndarray:
    """d N_a / d xi_i at local points ``xi`` (p, dim) → (p, 2**dim, dim)."""
    off = corner_offsets(dim)
    xi = np.asarray(xi, dtype=np.float64)[:, None, :]
    factors = np.where(off[None] == 1, xi, 1.0 - xi)  # (p, nc, dim)
    dfactors = np.where(off[None] == 1, 1.0, -1.0) * np.ones_like(factors)
    grads = np.empty_like(factors)
    for i in range(dim):
        rest = np.prod(np.delete(factors, i, axis=-1), axis=-1)
        grads[..., i] = dfactors[..., i] * rest
    return grads


def _gauss_points(dim: int) -> tuple[np.ndarray, np.ndarray]:
    """2-point tensor Gauss rule on [0, 1]^dim: points (2**dim, dim), weights (2**dim,)."""
    g = 0.5 / np.sqrt(3.0)
    pts = np.array(list(itertools.product((0.5 - g, 0.5 + g), repeat=dim)))
    return pts, np.full(len(pts), 0.5**dim)


def strain_operator(dim: int, xi: np.ndarray, h: float) -> np.ndarray:
    """Voigt strain-displacement matrices B at local points ``xi`` → (p, nvoigt, dim * 2**dim)."""
    grads = _shape_gradients(dim, xi) / h  # (p, nc, dim) physical gradients
    pairs = VOIGT_PAIRS[dim]
    nc = 2**dim
    B = np.zeros((len(grads), len(pairs), dim * nc))
    for row, (i, j) in enumerate(pairs):
        B[:, row, np.arange(nc) * dim + i] += grads[:, :, j]
        if i != j:
            B[:, row, np.arange(nc) * dim + j] += grads[:, :, i]
    return B


@lru_cache(maxsize=None)
def lame_matrices(dim: int, h: float) -> tuple[np.ndarray, np.ndarray]:
    """``(K_lam, K_mu)`` of one voxel element of edge ``h``, each (dim * 2**dim, dim * 2**dim), float64."""
    pts, wts = _gauss_points(dim)
    B = strain_operator(dim, pts, h)
    vol = h**dim
    m = np.array([1.0] * dim + [0.0] * (len(VOIGT_PAIRS[dim]) - dim))
    d_mu = np.diag([2.0] * dim + [1.0] * (len(VOIGT_PAIRS[dim]) - dim))
    bm = np.einsum("v,pvk->pk", m, B)
    k_lam = vol * np.einsum("p,pk,pl->kl", wts, bm, bm)
    k_mu = vol * np.einsum("p,pvk,vw,pwl->kl", wts, B, d_mu, B)
    for k in (k_lam, k_mu):
        k.setflags(write=False)
    return k_lam, k_mu
