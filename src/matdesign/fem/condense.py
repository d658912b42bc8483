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


def _group(x: torch.Tensor, dim: int, n: int, f: int, n_rest: int) -> torch.Tensor:
    """Per-cell ``(..., n**dim, *rest)`` → ``(..., (n/f)**dim, f**dim, *rest)``, blocks of ``f**dim``."""
    lead, rest = x.shape[: x.ndim - 1 - n_rest], x.shape[x.ndim - n_rest :]
    x = x.reshape(*lead, *(n // f, f) * dim, *rest)
    nl = len(lead)
    perm = [nl + 2 * i for i in range(dim)] + [nl + 2 * i + 1 for i in range(dim)]
    x = x.permute(list(range(nl)) + perm + list(range(nl + 2 * dim, x.ndim)))
    return x.reshape(*lead, (n // f) ** dim, f**dim, *rest)


def _ungroup(x: torch.Tensor, dim: int, n: int, f: int, n_rest: int) -> torch.Tensor:
    """Inverse of :func:`_group`."""
    lead, rest = x.shape[: x.ndim - 2 - n_rest], x.shape[x.ndim - n_rest :]
    nl = len(lead)
    x = x.reshape(*lead, *(n // f,) * dim, *(f,) * dim, *rest)
    perm = list(itertools.chain.from_iterable((nl + i, nl + dim + i) for i in range(dim)))
    x = x.permute(list(range(nl)) + perm + list(range(nl + 2 * dim, x.ndim)))
    return x.reshape(*lead, n**dim, *rest)


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

    ``element_displacements(lam, mu, u_top)`` does the whole factor-and-solve for a batch.
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
        elem_parts = [(np.array(e), node_coords) for e in itertools.product(range(m), repeat=dim)]
        self.layouts = [self._layout(m, elem_parts)]
        s = m
        for _ in range(levels):
            child_nodes = np.stack(np.unravel_index(_boundary_nodes(dim, s), (s + 1,) * dim), 1)
            parts = [(c * s, child_nodes) for c in off]
            s *= 2
            self.layouts.append(self._layout(s, parts))
        self.top_boundary = torch.as_tensor(_boundary_nodes(dim, n), device=self.device)

    def _layout(self, s: int, parts) -> dict:
        n_int, n_bnd, maps = _patch_layout(self.dim, s, parts)
        size = n_int + n_bnd
        return {
            "n_int": n_int,
            "size": size,
            "flat": torch.as_tensor(_flat_pairs(maps, size), device=self.device),
            "maps": torch.as_tensor(np.stack(maps), device=self.device),  # (n_parts, part dofs)
        }

    def _assemble(self, blocks: torch.Tensor, layout: dict) -> torch.Tensor:
        """Sum part blocks (..., n_patch, n_parts, k, k) into patch matrices (..., n_patch, size, size)."""
        size = layout["size"]
        out = blocks.new_zeros(*blocks.shape[:-3], size * size)
        out.index_add_(-1, layout["flat"], blocks.flatten(-3))
        return out.reshape(*out.shape[:-1], size, size)

    def element_displacements(self, lam: torch.Tensor, mu: torch.Tensor, K_lam: torch.Tensor,
                              K_mu: torch.Tensor, u_top: torch.Tensor) -> torch.Tensor:
        """Element dofs ``(B, n_el, ne, R)`` of the solution.

        lam, mu: (B, n_el); ``u_top``: (B, n_top_bnd_dofs, R) boundary values of the whole cell in
        the cell's boundary-node order (see ``top_boundary``), node-major.
        """
        dim, n = self.dim, self.n
        Ke = lam[..., None, None] * K_lam + mu[..., None, None] * K_mu  # (B, n_el, ne, ne)
        blocks = _group(Ke, dim, n, self.m, 2)  # (B, n_leaf, m**dim, ne, ne)
        factors = []
        size_p = n // self.m
        for level, layout in enumerate(self.layouts):
            M = self._assemble(blocks, layout)
            ni = layout["n_int"]
            top = level == len(self.layouts) - 1
            if ni:
                L = torch.linalg.cholesky(M[..., :ni, :ni])
                X = torch.linalg.solve_triangular(L, M[..., :ni, ni:], upper=False)
            else:
                L = X = None
            factors.append((L, X))
            if top:
                break
            S = M[..., ni:, ni:] if X is None else M[..., ni:, ni:] - X.transpose(-1, -2) @ X
            blocks = _group(S, dim, size_p, 2, 2)
            size_p //= 2
        u = u_top.unsqueeze(1)  # (B, 1, nb, R)
        for level in range(len(self.layouts) - 1, -1, -1):
            layout = self.layouts[level]
            L, X = factors[level]
            if L is not None:
                ui = torch.linalg.solve_triangular(L.transpose(-1, -2), -(X @ u), upper=True)
                u = torch.cat([ui, u], -2)
            parts = u[..., layout["maps"], :]  # (B, n_patch, n_parts, part dofs, R)
            if level > 0:
                size_c = n // (self.m * 2 ** (level - 1))
                u = _ungroup(parts, dim, size_c, 2, 2)
        return _ungroup(parts, dim, n, self.m, 2)
