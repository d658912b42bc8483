"""Geometric multigrid V-cycle on the voxel grid, used as the PCG preconditioner (torch, any device).

Grids are halved while ``n`` is even and larger than ``coarsest``. Transfers are (bi/tri)linear
interpolation ``P`` and ``R = Pᵀ``. Coarse operators are Galerkin, ``A_c = Pᵀ A P``, built element by
element: each coarse voxel holds ``2**dim`` fine voxels, and on it ``P`` is the coarse element's own
shape-function interpolation ``Q_s`` (s = sub-voxel), so ``K_C = Σ_s Q_sᵀ K_s Q_s``. Coefficient jumps
(E contrast 1e4 and more) therefore stay visible on every level. The coarsest level is solved
exactly (batched dense Cholesky). Smoother: Chebyshev polynomial in ``D⁻¹A`` (D = diagonal) on
``[ρ/ratio, ρ]``, ρ an upper estimate of ρ(D⁻¹A) per level and sample (1.1 × the largest Ritz value of
a few Lanczos steps; plain power iteration underestimates ρ by ~25 % for ν → 0.5, and a Chebyshev
smoother diverges for eigenvalues above its interval). It damps the upper part of the spectrum much
better than damped Jacobi at the same matvec count (32³, E contrast 1e4, ν 0.49: 166 → 124 PCG
iterations). The same polynomial is applied before and after the coarse correction, so the V-cycle
is a symmetric positive definite preconditioner.

Periodic grids (:class:`~matdesign.fem.periodic_grid.PeriodicVoxelGrid`) coarsen to periodic grids
with wrapped interpolation (:func:`prolong_periodic`, :func:`restrict_periodic`); the Galerkin element
products are the same. Their operators are singular (the dim translations, Z: per-component
constants): the coarsest level factors ``A_c + c Z Zᵀ`` (c = mean diagonal) and projects Z out of the
result, which is the pseudo-inverse ``A_c⁺``; the V-cycle stays symmetric positive semidefinite.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from matdesign.fem.elements import corner_offsets, shape_values
from matdesign.fem.grid import VoxelGrid


MAX_COARSE_DOFS = 6000
"""Largest coarsest level (all dofs) solved exactly; beyond it the bottom level is only smoothed."""


def _axis_slice(ndim: int, ax: int, sl: slice) -> tuple:
    return (slice(None),) * ax + (sl,) + (slice(None),) * (ndim - ax - 1)


def prolong(v: torch.Tensor, dim: int) -> torch.Tensor:
    """Linear interpolation of nodal ``(..., *(m+1,)*dim)`` to ``(..., *(2m+1,)*dim)``."""
    for ax in range(v.ndim - dim, v.ndim):
        m = v.shape[ax] - 1
        head = v.narrow(ax, 0, m)
        odd = 0.5 * (head + v.narrow(ax, 1, m))
        inter = torch.stack([head, odd], ax + 1).flatten(ax, ax + 1)
        v = torch.cat([inter, v.narrow(ax, m, 1)], ax)
    return v


def restrict(r: torch.Tensor, dim: int) -> torch.Tensor:
    """Transpose of :func:`prolong`: fine ``(..., *(2m+1,)*dim)`` → coarse ``(..., *(m+1,)*dim)``."""
    for ax in range(r.ndim - dim, r.ndim):
        m = (r.shape[ax] - 1) // 2
        out = r[_axis_slice(r.ndim, ax, slice(0, None, 2))].clone()
        odd = 0.5 * r[_axis_slice(r.ndim, ax, slice(1, None, 2))]
        out.narrow(ax, 0, m).add_(odd)
        out.narrow(ax, 1, m).add_(odd)
        r = out
    return r


def prolong_periodic(v: torch.Tensor, dim: int) -> torch.Tensor:
    """Wrapped linear interpolation of periodic nodal ``(..., *(m,)*dim)`` to ``(..., *(2m,)*dim)``:
    even fine nodes are coarse nodes, odd ones the mean of their two coarse neighbours."""
    for ax in range(v.ndim - dim, v.ndim):
        odd = 0.5 * (v + torch.roll(v, -1, ax))
        v = torch.stack([v, odd], ax + 1).flatten(ax, ax + 1)
    return v


def restrict_periodic(r: torch.Tensor, dim: int) -> torch.Tensor:
    """Transpose of :func:`prolong_periodic`: fine ``(..., *(2m,)*dim)`` → coarse ``(..., *(m,)*dim)``."""
    for ax in range(r.ndim - dim, r.ndim):
        odd = 0.5 * r[_axis_slice(r.ndim, ax, slice(1, None, 2))]
        r = r[_axis_slice(r.ndim, ax, slice(0, None, 2))] + odd + torch.roll(odd, 1, ax)
    return r


@lru_cache(maxsize=None)
def _sub_interpolation(dim: int) -> np.ndarray:
    """``Q_s`` (2**dim, ne, ne): coarse-element dofs → dofs of its sub-voxel ``s``."""
    off = corner_offsets(dim)
    eye = np.eye(dim)
    return np.stack([np.kron(shape_values(dim, (s + off) / 2.0), eye) for s in off])


def _group_children(x: torch.Tensor, dim: int, n: int, n_rest: int) -> torch.Tensor:
    """Per-voxel ``(..., n**dim, *rest)`` → ``(..., (n/2)**dim, 2**dim, *rest)`` (children in corner order)."""
    lead, rest = x.shape[: x.ndim - 1 - n_rest], x.shape[x.ndim - n_rest :]
    x = x.reshape(*lead, *(n // 2, 2) * dim, *rest)
    nl = len(lead)
    perm = list(range(nl)) + [nl + 2 * i for i in range(dim)] + [nl + 2 * i + 1 for i in range(dim)]
    perm += list(range(nl + 2 * dim, x.ndim))
    return x.permute(perm).reshape(*lead, (n // 2) ** dim, 2**dim, *rest)


class MultigridPreconditioner:
    """V-cycle for the interior-Dirichlet (or, on a periodic grid, the periodic) operator of one batch
    of Lamé fields.

    ``lam``, ``mu``: (..., n_el) on the grid's device/dtype. Levels are built at construction (the
    Galerkin products cost about one fine matvec per level, the ρ estimates ``lanczos_steps`` matvecs
    per level). ``sweeps``: Chebyshev steps (D⁻¹ applications) per pre- and post-smoothing. Calling
    the object applies one V-cycle to a nodal residual (..., dim, *nodes) whose leading dims
    broadcast against those of ``lam``.
    """

    def __init__(self, grid: VoxelGrid, lam: torch.Tensor, mu: torch.Tensor, *, coarsest: int = 4,
                 sweeps: int = 2, ratio: float = 30.0, lanczos_steps: int = 10):
        self.dim, self.sweeps, self.ratio = grid.dim, sweeps, ratio
        self.prolong, self.restrict = (prolong_periodic, restrict_periodic) if grid.periodic else (prolong, restrict)
        dev, dt = grid.device, grid.dtype
        Q = torch.tensor(_sub_interpolation(grid.dim), device=dev, dtype=dt)
        self.grids, self.ops, self.inv_diag = [grid], [("lame", lam, mu)], []
        self.inv_diag.append(self._inverse(grid.diag_lame(lam, mu), grid))
        n, Ke = grid.n, None
        while n % 2 == 0 and n > coarsest:
            if Ke is None:  # first coarsening straight from the Lamé split
                T = torch.stack([Q.transpose(1, 2) @ K @ Q for K in (grid.K_lam, grid.K_mu)], 1)
                coef = torch.stack([_group_children(c, grid.dim, n, 0) for c in (lam, mu)], -1)
                coef = coef.flatten(-2)  # (..., n_c_el, 2**dim * 2) in (child, lam|mu) order
                Ke = (coef @ T.reshape(coef.shape[-1], -1)).reshape(*coef.shape[:-1], grid.ne, grid.ne)
            else:
                sub = _group_children(Ke, grid.dim, n, 2)
                Ke = (Q.transpose(1, 2) @ sub @ Q).sum(-3)
            n //= 2
            g = type(grid)(grid.dim, n, dev, dt)
            self.grids.append(g)
            self.ops.append(("dense", Ke))
            self.inv_diag.append(self._inverse(g.diag_dense(Ke), g))
        self._coarse_factor(self.grids[-1], self.ops[-1])
        smoothed = len(self.grids) - (0 if self.chol is None else 1)
        self.rho = [self._spectral_radius(level, lam.shape[:-1], lanczos_steps) for level in range(smoothed)]

    def _spectral_radius(self, level: int, lead, steps: int) -> torch.Tensor:
        """Upper estimate (×1.1) of ρ(D⁻¹A) on ``level``: largest Ritz value of ``steps`` Lanczos steps
        on ``D^-½ A D^-½``, shape (*lead, 1, ..., 1)."""
        g, Dinv = self.grids[level], self.inv_diag[level]
        s = torch.sqrt(Dinv)
        gen = torch.Generator(device=g.device).manual_seed(0)
        q = torch.rand(*lead, g.dim, *g.node_shape, generator=gen, device=g.device, dtype=g.dtype) * g.interior
        dims = tuple(range(-g.dim - 1, 0))
        q = q / torch.sqrt((q * q).sum(dims, keepdim=True))
        q_prev, beta, alphas, betas = torch.zeros_like(q), 0.0, [], []
        for j in range(steps):
            w = s * self._apply(level, s * q)
            alpha = (w * q).sum(dims, keepdim=True)
            w = w - alpha * q - beta * q_prev
            alphas.append(alpha)
            if j == steps - 1:
                break
            beta = torch.sqrt((w * w).sum(dims, keepdim=True))
            betas.append(beta)
            q_prev, q = q, w / beta
        a = torch.stack(alphas, -1).flatten(-g.dim - 2)
        T = torch.diag_embed(a)
        if betas:
            b = torch.stack(betas, -1).flatten(-g.dim - 2)
            T = T + torch.diag_embed(b, 1) + torch.diag_embed(b, -1)
        rho = torch.linalg.eigvalsh(T.double())[..., -1].to(g.dtype)
        return 1.1 * rho.reshape(*rho.shape, *(1,) * (g.dim + 1))

    @staticmethod
    def _inverse(diag: torch.Tensor, grid: VoxelGrid) -> torch.Tensor:
        return grid.interior / torch.where(grid.interior > 0, diag, torch.ones_like(diag))

    def _apply(self, level: int, u: torch.Tensor) -> torch.Tensor:
        op = self.ops[level]
        g = self.grids[level]
        out = g.apply_lame(u, op[1], op[2]) if op[0] == "lame" else g.apply_dense(u, op[1])
        return out * g.interior

    def _coarse_factor(self, grid: VoxelGrid, op) -> None:
        """Dense interior matrix of the coarsest level (periodic: plus ``c Z Zᵀ``) and its Cholesky factor."""
        if op[0] == "lame":
            Ke = op[1][..., None, None] * grid.K_lam + op[2][..., None, None] * grid.K_mu
        else:
            Ke = op[1]
        n_dof = grid.dim * int(np.prod(grid.node_shape))
        if n_dof > MAX_COARSE_DOFS:  # e.g. odd n: no exact coarse solve, smoothing only
            self.chol = None
            return
        idx = grid.gather(torch.arange(n_dof, device=grid.device).reshape(grid.dim, *grid.node_shape))
        A = Ke.new_zeros(*Ke.shape[:-3], n_dof * n_dof)
        flat = (idx.T[:, :, None] * n_dof + idx.T[:, None, :]).reshape(-1)
        A.index_add_(-1, flat, Ke.reshape(*Ke.shape[:-3], -1))
        free = torch.nonzero(grid.interior.expand(grid.dim, *grid.node_shape).reshape(-1) > 0).squeeze(1)
        A = A.reshape(*A.shape[:-1], n_dof, n_dof)[..., free[:, None], free[None, :]]
        if grid.periodic:
            comp = torch.arange(n_dof, device=grid.device) // (n_dof // grid.dim)
            ZZt = (comp[:, None] == comp[None, :]).to(A.dtype) / (n_dof // grid.dim)
            A = A + torch.diagonal(A, dim1=-2, dim2=-1).mean(-1)[..., None, None] * ZZt
        self.free = free
        self.chol = torch.linalg.cholesky(A)

    def _coarse_solve(self, r: torch.Tensor) -> torch.Tensor:
        g = self.grids[-1]
        flat = r.reshape(*r.shape[: -g.dim - 1], -1)
        x = torch.cholesky_solve(flat[..., self.free, None], self.chol).squeeze(-1)
        out = torch.zeros_like(flat)
        out[..., self.free] = x
        out = out.reshape(r.shape)
        if g.periodic:  # remove the translations: A_c⁺ r
            out = out - out.mean(tuple(range(-g.dim, 0)), keepdim=True)
        return out

    def _smooth(self, level: int, r: torch.Tensor, steps: int) -> torch.Tensor:
        """Chebyshev smoother from x = 0: ``x = p(D⁻¹A) D⁻¹ r`` (``steps - 1`` matvecs), Saad alg. 12.1."""
        Dinv, b = self.inv_diag[level], self.rho[level]
        a = b / self.ratio
        theta, delta = (b + a) / 2, (b - a) / 2
        sigma = theta / delta
        rho_k = 1 / sigma
        d = Dinv * r / theta
        x = d
        for _ in range(steps - 1):
            rho_n = 1 / (2 * sigma - rho_k)
            d = rho_n * rho_k * d + (2 * rho_n / delta) * (Dinv * (r - self._apply(level, x)))
            x = x + d
            rho_k = rho_n
        return x

    def _vcycle(self, level: int, r: torch.Tensor) -> torch.Tensor:
        bottom = level == len(self.grids) - 1
        if bottom and self.chol is not None:
            return self._coarse_solve(r)
        x = self._smooth(level, r, self.sweeps * (3 if bottom else 1))
        if bottom:
            return x
        rc = self.restrict(r - self._apply(level, x), self.dim) * self.grids[level + 1].interior
        x = x + self.prolong(self._vcycle(level + 1, rc), self.dim)
        return x + self._smooth(level, r - self._apply(level, x), self.sweeps)

    def apply_operator(self, u: torch.Tensor) -> torch.Tensor:
        """The fine-level operator (interior rows) in the preconditioner's dtype."""
        return self._apply(0, u)

    def select(self, keep: torch.Tensor) -> None:
        """Keep only the samples ``keep`` (indices into axis 0 of ``lam``, which must be the batch axis)."""
        self.ops = [(op[0], *(t[keep] for t in op[1:])) for op in self.ops]
        self.inv_diag = [t[keep] for t in self.inv_diag]
        self.rho = [t[keep] for t in self.rho]
        if self.chol is not None:
            self.chol = self.chol[keep]

    def __call__(self, r: torch.Tensor) -> torch.Tensor:
        return self._vcycle(0, r)
