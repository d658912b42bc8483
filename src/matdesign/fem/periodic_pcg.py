"""Matrix-free PCG for periodic homogenization, ``u = ε·x + ũ`` with ``ũ`` periodic (torch, CPU or GPU).

The fluctuation solves ``A ũ = b`` with ``b = −scatter((λ_e K_λ + μ_e K_μ) a)`` on the torus, where
``a`` (R, ne) are the element dofs of ``ε·x`` (:meth:`PeriodicVoxelGrid.element_affine`); the element
dofs of the solution are ``u_e = a + gather(ũ)``, for the same energy/gradient formulas as the
affine solvers (``K = 2W/(dim² V)``, V = 1). ``A`` is singular (the dim translations); ``b`` is
orthogonal to them, and the start, ``b`` and every preconditioned residual are projected onto the
per-component zero-mean fields, so CG runs on the consistent system in the range of ``A``
(``ũ`` has zero mean). With stiff particles (shear-modulus contrast ≥ 20) the particle rigid-mode
coarse space of :mod:`matdesign.fem.deflation` is added as in the affine PCG (A-DEF2, its ``Q``
projected against the translations).
"""

from __future__ import annotations

import torch

from matdesign.fem.backends import multigrid_pcg
from matdesign.fem.periodic_grid import PeriodicVoxelGrid


class PeriodicPCGBackend:
    """PCG with the periodic geometric-multigrid V-cycle (float32) as preconditioner.

    Like :class:`~matdesign.fem.backends.PCGBackend` (converged samples leave the batch; ``deflation``:
    the particle rigid-mode coarse space, A-DEF2, where the sample's shear-modulus contrast is ≥ 20),
    on the torus (periodic labels and modes, see :mod:`matdesign.fem.deflation`).
    """

    name = "periodic-pcg"

    def __init__(self, grid: PeriodicVoxelGrid, tol: float, maxiter: int, deflation: bool = True):
        self.grid, self.tol, self.maxiter, self.deflation = grid, tol, maxiter, deflation
        self.grid32 = grid if grid.dtype == torch.float32 else PeriodicVoxelGrid(grid.dim, grid.n, grid.device,
                                                                                 torch.float32)

    def _zero_mean(self, v: torch.Tensor) -> torch.Tensor:
        return v - v.mean(tuple(range(-self.grid.dim, 0)), keepdim=True)

    def solve(self, lam, mu, a, x0=None):
        """Lamé fields ``lam, mu`` (B, n_el) [GPa] on the grid's device/dtype, affine element dofs ``a``
        (R, ne), warm start ``x0`` (B, R, dim, *nodes) or None → ``(u_e, info, ũ)``: element dofs
        (B, R, ne, n_el), PCG info (``iterations``, ``residual`` (B, R), ``converged``, ``levels``,
        ``particles`` (B,) in the coarse space or None) and the fluctuation ``ũ`` (B, R, dim, *nodes)
        for the next ``x0``."""
        g, ne = self.grid, self.grid.ne
        ya = (a @ g.K_stack.T)[..., None]  # (R, 2 ne, 1): [K_λ a; K_μ a]
        b = self._zero_mean(-g.scatter(lam[:, None, None] * ya[:, :ne] + mu[:, None, None] * ya[:, ne:]))
        # Q's output has zero mean (deflation.py), so with the projected start all iterates keep it
        x, info = multigrid_pcg(g, self.grid32, lam, mu, b, x0, self.tol, self.maxiter, self.deflation,
                                project=self._zero_mean)
        return a[:, :, None] + g.gather(x), info, x
