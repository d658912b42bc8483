"""Exact batched direct solver by hierarchical static condensation (nested dissection on a voxel grid).

The grid ``n = m * 2**L`` is tiled by leaf patches of ``m**dim`` voxels. Each patch's stiffness is
condensed onto its boundary nodes (Schur complement ``S = A_bb − A_bi A_ii⁻¹ A_ib``); then ``2**dim``
neighbouring patches are merged into one twice as large and their shared nodes condensed, level by
level, until the patch is the whole cell, whose boundary values are the prescribed ones (affine
boundary conditions) or, for a periodic cell, whose opposite faces are identified: the top system then
also holds the cell's boundary nodes (right/top faces mapped onto left/bottom ones, the affine jump
``u(x + e_k) = u(x) + ε e_k`` entering as a load, one node pinned against translation). All patches of
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

from matdesign.fem.elements import corner_offsets, lame_matrices


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


class _Blocks:
    """Stored blocks of a patch matrix with dofs [interior (ni); free boundary (nf); prescribed (ng)].

    Kept: ``ii`` (ni, ni), ``fi`` = A_fi (nf, ni) and ``ff`` (nf, nf) when ``nf``, ``rg`` =
    A_[i;f],g (ni + nf, ng) when ``ng``; A_if is A_fiᵀ and prescribed rows are never needed.
    """

    def __init__(self, ni: int, nf: int, ng: int = 0):
        self.ni, self.nf, self.ng, self.rows = ni, nf, ng, ni + nf
        shapes = {"ii": (ni, ni), "fi": (nf, ni), "ff": (nf, nf), "rg": (ni + nf, ng)}
        self.shapes = {k: v for k, v in shapes.items() if min(v) > 0}

    def position(self, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(block name, flat index in that block)`` of matrix entries (i, j); name '' = not stored."""
        ni, rows, ng = self.ni, self.rows, self.ng
        i, j = np.broadcast_arrays(i, j)
        name, flat = np.full(i.shape, "", dtype="<U2"), np.zeros(i.shape, dtype=np.int64)
        for key, sel, fl in [
            ("ii", (i < ni) & (j < ni), i * ni + j),
            ("fi", (i >= ni) & (i < rows) & (j < ni), (i - ni) * ni + j),
            ("ff", (i >= ni) & (i < rows) & (j >= ni) & (j < rows), (i - ni) * self.nf + (j - ni)),
            ("rg", (i < rows) & (j >= rows), i * ng + (j - rows)),
        ]:
            name[sel], flat[sel] = key, fl[sel]
        return name, flat


def _contributions(blocks: list[_Blocks], maps: list[list[np.ndarray]], src_size: int, src_stride: int) -> dict:
    """Per block name, ``(t, flat, src)``: every part entry that lands in that block of a group's patches.

    ``blocks[t]``/``maps[t]``: layout and per-part patch dof indices of patch ``t`` of the group;
    part ``k`` (counted over the group) has a dense (src_size, src_size) block at ``k * src_stride``
    in the group's source row. ``t``: patch, ``flat``: index in its block, ``src``: in the source row.
    """
    out: dict = {name: [] for name in blocks[0].shapes}
    part = 0
    for t, (blk, part_maps) in enumerate(zip(blocks, maps)):
        for mp in part_maps:
            a = np.arange(len(mp))
            name, flat = blk.position(mp[:, None], mp[None, :])
            src = part * src_stride + a[:, None] * src_size + a[None, :]
            for key in out:
                sel = name == key
                out[key].append((np.full(int(sel.sum()), t), flat[sel], src[sel]))
            part += 1
    return {key: tuple(np.concatenate(c) for c in zip(*v)) for key, v in out.items()}


def _gather_plan(t: np.ndarray, flat: np.ndarray, src: np.ndarray, block_size: int, n_types: int, device,
                 dtype) -> dict:
    """Plan to assemble one block of a group's patches (stacked, ``block_size`` entries each) with
    ``torch.gather``: ``idx`` (one source per entry), ``keep`` (0 where no part contributes),
    ``extra_dst``/``extra_src`` (further sources of entries shared by several parts, added with ``scatter_add_``)."""
    d = t * block_size + flat
    order = np.argsort(d, kind="stable")
    d, src = d[order], src[order]
    first = np.r_[True, d[1:] != d[:-1]] if len(d) else np.zeros(0, dtype=bool)
    idx = np.zeros(n_types * block_size, dtype=np.int64)
    idx[d[first]] = src[first]
    keep = np.zeros(n_types * block_size)
    keep[d[first]] = 1.0
    return {"idx": torch.as_tensor(idx, device=device), "keep": torch.as_tensor(keep, device=device, dtype=dtype),
            "extra_dst": torch.as_tensor(d[~first], device=device),
            "extra_src": torch.as_tensor(src[~first], device=device)}


_UNIT_MAX = 1 << 20  # most entries of the leaf blocks' unit matrices (2D: 6e4; 3D: 1.5e7, gathered instead)


def _take(source: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``source[:, idx]`` for (G, row) ``source`` and (k,) ``idx`` (a gather: faster than index_select here)."""
    return torch.gather(source, 1, idx.expand(source.shape[0], -1))


def _add_at(out: torch.Tensor, idx: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``out[:, idx] += values`` in place for (G, row) ``out``, (k,) ``idx`` (repeats add up), (G, k) ``values``."""
    return out.scatter_add_(1, idx.expand(values.shape), values)


class Condensation:
    """Precomputed layout of the condensation tree for an ``n**dim`` grid.

    ``element_displacements(lam, mu, K_lam, K_mu, u_top)`` does the whole factor-and-solve for a
    batch. Patches are kept in quadtree order (:func:`_morton_order`), so that the parts of a merged
    patch are consecutive. Each patch matrix is kept as separate dense blocks (:class:`_Blocks`),
    so that the factorization works on contiguous arrays and the Schur complement is formed in
    place. The leaf patches' blocks are one matrix product of the Lamé coefficients with the
    assembled unit element matrices; a merged patch gathers its ``ii`` and ``fi`` blocks from its
    parts' Schur complements with precomputed indices, and its ``ff`` block starts as ``−Y Yᵀ`` and
    receives only the (few) nonzero part entries. The ``2**dim`` patches below the top (the "split"
    level; the whole cell when there are no merges) order their boundary as [nodes inside the
    cell; nodes on the cell boundary], whose values are prescribed: they only condense onto the
    former, and the prescribed values enter as a load, applied straight from the parts' entries.
    On CPU the work arrays are kept between calls (fresh multi-MB allocations cost page faults), so
    one instance must not be used by two threads at once.
    """

    def __init__(self, dim: int, n: int, device="cpu", dtype=torch.float64, leaf: int = 4, periodic: bool = False):
        self.dim, self.n, self.periodic = dim, n, periodic
        self.device, self.dtype = torch.device(device), dtype
        m, levels = n, 0
        while m % 2 == 0 and m > leaf:
            m //= 2
            levels += 1
        self.m, self.levels = m, levels
        off = corner_offsets(dim)
        ne = dim * 2**dim
        parts = [[(np.array(e), off) for e in itertools.product(range(m), repeat=dim)]]
        s = m
        for _ in range(levels):
            child_nodes = np.stack(np.unravel_index(_boundary_nodes(dim, s), (s + 1,) * dim), 1)
            parts.append([(c * s, child_nodes) for c in off])
            s *= 2
        k_lam, k_mu = lame_matrices(dim, 1.0 / n)
        src = (ne, ne * ne)  # a part's dense block: (size, stride) in the source row
        self.layouts = []
        for level in range(levels - 1):
            n_int, n_bnd, maps = _patch_layout(dim, m * 2**level, parts[level])
            blk = _Blocks(n_int, n_bnd)
            layout = {"blocks": blk, "parts": len(maps), "maps": torch.as_tensor(np.stack(maps), device=device)}
            contrib = _contributions([blk], [maps], *src)
            if level == 0 and 2 * len(maps) * sum(int(np.prod(v)) for v in blk.shapes.values()) <= _UNIT_MAX:
                # (2 * n_parts, block entries): d block / d (lam_e, mu_e); one matrix product per block
                layout["unit"] = {key: self._unit_blocks(contrib[key], blk.shapes[key], (k_lam, k_mu))
                                  for key in blk.shapes}
            else:
                layout["plans"] = {key: _gather_plan(*contrib[key], int(np.prod(blk.shapes[key])), 1, device, dtype)
                                   for key in ("ii", "fi")}
                layout["ff"] = {"dst": torch.as_tensor(contrib["ff"][1], device=device),
                                "src": torch.as_tensor(contrib["ff"][2], device=device)}
            self.layouts.append(layout)
            src = (n_bnd, n_bnd * n_bnd)
        s = m * 2 ** max(levels - 1, 0)
        self.split, self.top = self._split_layout(s, parts[max(levels - 1, 0)], off * s if levels else off[:1] * 0, src)
        self.top_boundary = torch.as_tensor(_boundary_nodes(dim, n), device=self.device)
        order = _morton_order(dim, n, m)
        self.order = torch.as_tensor(order, device=self.device)
        self.unorder = torch.as_tensor(np.argsort(order), device=self.device)
        if self.layouts:  # (ne, n_el): each element's dofs (C order) in a sample's leaf patch dofs
            lay = self.layouts[0]
            size = lay["blocks"].ni + lay["blocks"].nf
            el = torch.arange(n**dim // lay["parts"], device=self.device)[:, None, None] * size + lay["maps"]
        else:
            el = self.split["maps"]
        self.element_dofs = el.reshape(n**dim, -1)[self.unorder].T
        self._work: dict = {}
        self._folded: dict = {}

    def _unit_blocks(self, contrib, shape: tuple, unit: tuple[np.ndarray, np.ndarray]) -> torch.Tensor:
        """``(2 * n_elements, prod(shape))`` block entries per unit λ and μ of each leaf element."""
        _, flat, src = contrib
        ne2 = unit[0].size
        out = np.zeros((2 * (src.max() // ne2 + 1 if len(src) else 0), int(np.prod(shape))))
        for k, u in enumerate(unit):
            np.add.at(out, (2 * (src // ne2) + k, flat), u.ravel()[src % ne2])
        return torch.as_tensor(out, device=self.device, dtype=self.dtype)

    def _split_layout(self, s: int, parts, origins: np.ndarray, src: tuple[int, int]) -> tuple[dict, dict | None]:
        """Layout of the split level (patches of size ``s`` at ``origins`` (n_p, dim)) and of the top.

        Patch dofs: [interior; free boundary; prescribed boundary]. The top (None without merges)
        assembles the free boundary Schur complements of its ``n_p`` children into its interior,
        (n_top, n_top); ``src``: (size, stride) of the split level's part blocks. Periodic: nothing is
        prescribed; the top holds every node modulo ``n`` and ``split["jump"]`` (n_p, free nodes, dim)
        says across which faces (0/1 per axis) each free node lies from its image.
        """
        dim, n, dev = self.dim, self.n, self.device
        bnd = _boundary_nodes(dim, s)
        local = np.stack(np.unravel_index(bnd, (s + 1,) * dim), 1)
        top_pos = np.full((n + 1) ** dim, -1)
        top_bnd = _boundary_nodes(dim, n)
        top_pos[top_bnd] = np.arange(len(top_bnd))
        comps = np.arange(dim)
        blocks, maps, given, free = [], [], [], []
        for o in origins:
            fixed = np.zeros(len(local), bool) if self.periodic else ((local + o == 0) | (local + o == n)).any(1)
            n_int, n_bnd, mp = _patch_layout(dim, s, parts, np.concatenate([bnd[~fixed], bnd[fixed]]))
            nf = int((~fixed).sum()) * dim
            blocks.append(_Blocks(n_int, nf, n_bnd - nf))
            maps.append(mp)
            glob = np.ravel_multi_index(tuple((local[fixed] + o).T), (n + 1,) * dim)
            given.append((top_pos[glob][:, None] * dim + comps).ravel())
            free.append((o, local[~fixed]) if not self.periodic else (0 * o, (o + local) % n))
        blk, size, n_p = blocks[0], n_int + n_bnd, len(origins)
        contrib = _contributions(blocks, maps, *src)
        split = {
            "blocks": blk, "size": size, "patches": n_p,
            "plans": {key: _gather_plan(*contrib[key], int(np.prod(blk.shapes[key])), n_p, dev, self.dtype)
                      for key in ("ii", "fi") if key in blk.shapes},
            "maps": torch.as_tensor((np.stack([np.stack(mp) for mp in maps])
                                     + size * np.arange(n_p)[:, None, None]).ravel(), device=dev),  # into (n_p * size)
            "given": torch.as_tensor(np.stack(given), device=dev),  # (n_p, prescribed dofs) into u_top
        }
        if blk.ng:  # the load A_[i;f],g g: each part entry times its prescribed value, into its row
            t, flat, src_rg = contrib["rg"]
            split["load"] = {"row": torch.as_tensor(t * blk.rows + flat // blk.ng, device=dev),
                             "col": torch.as_tensor(t * blk.ng + flat % blk.ng, device=dev),
                             "src": torch.as_tensor(src_rg, device=dev)}
        if self.periodic:
            split["jump"] = torch.as_tensor(np.stack([(o + local) // n for o in origins]), device=dev, dtype=self.dtype)
        if blk.nf == 0:
            return split, None
        t, flat, src_ff = contrib["ff"]
        split["ff"] = {"dst": torch.as_tensor(t * blk.nf**2 + flat, device=dev),
                       "src": torch.as_tensor(src_ff, device=dev)}
        n_top, _, mp = _patch_layout(dim, n, free, np.zeros(0, np.int64) if self.periodic else None)
        top = _Blocks(n_top, 0)
        return split, {"n_int": n_top, "blocks": top, "maps": torch.as_tensor(np.concatenate(mp), device=dev),
                       "plans": {"ii": _gather_plan(*_contributions([top], [mp], blk.nf, blk.nf**2)["ii"],
                                                    n_top**2, 1, dev, self.dtype)}}

    def _buffer(self, key, shape: tuple, dtype: torch.dtype) -> torch.Tensor:
        """Uninitialized work array; on CPU the same one is reused while ``shape`` and ``dtype`` stay."""
        if self.device.type != "cpu":
            return torch.empty(shape, device=self.device, dtype=dtype)
        buf = self._work.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self._work[key] = torch.empty(shape, dtype=dtype)
        return buf

    def _gather(self, key, source: torch.Tensor, blocks: _Blocks, plans: dict, n_patch: int) -> list[torch.Tensor]:
        """Blocks (n_patch, *shape) named in ``plans``, gathered from the part blocks ``source`` (G, row),
        one row per group of patches."""
        out = []
        for name, plan in plans.items():
            buf = self._buffer((key, name), (n_patch, *blocks.shapes[name]), source.dtype)
            rows = buf.view(source.shape[0], -1)
            torch.gather(source, 1, plan["idx"].expand(rows.shape), out=rows)
            if plan["extra_dst"].numel():
                _add_at(rows, plan["extra_dst"], _take(source, plan["extra_src"]))
            out.append(rows.mul_(plan["keep"].to(rows.dtype)).view(buf.shape))
        return out

    def _schur(self, key, Y: torch.Tensor, source: torch.Tensor, plan: dict) -> torch.Tensor:
        """The Schur complement ``A_ff − Y Yᵀ`` (n_patch, nf, nf), A_ff added from its nonzero part
        entries ``source`` (G, row) per ``plan``."""
        S = self._buffer((key, "ff"), (Y.shape[0], Y.shape[1], Y.shape[1]), Y.dtype)
        torch.baddbmm(S, Y, Y.mT, beta=0, alpha=-1, out=S)
        _add_at(S.view(source.shape[0], -1), plan["dst"], _take(source, plan["src"]))
        return S

    def element_displacements(self, lam: torch.Tensor, mu: torch.Tensor, K_lam: torch.Tensor,
                              K_mu: torch.Tensor, u_top: torch.Tensor) -> torch.Tensor:
        """Element dofs ``(B, n_el, ne, R)`` of the solution (a view of a contiguous (B, R, ne, n_el) array).

        lam, mu: (B, n_el); ``u_top``: (B, n_top_bnd_dofs, R) boundary values of the whole cell in
        the cell's boundary-node order (see ``top_boundary``), node-major; for a periodic cell the
        strains (R, dim, dim) of the affine part instead. ``K_lam``/``K_mu``: the
        unit element matrices (ne, ne) (those of the grid; the leaf blocks use their own copy).
        """
        B, n_el, ne = lam.shape[0], lam.shape[1], K_lam.shape[0]
        R = u_top.shape[0] if self.periodic else u_top.shape[-1]
        dt = lam.dtype
        coef = torch.stack([_take(lam, self.order), _take(mu, self.order)], -1)  # (B, n_el, 2), leaf patch order
        if not self.layouts or "unit" not in self.layouts[0]:  # the element matrices, as the leaf parts
            source = torch.matmul(coef, torch.stack([K_lam, K_mu]).flatten(1),
                                  out=self._buffer("Ke", (B, n_el, ne * ne), dt))
        factors, n_patch = [], B * n_el
        for level, layout in enumerate(self.layouts):
            n_patch //= layout["parts"]
            blk = layout["blocks"]
            if "unit" in layout:
                c = coef.view(n_patch, -1)
                unit = {k: u.to(dt) for k, u in layout["unit"].items()}
                Aii, Afi = (torch.mm(c, unit[k], out=self._buffer((0, k), (n_patch, unit[k].shape[1]), dt))
                            .view(n_patch, *blk.shapes[k]) for k in ("ii", "fi"))
            else:
                Aii, Afi = self._gather(level, source.view(n_patch, -1), blk, layout["plans"], n_patch)
            L = torch.linalg.cholesky(Aii)
            Y = torch.linalg.solve_triangular(L, Afi.mT, upper=False).mT  # A_fi L⁻ᵀ
            if "unit" in layout:
                S = torch.mm(c, unit["ff"], out=self._buffer((0, "ff"), (n_patch, blk.nf**2), dt))
                S = S.view(n_patch, blk.nf, blk.nf)
                S.baddbmm_(Y, Y.mT, alpha=-1)
            else:
                S = self._schur(level, Y, source.view(n_patch, -1), layout["ff"])
            factors.append((L, Y))
            source = S
        sp = self.split
        rows = source.view(B, -1)
        Aii, *Afi = self._gather("split", rows, sp["blocks"], sp["plans"], B * sp["patches"])
        L = torch.linalg.cholesky(Aii)
        solve_top = self._top_periodic if self.periodic else self._top_affine
        u = solve_top(L, Afi, rows, u_top, B, R)
        # back-substitution: each level gathers its patches' boundary values from its parents' dofs
        full, rows, parent = u, B, ("split", sp["maps"])  # split patches' dofs (B * n_p, size, R): a row per sample
        for level in range(len(self.layouts) - 1, -1, -1):
            L, Y = factors[level]
            u = _take(full.view(rows, -1), self._fold(*parent, R)).view(L.shape[0], -1, R)
            ui = torch.linalg.solve_triangular(L.mT, Y.mT @ u, upper=True).neg_()
            full, rows, parent = torch.cat([ui, u], -2), L.shape[0], (level, self.layouts[level]["maps"])
        ue = _take(full.view(B, -1), self._fold("elements", self.element_dofs, R))
        return ue.view(B, R, ne, n_el).permute(0, 3, 2, 1)

    def _top_affine(self, L, Afi, rows, u_top, B: int, R: int) -> torch.Tensor:
        """Split-level dofs (B * n_p, size, R): prescribed cell boundary, condensed top, patch interiors."""
        sp, top = self.split, self.top
        blk, n_p = sp["blocks"], sp["patches"]
        ni = blk.ni
        g = u_top[:, sp["given"]].flatten(1, 2)  # (B, n_p * prescribed dofs, R)
        load = sp["load"]
        Ag = _add_at(u_top.new_zeros(B, n_p * blk.rows * R), self._fold("load", load["row"], R),
                     (_take(rows, load["src"]).unsqueeze(-1) * g[:, load["col"]]).flatten(1))
        Ag, g = Ag.view(B * n_p, blk.rows, R), g.view(B * n_p, blk.ng, R)  # the prescribed values' load
        y = torch.linalg.solve_triangular(L, Ag[:, :ni], upper=False)
        if top is None:
            ui = torch.linalg.solve_triangular(L.mT, y, upper=True).neg_()
            return torch.cat([ui, g], -2)
        Y = torch.linalg.solve_triangular(L, Afi[0].mT, upper=False).mT
        S = self._schur("split", Y, rows, sp["ff"])
        r = Ag[:, ni:] - Y @ y  # (B * n_p, free dofs, R)
        us = self._solve_top(S, r, B, R)
        ui = torch.linalg.solve_triangular(L.mT, Y.mT @ us + y, upper=True).neg_()
        return torch.cat([ui, us, g], -2)

    def _top_periodic(self, L, Afi, rows, strains, B: int, R: int) -> torch.Tensor:
        """Split-level dofs (B * n_p, size, R) of a periodic cell: each patch's boundary values are its
        top (periodic) dofs plus the affine jump ``c = ε · jump`` of the nodes beyond the faces, so the
        top load is ``−Σ_p M_pᵀ S_p c_p``; the origin node is pinned (translations cost no energy)."""
        sp = self.split
        n_p = sp["patches"]
        c = torch.einsum("pnk,rck->pncr", sp["jump"], strains.to(sp["jump"]))  # (n_p, nodes, dim, R)
        c = c.reshape(1, n_p, -1, R).expand(B, -1, -1, -1).reshape(B * n_p, -1, R).to(rows.dtype)
        Y = torch.linalg.solve_triangular(L, Afi[0].mT, upper=False).mT
        S = self._schur("split", Y, rows, sp["ff"])
        us = self._solve_top(S, S @ c, B, R, pin=self.dim) + c
        ui = torch.linalg.solve_triangular(L.mT, Y.mT @ us, upper=True).neg_()
        return torch.cat([ui, us], -2)

    def _solve_top(self, S, r, B: int, R: int, pin: int = 0) -> torch.Tensor:
        """Free boundary values (B * n_p, nf, R) of the split patches from the top system
        ``A w = −Σ_p M_pᵀ r_p`` (A assembled from the patches' Schur complements ``S``); the first
        ``pin`` top dofs are held at zero."""
        top = self.top
        nt = top["n_int"]
        (A,) = self._gather("top", S.view(B, -1), top["blocks"], top["plans"], B)
        maps = self._fold("top", top["maps"], R)
        rhs = _add_at(A.new_zeros(B, nt * R), maps, r.reshape(B, -1)).view(B, nt, R)
        if pin:
            A[:, :pin, :] = 0.0
            A[:, :, :pin] = 0.0
            A[:, range(pin), range(pin)] = 1.0
            rhs[:, :pin] = 0.0
        ut = torch.cholesky_solve(rhs, torch.linalg.cholesky(A)).neg_()
        return _take(ut.reshape(B, -1), maps).view(B * self.split["patches"], -1, R)

    def _fold(self, key, idx: torch.Tensor, R: int) -> torch.Tensor:
        """Flat index of every component of ``idx``'s node-major R-vectors: ``(idx * R + r)``, r last.

        ``self.element_dofs`` (ne, n_el) gives the order (R, ne, n_el), r first.
        """
        if (key, R) not in self._folded:
            comp = torch.arange(R, device=self.device)
            if key == "elements":
                self._folded[key, R] = (idx * R + comp[:, None, None]).flatten()
            else:
                self._folded[key, R] = (idx.reshape(-1, 1) * R + comp).flatten()
        return self._folded[key, R]
