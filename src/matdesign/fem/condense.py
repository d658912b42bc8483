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


def _patch_layout(dim: int, s: int, parts: list[tuple[np.ndarray, np.ndarray]], bnd: np.ndarray | None = None):
    """Dof layout of a patch of size ``s`` built from parts.

    ``parts``: per part (offset (dim,), local node coords (k, dim)) of its nodes; ``bnd``: the
    boundary nodes (flat indices) in the wanted order, default :func:`_boundary_nodes`. Returns
    ``(n_int, n_bnd, dof_maps)``: dofs ordered [interior nodes; boundary nodes] (node-major), and per
    part the patch dof index of each part dof.
    """
    shape = (s + 1,) * dim
    flat_parts = [np.ravel_multi_index(tuple((off + loc).T), shape) for off, loc in parts]
    used = np.unique(np.concatenate(flat_parts))
    bnd = _boundary_nodes(dim, s) if bnd is None else bnd
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
    complements are the next level's part blocks without a copy. The ``2**dim`` patches below the
    top (the "split" level; the whole cell when there are no merges) order their boundary as
    [nodes inside the cell; nodes on the cell boundary], whose values are prescribed: they only
    condense onto the former, and the prescribed values enter as a load. On CPU the large work
    arrays are kept between calls (fresh multi-MB allocations cost page faults), so one instance
    must not be used by two threads at once.
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
        self.layouts = [self._layout(m * 2**level, parts[level]) for level in range(levels - 1)]
        s = m * 2 ** max(levels - 1, 0)
        self.split, self.top = self._split_layout(s, parts[max(levels - 1, 0)], off * s if levels else off[:1] * 0)
        self.top_boundary = torch.as_tensor(_boundary_nodes(dim, n), device=self.device)
        order = _morton_order(dim, n, m)
        self.order = torch.as_tensor(order, device=self.device)
        self.unorder = torch.as_tensor(np.argsort(order), device=self.device)
        self._work: dict = {}

    def _layout(self, s: int, parts) -> dict:
        """Index maps of one level below the split level."""
        n_int, n_bnd, maps = _patch_layout(self.dim, s, parts)
        size = n_int + n_bnd
        return {
            "n_int": n_int,
            "size": size,
            "flat": torch.as_tensor(_flat_pairs(maps, size), device=self.device),
            "maps": torch.as_tensor(np.stack(maps), device=self.device),  # (n_parts, part dofs)
        }

    def _split_layout(self, s: int, parts, origins: np.ndarray) -> tuple[dict, dict | None]:
        """Index maps of the split level (patches of size ``s`` at ``origins`` (n_p, dim)) and the top.

        Patch dofs: [interior; free boundary; prescribed boundary]; only the first two row blocks are
        assembled (rows beyond go to one spare slot). The top (None without merges) assembles the free
        boundary Schur complements of its ``n_p`` children into its interior, (n_top, n_top).
        """
        dim, n, dev = self.dim, self.n, self.device
        bnd = _boundary_nodes(dim, s)
        local = np.stack(np.unravel_index(bnd, (s + 1,) * dim), 1)
        top_pos = np.full((n + 1) ** dim, -1)
        top_bnd = _boundary_nodes(dim, n)
        top_pos[top_bnd] = np.arange(len(top_bnd))
        comps = np.arange(dim)
        flats, maps, given, free = [], [], [], []
        for p, o in enumerate(origins):
            fixed = ((local + o == 0) | (local + o == n)).any(1)
            n_int, n_bnd, mp = _patch_layout(dim, s, parts, np.concatenate([bnd[~fixed], bnd[fixed]]))
            size, rows = n_int + n_bnd, n_int + int((~fixed).sum()) * dim
            flat = _flat_pairs(mp, size)
            stride = rows * size + int(rows < size)
            flats.append(np.where(flat < rows * size, flat, rows * size) + p * stride)
            maps.append(np.stack(mp) + p * size)
            glob = np.ravel_multi_index(tuple((local[fixed] + o).T), (n + 1,) * dim)
            given.append((top_pos[glob][:, None] * dim + comps).ravel())
            free.append((o, local[~fixed]))
        split = {
            "n_int": n_int, "rows": rows, "size": size, "stride": stride, "patches": len(origins),
            "flat": torch.as_tensor(np.concatenate(flats), device=dev),
            "maps": torch.as_tensor(np.concatenate(maps).ravel(), device=dev),  # into (n_p * size)
            "given": torch.as_tensor(np.stack(given), device=dev),  # (n_p, prescribed dofs) into u_top
        }
        if rows == n_int:
            return split, None
        n_top, _, mp = _patch_layout(dim, n, free)
        return split, {"n_int": n_top, "flat": torch.as_tensor(_flat_pairs(mp, n_top), device=dev),
                       "maps": torch.as_tensor(np.concatenate(mp), device=dev)}

    def _buffer(self, key, shape: tuple, dtype: torch.dtype) -> torch.Tensor:
        """Uninitialized work array; on CPU the same one is reused while ``shape`` and ``dtype`` stay."""
        if self.device.type != "cpu":
            return torch.empty(shape, device=self.device, dtype=dtype)
        buf = self._work.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self._work[key] = torch.empty(shape, dtype=dtype)
        return buf

    def _assemble(self, key, blocks: torch.Tensor, flat: torch.Tensor, length: int) -> torch.Tensor:
        """Sum the flattened part blocks (B, L) into a zeroed (B, length) array at indices ``flat`` (L,)."""
        out = self._buffer(key, (blocks.shape[0], length), blocks.dtype).zero_()
        return out.index_add_(-1, flat, blocks)

    def element_displacements(self, lam: torch.Tensor, mu: torch.Tensor, K_lam: torch.Tensor,
                              K_mu: torch.Tensor, u_top: torch.Tensor) -> torch.Tensor:
        """Element dofs ``(B, n_el, ne, R)`` of the solution.

        lam, mu: (B, n_el); ``u_top``: (B, n_top_bnd_dofs, R) boundary values of the whole cell in
        the cell's boundary-node order (see ``top_boundary``), node-major.
        """
        B, n_el, ne, R = lam.shape[0], lam.shape[1], K_lam.shape[0], u_top.shape[-1]
        coef = torch.stack([lam, mu], -1)[:, self.order]  # (B, n_el, 2), leaf patch by leaf patch
        blocks = torch.matmul(coef, torch.stack([K_lam, K_mu]).flatten(1),
                              out=self._buffer("Ke", (B, n_el, ne * ne), lam.dtype))
        factors = []
        for level, layout in enumerate(self.layouts):
            size, ni = layout["size"], layout["n_int"]
            M = self._assemble(level, blocks.view(-1, layout["flat"].numel()), layout["flat"], size * size)
            M = M.view(-1, size, size)  # (B * n_patch, size, size)
            L = torch.linalg.cholesky(M[:, :ni, :ni])
            X = torch.linalg.solve_triangular(L, M[:, :ni, ni:], upper=False)  # L⁻¹ A_ib
            S = torch.baddbmm(M[:, ni:, ni:], X.mT, X, alpha=-1,
                              out=self._buffer(("S", level), (M.shape[0], size - ni, size - ni), lam.dtype))
            factors.append((L, X))
            blocks = S
        sp, top = self.split, self.top
        ni, rows, size, n_p = sp["n_int"], sp["rows"], sp["size"], sp["patches"]
        M = self._assemble("split", blocks.view(B, -1), sp["flat"], n_p * sp["stride"])
        M = M.view(B, n_p, -1)[..., : rows * size].unflatten(-1, (rows, size))
        g = u_top[:, sp["given"]]  # (B, n_p, prescribed dofs, R)
        Ag = M[..., rows:] @ g  # (B, n_p, rows, R): the prescribed values' load
        L = torch.linalg.cholesky(M[..., :ni, :ni])
        y = torch.linalg.solve_triangular(L, Ag[..., :ni, :], upper=False)
        if top is None:
            ui = torch.linalg.solve_triangular(L.mT, y, upper=True).neg_()
            u = torch.cat([ui, g], -2)
        else:
            X = torch.linalg.solve_triangular(L, M[..., :ni, ni:rows], upper=False)
            S = torch.baddbmm(M[..., ni:, ni:rows].flatten(0, 1), X.flatten(0, 1).mT, X.flatten(0, 1), alpha=-1)
            r = Ag[..., ni:, :] - X.mT @ y  # (B, n_p, free dofs, R)
            nt = top["n_int"]
            A = self._assemble("top", S.view(B, -1), top["flat"], nt * nt).view(B, nt, nt)
            rhs = A.new_zeros(B, nt, R).index_add_(1, top["maps"], r.flatten(1, 2))
            ut = torch.cholesky_solve(rhs, torch.linalg.cholesky(A)).neg_()
            us = ut[:, top["maps"]].view(B, n_p, -1, R)
            ui = torch.linalg.solve_triangular(L.mT, X @ us + y, upper=True).neg_()
            u = torch.cat([ui, us, g], -2)
        parts = u.view(B, -1, R)[:, sp["maps"]]  # (B, all part dofs of the level, R)
        for level in range(len(self.layouts) - 1, -1, -1):
            L, X = factors[level]
            u = parts.view(L.shape[0], -1, R)  # (B * n_patch, nb, R)
            ui = torch.linalg.solve_triangular(L.mT, X @ u, upper=True).neg_()
            parts = torch.cat([ui, u], -2)[:, self.layouts[level]["maps"]]
        return parts.reshape(B, n_el, ne, R).index_select(1, self.unorder)
