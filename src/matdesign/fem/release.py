"""The quantity the paper's official release computes as "bulk modulus" (``definition="paper"``).

The authors' solver (github.com/EmbodiedVision/diffoptloss-invmatdesign, ``FEM3D/``, configs
``Square-n-a_6x6e.ini`` and ``Cube-n_5x5x5e.ini``) meshes

- 3D: the unit cube with ``n³`` trilinear hex8 elements;
- 2D: a plate of ``1 × n × n`` hex8 elements (one element thick along x, the unit square in y, z), so
  every node lies on the surface;

with 3D Lamé parameters ``λ = Eν/((1+ν)(1−2ν))``, ``μ = E/(2(1+ν))`` in both cases. On every surface
node it prescribes only ``u_z = e₀ z`` (``e₀ = 0.1``); ``u_x`` and ``u_y`` are free everywhere (in the
2D plate, where every node is a surface node, ``ε_zz = e₀`` everywhere). It then reports

    K_paper = tr⟨σ⟩ / (3 tr⟨ε⟩)

with the *measured* volume averages (Gauss points) of stress and strain. The sides carry no traction, so
``⟨σ_xx⟩ = ⟨σ_yy⟩ = 0``: this is a uniaxial tension test along z. A homogeneous isotropic material gives
``E/(3(1−2ν))`` (its bulk modulus), a composite a uniaxial quantity that is not a bulk modulus and can
exceed the Voigt bound (docs/official_release.md).

Axis mapping (from the release's node/element flattening, checked against its solver on an asymmetric
field): the load axis z is array axis 2 of a 3D field (..., n, n, n) and image axis 1 of a 2D field
(..., n, n); image axis 0 is y, and the plate's thickness x has one element.

What is computed here (same physics, our code): the z-dofs of the surface nodes are fixed at ``e₀ z``,
and the three rigid motions left free (translations in x and y, rotation about z) are removed by
pinning ``u_x, u_y`` at node (0, 0, 0) and ``u_x`` at node (0, n, 0) — both at x = 0, so even their
reactions would not enter ``⟨σ_xx⟩`` or ``⟨σ_yy⟩``; strains and K do not depend on the pinning.
With the solution ``u`` (a minimizer of the energy ``W = ½uᵀAu`` over the free dofs):

- ``tr⟨σ⟩ = ⟨σ_zz⟩ = 2W / (e₀ V)``: ``V⟨σ_ij⟩ = Σ_a x_{a,j} (Au)_{a,i}`` holds exactly for the discrete
  field, ``Au`` vanishes on free dofs and ``u_z = e₀ z`` on the fixed ones;
- ``tr⟨ε⟩ = gᵀu / V`` with ``g_e = ∫_e div N`` (2×2×2 Gauss, exact), the measured strain trace.

Gradient (the true one): ``dW/dθ = ½ uᵀ(∂A/∂θ)u`` (envelope theorem) and, with the adjoint ``A_ff z = g_f``,
``d(gᵀu)/dθ = −zᵀ(∂A/∂θ)u``: one extra right-hand side in the same factorization / PCG run. The
release's own adjoint gradient holds ``tr⟨ε⟩`` fixed and is therefore not the gradient of its K (its
dK/dν is orders of magnitude too small; see docs/official_release.md).

Solvers: ``"direct"`` (SciPy SuperLU on the free dofs, per sample; the default in 2D) and ``"pcg"``
(3D only: matrix-free PCG with our geometric-multigrid V-cycle, :mod:`matdesign.fem.multigrid`, on a
grid whose free-dof mask is per component; the default in 3D).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import splu

from matdesign.errors import InputError
from matdesign.fem.backends import multigrid_pcg
from matdesign.fem.elements import VOIGT_PAIRS, _gauss_points, corner_offsets, lame_matrices, strain_operator
from matdesign.fem.grid import VoxelGrid
from matdesign.fem.energy_form import EnergyForm
from matdesign.fem.moduli import lame, lame_derivatives
from matdesign.fem.validate import as_fields, to_output

RELEASE_STRAIN = 0.1
"""e₀: the release's prescribed ``u_z = e₀ z`` on surface nodes (its ``Homogenization`` block ``0 0 0.1 0 0 0``)."""

RELEASE_SOLVERS = ("auto", "direct", "pcg")


def release_mesh_shape(dim: int, n: int) -> tuple[int, int, int]:
    """Element grid (nx, ny, nz) of the release's mesh for an ``n``-voxel field: (1, n, n) plate or (n, n, n)."""
    return (1, n, n) if dim == 2 else (n, n, n)


@lru_cache(maxsize=None)
def _divergence_vector(h: float) -> np.ndarray:
    """``g_e`` (24,): ``∫_e ∂N_a/∂x_c`` of a hex8 element of edge ``h`` (local dof a·3 + c), so that
    ``∫_e div u = g_eᵀ u_e``."""
    pts, wts = _gauss_points(3)
    B = strain_operator(3, pts, h)  # (8, 6, 24)
    m = np.array([1.0 if i == j else 0.0 for i, j in VOIGT_PAIRS[3]])
    g = h**3 * np.einsum("p,v,pvk->k", wts, m, B)
    g.setflags(write=False)
    return g


class _DirectRelease:
    """Sparse LU (SuperLU) of the release problem on an element grid ``shape`` = (nx, ny, nz), h = 1/nz.

    Global dof ``3·node + c`` (nodes in C order over (nx+1, ny+1, nz+1)). The CSR data of the free-free
    block and the load ``−A_fc u_c`` are linear in the element Lamé parameters: ``data = S [λ; μ]``,
    ``b = R [λ; μ]`` for all samples at once; only the factorizations loop over samples.
    """

    def __init__(self, shape: tuple[int, int, int]):
        self.shape = shape
        self.h = 1.0 / shape[2]
        node_shape = tuple(s + 1 for s in shape)
        nodes = np.arange(int(np.prod(node_shape))).reshape(node_shape)
        n_dofs = 3 * nodes.size
        elem_nodes = np.stack([nodes[tuple(slice(o, o + s) for o, s in zip(off, shape))].ravel()
                               for off in corner_offsets(3)], 1)  # (n_el, 8)
        self.elem_dofs = (3 * elem_nodes[:, :, None] + np.arange(3)).reshape(len(elem_nodes), 24)
        fixed = np.zeros(node_shape + (3,), dtype=bool)
        surface = np.ones(node_shape, dtype=bool)
        surface[tuple(slice(1, s - 1) for s in node_shape)] = False
        fixed[..., 2] = surface
        fixed[0, 0, 0, :2] = True  # pins against the x/y translations ...
        fixed[0, -1, 0, 0] = True  # ... and the rotation about z
        fixed = fixed.reshape(-1)
        self.free = np.flatnonzero(~fixed)
        z = np.stack(np.meshgrid(*[np.arange(s) * self.h for s in node_shape], indexing="ij"), -1)[..., 2]
        self.u_fixed = np.zeros(n_dofs)
        self.u_fixed[2::3] = RELEASE_STRAIN * z.reshape(-1)
        self.u_fixed[~fixed] = 0.0
        local = -np.ones(n_dofs, dtype=np.int64)
        local[self.free] = np.arange(len(self.free))
        loc = local[self.elem_dofs]  # (n_el, 24), -1 on fixed dofs
        kmats = lame_matrices(3, self.h)
        n_el, n_f = len(loc), len(self.free)
        rows, cols = np.repeat(loc, 24, 1).ravel(), np.tile(loc, (1, 24)).ravel()
        keep = (rows >= 0) & (cols >= 0)
        uniq, pos = np.unique(rows[keep] * n_f + cols[keep], return_inverse=True)
        self.indptr = np.searchsorted(uniq // n_f, np.arange(n_f + 1)).astype(np.int32)
        self.indices = (uniq % n_f).astype(np.int32)
        elem = np.repeat(np.arange(n_el), 24 * 24)[keep]
        entry = np.tile(np.arange(24 * 24), n_el)[keep]
        self.S = sp.hstack([sp.csr_matrix((k.ravel()[entry], (pos, elem)), shape=(len(uniq), n_el))
                            for k in kmats]).tocsr()
        uc = self.u_fixed[self.elem_dofs]  # (n_el, 24)
        lk = loc.ravel() >= 0
        el = np.repeat(np.arange(n_el), 24)[lk]
        self.R = sp.hstack([sp.csr_matrix(((-(uc @ k.T)).ravel()[lk], (loc.ravel()[lk], el)), shape=(n_f, n_el))
                            for k in kmats]).tocsr()
        g = np.zeros(n_dofs)
        np.add.at(g, self.elem_dofs, np.broadcast_to(_divergence_vector(self.h), (n_el, 24)))
        self.g_free = g[self.free]

    def solve(self, lam: np.ndarray, mu: np.ndarray, adjoint: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Element dofs of the solution ``u`` and (``adjoint``) of ``z``, each (B, 24, n_el), for λ, μ (B, n_el)."""
        coef = np.concatenate([lam, mu], 1).T  # (2 n_el, B)
        data, rhs = self.S @ coef, self.R @ coef
        n_f = len(self.free)
        parts = [(self.u_fixed, 0)] + ([(np.zeros_like(self.u_fixed), 1)] if adjoint else [])
        out = np.empty((len(parts), len(lam), 24, len(self.elem_dofs)))
        for b in range(len(lam)):
            A = sp.csc_matrix((np.ascontiguousarray(data[:, b]), self.indices, self.indptr), shape=(n_f, n_f))
            lu = splu(A, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
            x = lu.solve(np.stack([rhs[:, b], self.g_free][: len(parts)], 1))
            for (base, col), o in zip(parts, out):
                full = base.copy()
                full[self.free] = x[:, col]
                o[b] = full[self.elem_dofs].T
        return out[0], out[1] if adjoint else None


class ReleaseGrid(VoxelGrid):
    """The ``n³`` cube with the release's constraints as a per-component free-dof mask.

    ``interior`` (3, n+1, n+1, n+1): 1 on free dofs — x and y everywhere except the three pins, z on
    interior nodes only. The multigrid builds its coarse levels with the same class (the pins sit at
    corners, which every level keeps), so every level's operator is nonsingular.
    """

    def __init__(self, dim: int, n: int, device="cpu", dtype=torch.float64):
        if dim != 3:
            raise InputError("ReleaseGrid is the 3D cube; the 2D plate uses the direct solver")
        super().__init__(dim, n, device, dtype)
        mask = self.interior.expand(3, *self.node_shape).clone()
        mask[:2] = 1.0
        mask[:2, 0, 0, 0] = 0.0
        mask[0, 0, n, 0] = 0.0
        self.interior = mask

    def load(self) -> torch.Tensor:
        """Prescribed nodal field (3, *nodes): ``u_z = e₀ z`` on surface nodes, zero elsewhere."""
        u = torch.zeros(3, *self.node_shape, device=self.device, dtype=self.dtype)
        z = torch.linspace(0.0, 1.0, self.n + 1, device=self.device, dtype=self.dtype)
        u[2] = RELEASE_STRAIN * z.expand(self.node_shape) * (1.0 - self.interior[2])
        return u

    def divergence(self) -> torch.Tensor:
        """Assembled ``g`` (3, *nodes): ``∫ div u = Σ g·u``."""
        g = torch.tensor(_divergence_vector(1.0 / self.n), device=self.device, dtype=self.dtype)
        return self.scatter(g[:, None].expand(self.ne, self.n_el))


class _PCGRelease:
    """Multigrid-preconditioned CG for the 3D cube: the load and the adjoint as two right-hand sides.

    No particle coarse space: our rigid-mode deflation lives on interior nodes only, while here particles
    at the free x/y faces move their surface dofs too (tried: more iterations, not fewer). A contrast of
    1e5 (E 0.01 vs 1000 GPa) takes ~430 iterations at tol 1e-10 instead of ~25–40."""

    def __init__(self, n: int, tol: float, maxiter: int):
        self.grid = ReleaseGrid(3, n)
        self.grid32 = ReleaseGrid(3, n, dtype=torch.float32)
        self.tol, self.maxiter = tol, maxiter
        self.u_fixed = self.grid.load()
        self.g_free = self.grid.divergence() * self.grid.interior

    def solve(self, lam: np.ndarray, mu: np.ndarray, adjoint: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """As :meth:`_DirectRelease.solve`: ``(u_e, z_e or None)``, each (B, 24, n_el)."""
        g = self.grid
        lam_t, mu_t = torch.from_numpy(lam), torch.from_numpy(mu)
        b_u = -g.apply_lame(self.u_fixed, lam_t, mu_t) * g.interior  # (B, 3, *nodes)
        b = torch.stack([b_u, self.g_free.expand_as(b_u)] if adjoint else [b_u], 1)
        x, info = multigrid_pcg(g, self.grid32, lam_t, mu_t, b, None, self.tol, self.maxiter, False, masked=True)
        if not info["converged"]:
            raise RuntimeError(f"release PCG did not reach tol={self.tol:g} in {self.maxiter} iterations "
                               f"(worst relative residual {float(info['residual'].max()):.2e})")
        return g.gather(self.u_fixed + x[:, 0]).numpy(), g.gather(x[:, 1]).numpy() if adjoint else None


@lru_cache(maxsize=8)
def _solver(dim: int, n: int, solver: str, tol: float, maxiter: int):
    if solver == "pcg":
        return _PCGRelease(n, tol, maxiter)
    return _DirectRelease(release_mesh_shape(dim, n))


def release_with_gradient(E: torch.Tensor, nu: torch.Tensor, dim: int, solver: str = "auto", tol: float = 1e-10,
                          maxiter: int = 2000, gradient: bool = True):
    """``(K, dK/dE, dK/dν)`` of the release's quantity for fields (..., *grid): shapes (...), (..., *grid) ×2.

    float64 CPU tensors out; ``gradient=False`` skips the adjoint and returns ``(K, None, None)``. ``solver``: ``"direct"``, ``"pcg"`` (3D only) or ``"auto"`` (2D direct,
    3D PCG); ``tol``/``maxiter``: PCG's relative residual and iteration cap.
    """
    if solver not in RELEASE_SOLVERS:
        raise InputError(f"solver={solver!r}: must be one of {', '.join(RELEASE_SOLVERS)}")
    if solver == "pcg" and dim == 2:
        raise InputError('solver="pcg": the 2D plate (1 × n × n elements) is solved with solver="direct"')
    solver = ("direct" if dim == 2 else "pcg") if solver == "auto" else solver
    lead, grid = E.shape[: E.ndim - dim], E.shape[E.ndim - dim :]
    n = int(grid[-1])
    E = E.detach().to("cpu", torch.float64).reshape(-1, n**dim)
    nu = nu.detach().to("cpu", torch.float64).reshape(-1, n**dim)
    lam, mu = lame(E, nu, 3)  # the release uses 3D Lamé parameters for the plate too
    ue, ze = _solver(dim, n, solver, float(tol), int(maxiter)).solve(lam.numpy(), mu.numpy(), gradient)
    ue = torch.from_numpy(ue)
    h = 1.0 / n
    k_lam, k_mu = (torch.tensor(k) for k in lame_matrices(3, h))
    y_lam, y_mu = k_lam @ ue, k_mu @ ue  # (B, 24, n_el)
    w_lam, w_mu = (ue * y_lam).sum(1), (ue * y_mu).sum(1)  # u_eᵀK_λu_e, u_eᵀK_μu_e
    volume = n**dim * h**3
    sigma = (lam * w_lam + mu * w_mu).sum(1) / (RELEASE_STRAIN * volume)  # tr⟨σ⟩ = 2W/(e₀V)
    div = torch.tensor(_divergence_vector(h))
    eps = (div @ ue).sum(1) / volume  # tr⟨ε⟩ (B,)
    K = sigma / (3.0 * eps)
    if not gradient:
        return K.reshape(lead), None, None
    ze = torch.from_numpy(ze)
    a_lam, a_mu = (ze * y_lam).sum(1), (ze * y_mu).sum(1)  # z_eᵀK_λu_e, z_eᵀK_μu_e
    s, t = sigma[:, None], eps[:, None]
    dK_dlam = w_lam / (RELEASE_STRAIN * volume) / (3 * t) + s * a_lam / volume / (3 * t**2)
    dK_dmu = w_mu / (RELEASE_STRAIN * volume) / (3 * t) + s * a_mu / volume / (3 * t**2)
    dl_dE, dl_dnu, dm_dE, dm_dnu = lame_derivatives(E, nu, 3)
    dK_dE = dK_dlam * dl_dE + dK_dmu * dm_dE
    dK_dnu = dK_dlam * dl_dnu + dK_dmu * dm_dnu
    return K.reshape(lead), dK_dE.reshape(*lead, *grid), dK_dnu.reshape(*lead, *grid)


def release_modulus(E, nu, *, dim: int, solver: str = "auto", tol: float = 1e-10, maxiter: int = 2000):
    """The release's "bulk modulus" ``tr⟨σ⟩/(3 tr⟨ε⟩)`` [GPa] of voxel fields E [GPa], ν (..., *grid) → (...).

    2D fields (..., n, n) are the release's 1 × n × n hex plate (load along image axis 1), 3D fields
    (..., n, n, n) its cube (load along array axis 2); see the module docstring. Homogeneous material:
    ``E/(3(1−2ν))`` in 2D and 3D. Numpy in → float64 numpy out; torch in → torch out (input dtype and
    device), differentiable w.r.t. E and ν with the true gradient (energy form plus one adjoint right-hand
    side; computed in float64 on CPU).
    """
    E, nu, was_numpy = as_fields(E, nu, dim)
    if was_numpy or not torch.is_grad_enabled() or not (E.requires_grad or nu.requires_grad):
        return to_output(release_with_gradient(E, nu, dim, solver, tol, maxiter, gradient=False)[0], was_numpy, E)

    def solve(e, v):
        return tuple(t.to(e.device) for t in release_with_gradient(e, v, dim, solver, tol, maxiter))

    return EnergyForm.apply(E, nu, solve, dim)
