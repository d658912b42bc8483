"""Effective (homogenized) elastic properties of voxel fields: bulk modulus with gradients, stiffness.

Each voxel is one element with its own (E, ν). Boundary conditions (``bc``): ``"affine"`` prescribes
``u = ε·x`` on every boundary node (the paper's cell; an upper estimate of the composite's moduli);
``"periodic"`` seeks ``u = ε·x + ũ`` with ``ũ`` periodic (opposite faces identified: the cell is one
tile of an infinite periodic composite). For ``ε = I`` Hill's lemma gives
``tr⟨σ⟩ = 2W/V`` (unit strain amplitude), so ``K = 2W / (dim² V)``; ``W = ½ Σ_e (λ_e u_eᵀK_λu_e +
μ_e u_eᵀK_μu_e)`` and, as ``u`` minimizes ``W`` over the free dofs, ``dW/dλ_e = ½ u_eᵀK_λu_e`` and
``dW/dμ_e = ½ u_eᵀK_μu_e`` exactly: one solve gives K and its gradient (no adjoint solve).
Likewise for the stiffness ``C_ij = a(u_i, u_j)/V`` of the unit Voigt strains:
``dC_ij/dθ = u_iᵀ(∂K_h/∂θ)u_j / V`` with the solutions frozen. See docs/physics.md.
"""

from __future__ import annotations

import time
import warnings
from functools import lru_cache

import numpy as np
import torch

from matdesign.errors import InputError
from matdesign.validate import check_dim, check_integers
from matdesign.fem.backends import CondenseBackend, PCGBackend, ScipyBackend
from matdesign.fem.elements import VOIGT_PAIRS
from matdesign.fem.energy_form import EnergyForm
from matdesign.fem.grid import VoxelGrid
from matdesign.fem.periodic_grid import PeriodicVoxelGrid
from matdesign.fem.periodic_pcg import PeriodicPCGBackend
from matdesign.fem.release import release_modulus
from matdesign.fem.moduli import lame, lame_derivatives
from matdesign.fem.threads import ChunkPool
from matdesign.fem.validate import as_fields, to_output

SOLVERS = ("auto", "condense", "pcg", "scipy")
BOUNDARY_CONDITIONS = ("affine", "periodic")


def auto_solver(dim: int, size: int, device, bc: str = "affine") -> str:
    """Default solver: exact condensation for 2D grids up to 128² (periodic: 256²; contrast-independent),
    else PCG."""
    return "condense" if dim == 2 and size <= (256 if bc == "periodic" else 128) else "pcg"


def unit_strains(dim: int, case: str) -> torch.Tensor:
    """Strain tensors (R, dim, dim): ``"bulk"`` → [I]; ``"voigt"`` → unit Voigt strains (engineering shear)."""
    if case == "bulk":
        return torch.eye(dim, dtype=torch.float64)[None]
    eps = torch.zeros(len(VOIGT_PAIRS[dim]), dim, dim, dtype=torch.float64)
    for r, (i, j) in enumerate(VOIGT_PAIRS[dim]):
        eps[r, i, j] = eps[r, j, i] = 1.0 if i == j else 0.5
    return eps


def _default_chunk(solver: str, grid: VoxelGrid) -> int:
    """Samples per solve: all at once on GPU; on CPU small chunks that stay cache- and memory-friendly
    (one sample for the memory-bound condensation), spread over torch's threads (fem/threads.py)."""
    if grid.device.type != "cpu":
        return 1 << 30
    if solver == "pcg":
        return max(1, 2**15 // grid.n_el)  # 1 sample at 32³, 8 at 64² or 16³, 18 at 12³
    return 1 if solver == "condense" else 8


class Homogenizer:
    """Batched, reusable homogenization solver for one grid (``size**dim`` voxels).

    ``solver``: ``"condense"`` (exact, batched nested dissection; default for 2D ≤ 128²), ``"pcg"``
    (matrix-free multigrid-preconditioned CG, warm-started; default otherwise) or ``"scipy"``
    (SuperLU reference, CPU). ``tol`` is PCG's relative residual (float64: 1e-10 is reachable; use
    ≥ 1e-6 with ``dtype=torch.float32``). ``warm_start``: PCG starts from the previous solution when
    the batch shape is unchanged (consecutive guidance steps). ``chunk``: samples per solve (default:
    whole batch on GPU; on CPU one to a few, the chunks spread over ``torch.get_num_threads()`` Python
    threads with torch single-threaded meanwhile, see :mod:`matdesign.fem.threads`). ``deflation``: PCG
    adds the rigid motions of the field's stiff particles as a coarse space where the contrast is high
    (fewer iterations, same solution; see :mod:`matdesign.fem.deflation`). After each call ``last_info`` holds
    ``solver``, ``iterations`` (per sample, PCG) , ``residual``, ``seconds``, ``warm_started``,
    ``particles`` (per sample, PCG: particles in the coarse space). ``bc``: ``"affine"`` (default, the
    paper's cell) or ``"periodic"`` (condense or PCG, both boundary conditions with the particle coarse space).
    """

    def __init__(self, dim: int, size: int, *, device="cpu", dtype=torch.float64, solver: str = "auto",
                 tol: float = 1e-10, maxiter: int = 1000, warm_start: bool = True, chunk: int | None = None,
                 deflation: bool = True, bc: str = "affine"):
        check_dim(dim)
        check_integers(low=2, size=size)
        if solver not in SOLVERS:
            raise InputError(f"solver={solver!r}: must be one of {', '.join(SOLVERS)}")
        if not (0 < tol < 1):
            raise InputError(f"tol={tol!r}: must be in (0, 1)")
        _check_bc(bc, solver)
        self.dim, self.size, self.bc = dim, int(size), bc
        self.solver = auto_solver(dim, self.size, device, bc) if solver == "auto" else solver
        grid_type = PeriodicVoxelGrid if bc == "periodic" and self.solver == "pcg" else VoxelGrid
        self.grid = grid_type(dim, self.size, device, dtype)
        self._tol, self._maxiter, self._deflation = tol, maxiter, deflation
        self.backend = self._new_backend()
        self._backends = [self.backend]  # one per thread (condense and scipy keep per-call state)
        self._pool = ChunkPool()
        self.warm_start = warm_start
        self.chunk = chunk or _default_chunk(self.solver, self.grid)
        self._state: dict[str, torch.Tensor] = {}
        self._load = {c: self._case_load(unit_strains(dim, c)) for c in ("bulk", "voigt")}
        self.last_info: dict = {}

    def _case_load(self, strains: torch.Tensor) -> torch.Tensor:
        """What the backend takes for the unit strains (R, dim, dim): the affine boundary field, the
        strains themselves (periodic condensation) or the affine element dofs (periodic PCG)."""
        if self.bc == "affine":
            return self.grid.affine(strains)
        if self.solver == "pcg":
            return self.grid.element_affine(strains)
        return strains.to(self.grid.device, self.grid.dtype)

    def _new_backend(self):
        periodic = self.bc == "periodic"
        if self.solver == "pcg":
            if periodic:
                return PeriodicPCGBackend(self.grid, self._tol, self._maxiter, self._deflation)
            return PCGBackend(self.grid, self._tol, self._maxiter, self._deflation)
        if self.solver == "condense":
            return CondenseBackend(self.grid, periodic=periodic)
        return ScipyBackend(self.grid)

    def _solve(self, lam: torch.Tensor, mu: torch.Tensor, case: str) -> torch.Tensor:
        """Element dofs (B, R, ne, n_el) for Lamé fields (B, n_el) and load set ``case``.

        The batch is solved in chunks of ``self.chunk`` samples (so that a slow PCG sample does not
        hold the others back on CPU, and memory stays bounded); on CPU the chunks are spread over
        ``torch.get_num_threads()`` threads, each with its own backend.
        """
        x0 = self._state.get(case) if self.warm_start else None
        if x0 is not None and x0.shape[0] != lam.shape[0]:
            x0 = None
        tic = time.perf_counter()
        chunks = [slice(lo, lo + self.chunk) for lo in range(0, len(lam), self.chunk)]
        workers = min(torch.get_num_threads(), len(chunks)) if self.grid.device.type == "cpu" else 1
        while len(self._backends) < workers:
            self._backends.append(self._new_backend())

        def solve(worker, i):
            sl = chunks[i]
            return self._backends[worker].solve(lam[sl], mu[sl], self._load[case], None if x0 is None else x0[sl])

        parts, infos, states = zip(*self._pool.map(solve, len(chunks), workers))
        if self.warm_start and states[0] is not None:
            self._state[case] = torch.cat(states).detach()
        converged = all(i.get("converged", True) for i in infos)
        its = res = None
        if "iterations" in infos[0]:
            its = torch.cat([i["iterations"].reshape(i["iterations"].shape[0], -1).amax(1) for i in infos]).cpu().numpy()
            res = torch.cat([i["residual"].reshape(i["residual"].shape[0], -1).amax(1) for i in infos]).cpu().numpy()
        if not converged:
            warnings.warn(f"PCG did not reach tol={self.backend.tol:g} in {self.backend.maxiter} iterations "
                          f"(worst relative residual {res.max():.2e})", RuntimeWarning)
        self.last_info = {
            "solver": self.solver,
            "bc": self.bc,
            "iterations": its,
            "residual": res,
            "converged": converged,
            "seconds": time.perf_counter() - tic,
            "warm_started": x0 is not None,
            "batch": int(lam.shape[0]),
            "particles": _particles(infos, [len(p) for p in parts]),
        }
        return torch.cat(parts)

    def _lame(self, E: torch.Tensor, nu: torch.Tensor):
        g = self.grid
        E = E.detach().to(g.device, g.dtype).reshape(-1, g.n_el)
        nu = nu.detach().to(g.device, g.dtype).reshape(-1, g.n_el)
        return E, nu, *lame(E, nu, self.dim)

    def bulk_with_gradient(self, E: torch.Tensor, nu: torch.Tensor):
        """``(K, dK/dE, dK/dν)`` for validated tensors (..., *grid): shapes (...), (..., *grid) ×2."""
        lead, grid = E.shape[: E.ndim - self.dim], E.shape[E.ndim - self.dim :]
        E, nu, lam, mu = self._lame(E, nu)
        ue = self._solve(lam, mu, "bulk")[:, 0]  # (B, ne, n_el)
        y = torch.matmul(self.grid.K_stack, ue)
        ne = self.grid.ne
        w_lam = 0.5 * (ue * y[:, :ne]).sum(1)  # (B, n_el) element energies per unit λ, μ
        w_mu = 0.5 * (ue * y[:, ne:]).sum(1)
        scale = 2.0 / self.dim**2  # K = 2W / (dim² V), V = 1, e₀ = 1
        K = scale * (lam * w_lam + mu * w_mu).sum(1)
        dl_dE, dl_dnu, dm_dE, dm_dnu = lame_derivatives(E, nu, self.dim)
        dK_dE = scale * (w_lam * dl_dE + w_mu * dm_dE)
        dK_dnu = scale * (w_lam * dl_dnu + w_mu * dm_dnu)
        return K.reshape(lead), dK_dE.reshape(*lead, *grid), dK_dnu.reshape(*lead, *grid)

    def bulk_modulus(self, E, nu):
        """Effective bulk modulus [GPa] of fields E [GPa], ν of shape (..., *grid) → (...).

        3D: ``tr⟨σ⟩/(3 tr ε)``; 2D: plane-stress area bulk modulus ``tr⟨σ⟩/(2 tr ε)``. Numpy in →
        float64 numpy out; torch in → torch out (input dtype/device), differentiable w.r.t. E and ν.
        """
        return self._bulk(*as_fields(E, nu, self.dim, self.size))

    def _bulk(self, E: torch.Tensor, nu: torch.Tensor, was_numpy: bool):
        if was_numpy or not torch.is_grad_enabled() or not (E.requires_grad or nu.requires_grad):
            return to_output(self.bulk_with_gradient(E, nu)[0], was_numpy, E)
        return EnergyForm.apply(E, nu, self.bulk_with_gradient, self.dim)

    def stiffness_with_gradient(self, E: torch.Tensor, nu: torch.Tensor, gradient: bool = True):
        """``(C, dC/dE, dC/dν)`` for validated tensors (..., *grid): (..., R, R), (..., R, R, *grid) ×2.

        R = 3 (2D) or 6 (3D) Voigt components. ``dC_ij/dλ_e = u_i,eᵀ K_λ u_j,e`` and likewise for μ
        (energy form, one solve for all R load cases); ``gradient=False`` returns ``(C, None, None)``.
        """
        lead, grid = E.shape[: E.ndim - self.dim], E.shape[E.ndim - self.dim :]
        E, nu, lam, mu = self._lame(E, nu)
        ue = self._solve(lam, mu, "voigt")  # (B, R, ne, n_el)
        y = torch.matmul(self.grid.K_stack, ue)
        ne = self.grid.ne
        if not gradient:
            Ky = lam[:, None, None] * y[:, :, :ne] + mu[:, None, None] * y[:, :, ne:]
            C = _symmetric(torch.einsum("bikn,bjkn->bij", ue, Ky))
            return C.reshape(*lead, *C.shape[1:]), None, None
        # per-element Gram matrices of the solutions: (B, R, R, n_el) per unit λ and μ
        P_lam = _symmetric(torch.einsum("bikn,bjkn->bijn", ue, y[:, :, :ne]))
        P_mu = _symmetric(torch.einsum("bikn,bjkn->bijn", ue, y[:, :, ne:]))
        C = (P_lam * lam[:, None, None] + P_mu * mu[:, None, None]).sum(-1)
        dl_dE, dl_dnu, dm_dE, dm_dnu = (d[:, None, None] for d in lame_derivatives(E, nu, self.dim))
        R = C.shape[-1]
        dC_dE = (P_lam * dl_dE + P_mu * dm_dE).reshape(*lead, R, R, *grid)
        dC_dnu = (P_lam * dl_dnu + P_mu * dm_dnu).reshape(*lead, R, R, *grid)
        return C.reshape(*lead, R, R), dC_dE, dC_dnu

    def effective_stiffness(self, E, nu):
        """Effective stiffness [GPa] in Voigt notation, (..., 3, 3) (2D plane stress) or (..., 6, 6).

        Order 11, 22, (33, 23, 13,) 12 with engineering shear strains; ``C_ij = a(u_i, u_j) / V`` from
        the solutions ``u_i`` of the unit Voigt strains (Hill), symmetric by construction. Numpy in →
        float64 numpy out; torch in → torch out, differentiable w.r.t. E and ν (energy form, one solve).
        """
        return self._stiffness(*as_fields(E, nu, self.dim, self.size))

    def _stiffness(self, E: torch.Tensor, nu: torch.Tensor, was_numpy: bool):
        if was_numpy or not torch.is_grad_enabled() or not (E.requires_grad or nu.requires_grad):
            return to_output(self.stiffness_with_gradient(E, nu, gradient=False)[0], was_numpy, E)
        return EnergyForm.apply(E, nu, self.stiffness_with_gradient, self.dim)


def _check_bc(bc: str, solver: str) -> None:
    if bc not in BOUNDARY_CONDITIONS:
        raise InputError(f"bc={bc!r}: must be one of {', '.join(BOUNDARY_CONDITIONS)}")
    if bc == "periodic" and solver == "scipy":
        raise InputError('bc="periodic": use solver="condense" or "pcg" (the SciPy reference is affine only)')


def _particles(infos: list, sizes: list):
    """Particles found per sample by the PCG's rigid-mode coarse space (0 where none), or None if not PCG."""
    if not infos or "particles" not in infos[0]:
        return None
    return np.concatenate([np.zeros(n, np.int64) if i["particles"] is None else np.asarray(i["particles"])
                           for i, n in zip(infos, sizes)])


def _symmetric(P: torch.Tensor) -> torch.Tensor:
    """Average a (B, R, R, ...) stack with its transpose in the two R axes (removes round-off asymmetry)."""
    return 0.5 * (P + P.transpose(1, 2))


@lru_cache(maxsize=16)
def _cached(dim: int, size: int, device: str, dtype: torch.dtype, solver: str, tol: float, maxiter: int, bc: str):
    return Homogenizer(dim, size, device=device, dtype=dtype, solver=solver, tol=tol, maxiter=maxiter,
                       warm_start=False, bc=bc)


def _prepare(E, nu, dim, solver, tol, maxiter, dtype, bc):
    """Validate the fields and fetch a cached (stateless) :class:`Homogenizer` for them."""
    if solver not in SOLVERS:
        raise InputError(f"solver={solver!r}: must be one of {', '.join(SOLVERS)}")
    _check_bc(bc, solver)
    E, nu, was_numpy = as_fields(E, nu, dim)
    hom = _cached(dim, int(E.shape[-1]), str(E.device), dtype, solver, float(tol), int(maxiter), bc)
    return hom, E, nu, was_numpy


DEFINITIONS = ("bulk", "paper")


def bulk_modulus(E, nu, *, dim: int, bc: str = "affine", solver: str = "auto", tol: float = 1e-10,
                 maxiter: int = 1000, dtype: torch.dtype = torch.float64, definition: str = "bulk"):
    """Effective bulk modulus K [GPa] of voxel fields E [GPa], ν of shape (..., *grid) → (...).

    3D: ``tr⟨σ⟩ / (3 tr ε)`` (exactly ``E/(3(1−2ν))`` for a homogeneous material); 2D: plane-stress
    ``tr⟨σ⟩ / (2 tr ε)`` (exactly ``E/(2(1−ν))``). Numpy in → float64 numpy out; torch in → torch out
    with the input's dtype/device, differentiable w.r.t. E and ν (custom autograd, one solve).
    ``bc``: ``"affine"`` (the paper's cell, an upper estimate) or ``"periodic"`` (one tile of a
    periodic composite); ``solver``: see :class:`Homogenizer`; ``dtype``: computation precision.

    ``definition="paper"``: instead, the quantity of the paper's official release,
    ``tr⟨σ⟩/(3 tr⟨ε⟩)`` under its uniaxial load ``u_z = 0.1 z`` on the surface nodes (2D: a 1 × n × n hex
    plate loaded along image axis 1; 3D: loaded along array axis 2); it brings its own boundary
    conditions (``bc`` must stay ``"affine"``), ``solver`` is ``"auto"``, ``"direct"`` or ``"pcg"`` (3D),
    and it is computed in float64. See :func:`matdesign.fem.release.release_modulus`.
    """
    if definition not in DEFINITIONS:
        raise InputError(f"definition={definition!r}: must be one of {', '.join(DEFINITIONS)}")
    if definition == "paper":
        if bc != "affine":
            raise InputError(f'definition="paper" prescribes the release\'s own boundary conditions; bc={bc!r} '
                             "does not apply")
        return release_modulus(E, nu, dim=dim, solver=solver, tol=tol, maxiter=maxiter)
    hom, E, nu, was_numpy = _prepare(E, nu, dim, solver, tol, maxiter, dtype, bc)
    return hom._bulk(E, nu, was_numpy)


def effective_stiffness(E, nu, *, dim: int, bc: str = "affine", solver: str = "auto", tol: float = 1e-10,
                        maxiter: int = 1000, dtype: torch.dtype = torch.float64):
    """Effective Voigt stiffness [GPa] (..., 3, 3) (2D plane stress) or (..., 6, 6); see :class:`Homogenizer`.

    Numpy in → float64 numpy out; torch in → torch out (input dtype/device), differentiable w.r.t.
    every voxel's E and ν (custom autograd, energy form, one solve for all Voigt load cases).
    ``bc``: ``"affine"`` or ``"periodic"`` as in :func:`bulk_modulus`.
    """
    hom, E, nu, was_numpy = _prepare(E, nu, dim, solver, tol, maxiter, dtype, bc)
    return hom._stiffness(E, nu, was_numpy)


def effective_density(rho, *, dim: int):
    """Volume-averaged density [g/cm³] of fields ρ (..., *grid) → (...), numpy or torch."""
    if isinstance(rho, torch.Tensor):
        return rho.flatten(rho.ndim - dim).mean(-1)
    rho = np.asarray(rho, dtype=np.float64)
    return rho.reshape(*rho.shape[: rho.ndim - dim], -1).mean(-1)
