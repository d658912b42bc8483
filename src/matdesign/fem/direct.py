"""Sparse direct solve on CPU (SciPy SuperLU) of the voxel problem with affine Dirichlet data.

Both the interior stiffness ``A_II`` and the load ``b = −A_IB u_B`` are linear in the element Lamé
parameters, so their CSR data is one sparse-matrix product with the stacked ``[lam; mu]`` of all
samples at once: ``data = S @ [lam; mu]``, ``b = R @ [lam; mu]``. Only the factorizations loop over
samples.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from matdesign.fem.elements import corner_offsets, lame_matrices


class DirectSolver:
    """Precomputed sparsity for an ``n**dim`` grid; :meth:`solve` returns interior displacements.

    Global dof ``c * n_nodes + node`` matches the flattened ``(dim, *nodes)`` layout of
    :class:`matdesign.fem.grid.VoxelGrid`; ``interior`` holds the free global dofs.
    """

    def __init__(self, dim: int, n: int):
        self.dim, self.n = dim, n
        nodes = np.arange((n + 1) ** dim).reshape((n + 1,) * dim)
        n_nodes = nodes.size
        off = corner_offsets(dim)
        elem_nodes = np.stack(
            [nodes[tuple(slice(o, o + n) for o in corner)].ravel() for corner in off], 1
        )  # (n_el, 2**dim)
        comps = np.arange(dim)
        self.elem_dofs = (comps[None, None, :] * n_nodes + elem_nodes[:, :, None]).reshape(len(elem_nodes), -1)
        free = np.zeros((n + 1,) * dim, dtype=bool)
        free[(slice(1, n),) * dim] = True
        self.interior = (comps[:, None] * n_nodes + np.flatnonzero(free)[None, :]).ravel()
        self.n_dofs = dim * n_nodes
        self._build(lame_matrices(dim, 1.0 / n))

    def _build(self, kmats) -> None:
        n_el, ne = self.elem_dofs.shape
        local = -np.ones(self.n_dofs, dtype=np.int64)
        local[self.interior] = np.arange(len(self.interior))
        self._local = local[self.elem_dofs]  # (n_el, ne) interior index, -1 on boundary dofs
        rows = np.repeat(self._local, ne, axis=1).ravel()
        cols = np.tile(self._local, (1, ne)).ravel()
        elem = np.repeat(np.arange(n_el), ne * ne)
        keep = (rows >= 0) & (cols >= 0)
        n_int = len(self.interior)
        uniq, pos = np.unique(rows[keep] * n_int + cols[keep], return_inverse=True)
        self.indptr = np.searchsorted(uniq // n_int, np.arange(n_int + 1)).astype(np.int32)
        self.indices = (uniq % n_int).astype(np.int32)
        entry = np.tile(np.arange(ne * ne), n_el)[keep]
        self._kmats = kmats
        self.S = sp.hstack(
            [sp.csr_matrix((k.ravel()[entry], (pos, elem[keep])), shape=(len(uniq), n_el)) for k in kmats]
        ).tocsr()

    def load_matrix(self, u_affine: np.ndarray) -> sp.csr_matrix:
        """``R`` with ``b = R @ [lam; mu]`` for one affine nodal field (n_dofs,): ``b = −A_IB u_B``."""
        n_el, ne = self.elem_dofs.shape
        u_b = np.where(self._local >= 0, 0.0, u_affine[self.elem_dofs])  # boundary values only
        ld = self._local.ravel()
        keep = ld >= 0
        elem = np.repeat(np.arange(n_el), ne)[keep]
        shape = (len(self.interior), n_el)
        return sp.hstack(
            [sp.csr_matrix(((-(u_b @ k.T)).ravel()[keep], (ld[keep], elem)), shape=shape) for k in self._kmats]
        ).tocsr()

    def solve(self, lam: np.ndarray, mu: np.ndarray, loads: list[sp.csr_matrix]) -> np.ndarray:
        """Interior displacement corrections, shape (B, n_loads, n_interior), for lam, mu (B, n_el)."""
        coef = np.concatenate([lam, mu], 1).T  # (2 n_el, B)
        data = self.S @ coef
        rhs = np.stack([R @ coef for R in loads], 1)  # (n_int, n_loads, B)
        n_int = len(self.interior)
        out = np.empty((lam.shape[0], len(loads), n_int))
        for b in range(lam.shape[0]):
            A = sp.csc_matrix((np.ascontiguousarray(data[:, b]), self.indices, self.indptr), shape=(n_int, n_int))
            lu = splu(A, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
            out[b] = lu.solve(np.ascontiguousarray(rhs[:, :, b])).T
        return out
