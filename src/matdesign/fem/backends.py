"""The three linear solvers behind :class:`matdesign.fem.Homogenizer`, with one calling convention.

``backend.solve(lam, mu, load, x0)``: Lamé fields ``lam, mu`` (B, n_el) on the backend's
device/dtype, the load of R load cases — affine boundary fields ``u_aff`` (R, dim, *nodes), or for a
periodic cell (``backend.periodic``) the macroscopic strains (R, dim, dim) — optional warm start
``x0`` (B, R, dim, *nodes) → ``(u_e, info, state)`` with element dofs ``u_e`` (B, R, ne, n_el) of the
solution, an info dict and the state to pass as the next ``x0`` (None where unused).
"""

from __future__ import annotations

import numpy as np
import torch

from matdesign.fem.condense import Condensation
from matdesign.fem.deflation import RigidModeDeflation, adef2
from matdesign.fem.direct import DirectSolver
from matdesign.fem.grid import VoxelGrid
from matdesign.fem.multigrid import MultigridPreconditioner
from matdesign.fem.pcg import pcg


class PCGBackend:
    """Matrix-free PCG with a geometric-multigrid V-cycle preconditioner (torch, CPU or GPU).

    CG runs in the grid's dtype; the V-cycle runs in float32 (a preconditioner needs no more), which
    halves its memory traffic at unchanged iteration counts. Converged samples leave the batch (PCG's
    ``shrink``), so a batch costs its mean, not its worst, iteration count per sample. ``deflation``:
    add the rigid modes of the field's stiff particles as a coarse space (A-DEF2, see
    :mod:`matdesign.fem.deflation`; only where the sample's shear-modulus contrast is ≥ 20).
    """

    name = "pcg"
    periodic = False

    def __init__(self, grid: VoxelGrid, tol: float, maxiter: int, deflation: bool = True):
        self.grid, self.tol, self.maxiter, self.deflation = grid, tol, maxiter, deflation
        self.grid32 = grid if grid.dtype == torch.float32 else VoxelGrid(grid.dim, grid.n, grid.device, torch.float32)

    def solve(self, lam, mu, u_aff, x0=None):
        g = self.grid
        u_bnd = u_aff * (1.0 - g.interior)
        b = -g.apply_lame(u_bnd, lam[:, None], mu[:, None]) * g.interior
        x, info = multigrid_pcg(g, self.grid32, lam, mu, b, x0, self.tol, self.maxiter, self.deflation,
                                masked=True)
        return g.gather(u_bnd + x), info, x


def multigrid_pcg(g, grid32, lam, mu, b, x0, tol: float, maxiter: int, deflation: bool, *, masked: bool = False,
                  project=None):
    """PCG on ``A x = b`` (b: (B, R, dim, *nodes)) with the float32 V-cycle of ``grid32`` and, where active,
    the particle rigid-mode coarse space (A-DEF2); converged samples leave the batch. ``masked``: A acts
    on interior nodes only (Dirichlet grid); ``project``: applied to the preconditioned residuals and the
    start (the periodic solver's zero-mean projection). Returns ``(x, info)`` with ``levels`` and ``particles``."""
    lam, mu = lam[:, None], mu[:, None]
    mg = MultigridPreconditioner(grid32, lam.float(), mu.float())
    defl = RigidModeDeflation(g, lam[:, 0], mu[:, 0]) if deflation else None
    defl = defl if defl is not None and defl.active else None
    project = project or (lambda v: v)

    def apply_A(v):
        Av = g.apply_lame(v, lam, mu)
        return Av * g.interior if masked else Av

    def shrink(keep):
        nonlocal lam, mu
        lam, mu = lam[keep], mu[keep]
        mg.select(keep)
        if defl is not None:
            defl.select(keep)

    precond = lambda r: project(mg(r.float()).to(g.dtype))  # noqa: E731
    x0 = None if x0 is None else project(x0)
    if defl is not None:  # A-DEF2: coarse-corrected start, Pᵀ M + Q as the preconditioner (its A in float32)
        precond = adef2(precond, lambda z: mg.apply_operator(z.float()).to(g.dtype), defl)
        x0 = defl.Q(b) if x0 is None else x0 + defl.Q(b - apply_A(x0))
    x, info = pcg(apply_A, b, precond, x0, tol=tol, maxiter=maxiter, field_dims=g.dim + 1, shrink=shrink)
    info["levels"] = len(mg.grids)
    info["particles"] = None if defl is None else defl.particles
    return x, info


class CondenseBackend:
    """Exact hierarchical static condensation (torch, CPU or GPU); best for 2D up to ~192².

    Affine boundary values, or a periodic cell (``periodic=True``: ``solve`` takes the strains).
    Not thread-safe (the tree reuses its work arrays): one backend per thread. On CPU the
    :class:`~matdesign.fem.Homogenizer` passes one sample at a time (the work arrays stay in cache).
    """

    name = "condense"

    def __init__(self, grid: VoxelGrid, leaf: int = 4, periodic: bool = False):
        self.grid, self.periodic = grid, periodic
        self.tree = Condensation(grid.dim, grid.n, grid.device, grid.dtype, leaf, periodic)

    def solve(self, lam, mu, u_aff, x0=None):
        g = self.grid
        if self.periodic:
            ue = self.tree.element_displacements(lam, mu, g.K_lam, g.K_mu, u_aff)
            return ue.permute(0, 3, 2, 1), {}, None
        nodal = u_aff.reshape(u_aff.shape[0], g.dim, -1).transpose(1, 2)  # (R, nodes, dim)
        u_top = nodal[:, self.tree.top_boundary].reshape(u_aff.shape[0], -1).T  # (nb, R)
        ue = self.tree.element_displacements(lam, mu, g.K_lam, g.K_mu, u_top.expand(lam.shape[0], -1, -1))
        return ue.permute(0, 3, 2, 1), {}, None


class ScipyBackend:
    """Sparse LU (SciPy SuperLU) per sample on CPU, float64: the independent reference solver."""

    name = "scipy"
    periodic = False

    def __init__(self, grid: VoxelGrid):
        self.grid = grid
        self.direct = DirectSolver(grid.dim, grid.n)
        self._loads: dict[bytes, list] = {}

    def solve(self, lam, mu, u_aff, x0=None):
        g = self.grid
        ua = u_aff.detach().to("cpu", torch.float64).reshape(u_aff.shape[0], -1).numpy()
        key = ua.tobytes()
        if key not in self._loads:
            self._loads = {key: [self.direct.load_matrix(u) for u in ua]}
        lam_np = lam.detach().to("cpu", torch.float64).numpy()
        mu_np = mu.detach().to("cpu", torch.float64).numpy()
        v = self.direct.solve(lam_np, mu_np, self._loads[key])  # (B, R, n_int)
        u = np.repeat(ua[None], len(lam_np), 0)
        u[:, :, self.direct.interior] = v
        u = torch.as_tensor(u, device=g.device, dtype=g.dtype).reshape(*u.shape[:2], g.dim, *g.node_shape)
        return g.gather(u), {}, None
