"""Exact batched direct solver by hierarchical static condensation (nested dissection on a voxel grid).

The grid ``n = m * 2**L`` is tiled by leaf patches of ``m**dim`` voxels. Each patch's stiffness is
condensed onto its boundary nodes (Schur complement ``S = A_bb − A_bi A_ii⁻¹ A_ib``); then ``2**dim``
neighbouring patches are merged into one twice as large and their shared nodes condensed, level by
level, until the patch is the whole cell, whose boundary values are the prescribed ones. All patches of
a level have the same structure, so each level is a handful of batched dense operations (Cholesky,
triangular solves, matmuls) over samples × patches, on any torch device. Back-substitution goes down
the levels and returns every voxel's nodal displacements. The cost does not depend on the material
contrast; it grows like ``n**3`` in 2D (the top separator is dense), so it is the method for 2D grids
up to ~128²; 3D is only sensible for small grids (tests).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from matdesign.fem.elements import corner_offsets


def _morton_order(dim: int, n: int, m: int) -> np.ndarray:
    """Element indices (C-order in the ``n**dim`` grid) sorted leaf patch by leaf patch in quadtree order.

    Leaf patches of ``m**dim`` elements are ordered so that the ``2**dim`` children of every merged
    patch are consecutive (child index = C-order of its offset, as :func:`corner_offsets`), at every
    level; inside a leaf the elements keep their C-order. Grouping a level's patches by ``2**dim`` is
    then a reshape, not a copy.
    """
    coords = np.indices((n,) * dim).reshape(dim, -1)
    patch, local = coords // m, coords % m
    key = np.zeros(coords.shape[1], dtype=np.int64)
    for bit in range(int(np.log2(n // m))):
        child = sum(((patch[i] >> bit) & 1) << (dim - 1 - i) for i in range(dim))
        key += child << (dim * bit)
    key = key * m**dim + np.ravel_multi_index(tuple(local), (m,) * dim)
    return np.argsort(key)


def _boundary_nodes(dim: int, s: int) -> np.ndarray:
    """Flat (C-order) indices in the ``(s+1)**dim`` node grid of the patch boundary nodes, sorted."""
    coords = np.indices((s + 1,) * dim).reshape(dim, -1)
    return np.flatnonzero(((coords == 0) | (coords == s)).any(0))


def _patch_layout(dim: int, s: int, parts: list[tuple[np.ndarray, np.ndarray]]):
    """Dof layout of a patch of size ``s`` built from parts.

    ``parts``: per part (offset (dim,), local node coords (k, dim)) of its nodes. Returns
    ``(n_int, n_bnd, dof_maps)``: dofs ordered [interior nodes; boundary nodes] (node-major), and per
    part the patch dof index of each part dof.
    """
    shape = (s + 1,) * dim
    flat_parts = [np.ravel_multi_index(tuple((off + loc).T), shape) for off, loc in parts]
    used = np.unique(np.concatenate(flat_parts))
    bnd = _boundary_nodes(dim, s)
    interior = np.setdiff1d(used, bnd)
    order = np.concatenate([interior, bnd])
    pos = np.full(int(np.prod(shape)), -1)
    pos[order] = np.arange(len(order))
    comps = np.arange(dim)
    maps = [(pos[f][:, None] * dim + comps[None, :]).ravel() for f in flat_parts]
    return len(interior) * dim, len(bnd) * dim, maps


def _flat_pairs(maps: list[np.ndarray], size: int) -> np.ndarray:
    """Flat indices into a (size, size) matrix for adding each part's dense block, concatenated."""
    return np.concatenate([(m[:, None] * size + m[None, :]).ravel() for m in maps])


class Condensation:
    """Precomputed layout of the condensation tree for an ``n**dim`` grid.

    ``element_displacements(lam, mu, K_lam, K_mu, u_top)`` does the whole factor-and-solve for a
    batch. Patches are kept in quadtree order (:func:`_morton_order`), so that a level's Schur
    complements are the next level's part blocks without a copy. On CPU the large work arrays are
    kept between calls (fresh multi-MB allocations cost page faults), so one instance must not be
    used by two threads at once.
    """

    def __init__(self, dim: int, n: int, device="cpu", dtype=torch.float64, leaf: int = 4):
        self.dim, self.n = dim, n
        self.device, self.dtype = torch.device(device), dtype
        m, levels = n, 0
        while m % 2 == 0 and m > leaf:
            m //= 2
            levels += 1
        self.m, self.levels = m, levels
        off = corner_offsets(dim)
        node_coords = off  # element's nodes in element-local coords
        parts = [[(np.array(e), node_coords) for e in itertools.product(range(m), repeat=dim)]]
        s = m
        for _ in range(levels):
            child_nodes = np.stack(np.unravel_index(_boundary_nodes(dim, s), (s + 1,) * dim), 1)
            parts.append([(c * s, child_nodes) for c in off])
            s *= 2
        self.layouts = [self._layout(m * 2**level, p, level == levels) for level, p in enumerate(parts)]
        self.top_boundary = torch.as_tensor(_boundary_nodes(dim, n), device=self.device)
        order = _morton_order(dim, n, m)
        self.order = torch.as_tensor(order, device=self.device)
        self.unorder = torch.as_tensor(np.argsort(order), device=self.device)
        self._work: dict = {}

    def _layout(self, s: int, parts, top: bool) -> dict:
        """Index maps of one level; the top level keeps only its interior rows (its boundary is given)."""
        n_int, n_bnd, maps = _patch_layout(self.dim, s, parts)
        size = n_int + n_bnd
        rows = n_int if top else size
        flat = _flat_pairs(maps, size)
        flat = np.where(flat < rows * size, flat, rows * size)  # entries of dropped rows: one spare slot
        return {
            "n_int": n_int,
            "size": size,
            "rows": rows,
            "flat": torch.as_tensor(flat, device=self.device),
            "maps": torch.as_tensor(np.stack(maps), device=self.device),  # (n_parts, part dofs)
        }

    def _buffer(self, key, shape: tuple, dtype: torch.dtype) -> torch.Tensor:
        """Uninitialized work array; on CPU the same one is reused while ``shape`` and ``dtype`` stay."""
        if self.device.type != "cpu":
            return torch.empty(shape, device=self.device, dtype=dtype)
        buf = self._work.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self._work[key] = torch.empty(shape, dtype=dtype)
        return buf

    def _assemble(self, blocks: torch.Tensor, level: int) -> torch.Tensor:
        """Sum part blocks (B, n_patch, n_parts * k * k) into patch matrices (B, n_patch, rows, size)."""
        layout = self.layouts[level]
        rows, size = layout["rows"], layout["size"]
        spare = int(rows < size)
        out = self._buffer(("M", level), (*blocks.shape[:-1], rows * size + spare), blocks.dtype).zero_()
        out.index_add_(-1, layout["flat"], blocks)
        return out[..., : rows * size].unflatten(-1, (rows, size))

    def element_displacements(self, lam: torch.Tensor, mu: torch.Tensor, K_lam: torch.Tensor,
                              K_mu: torch.Tensor, u_top: torch.Tensor) -> torch.Tensor:
        """Element dofs ``(B, n_el, ne, R)`` of the solution.

        lam, mu: (B, n_el); ``u_top``: (B, n_top_bnd_dofs, R) boundary values of the whole cell in
        the cell's boundary-node order (see ``top_boundary``), node-major.
        """
        B, n_el, ne, nc = lam.shape[0], lam.shape[1], K_lam.shape[0], 2**self.dim
        coef = torch.stack([lam, mu], -1)[:, self.order]  # (B, n_el, 2), leaf patch by leaf patch
        Ke = torch.matmul(coef, torch.stack([K_lam, K_mu]).flatten(1),
                          out=self._buffer("Ke", (B, n_el, ne * ne), lam.dtype))
        blocks = Ke.view(B, n_el // self.m**self.dim, -1)  # (B, n_leaf, m**dim * ne * ne)
        factors = []
        for level, layout in enumerate(self.layouts[:-1]):
            M = self._assemble(blocks, level)  # (B, n_patch, size, size)
            ni, nb = layout["n_int"], layout["size"] - layout["n_int"]
            L = torch.linalg.cholesky(M[..., :ni, :ni])
            X = torch.linalg.solve_triangular(L, M[..., :ni, ni:], upper=False)  # L⁻¹ A_ib
            S = self._buffer(("S", level), (B * M.shape[1], nb, nb), lam.dtype)
            torch.baddbmm(M[..., ni:, ni:].flatten(0, 1), X.flatten(0, 1).mT, X.flatten(0, 1), alpha=-1, out=S)
            factors.append((L, X))
            blocks = S.view(B, -1, nc * nb * nb)  # siblings are consecutive
        top = self.layouts[-1]
        A = self._assemble(blocks, len(self.layouts) - 1)  # (B, 1, n_int, size): interior rows only
        ni = top["n_int"]
        u = u_top.unsqueeze(1)  # (B, 1, nb, R)
        ui = torch.cholesky_solve(A[..., ni:] @ u, torch.linalg.cholesky(A[..., :ni])).neg_()
        parts = torch.cat([ui, u], -2)[..., top["maps"], :]  # (B, n_patch, n_parts, part dofs, R)
        for level in range(len(self.layouts) - 2, -1, -1):
            L, X = factors[level]
            u = parts.flatten(1, 2)  # (B, n_patch, nb, R)
            ui = torch.linalg.solve_triangular(L.mT, X @ u, upper=True).neg_()
            parts = torch.cat([ui, u], -2)[..., self.layouts[level]["maps"], :]
        return parts.reshape(B, n_el, ne, -1).index_select(1, self.unorder)
