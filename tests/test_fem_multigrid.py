"""matdesign.fem.multigrid: the Chebyshev-smoothed V-cycle is an SPD preconditioner (high contrast, ν → 0.5)."""

import numpy as np
import torch

from matdesign.fem.grid import VoxelGrid
from matdesign.fem.moduli import lame
from matdesign.fem.multigrid import MultigridPreconditioner


def dense(apply, grid):
    """Matrix of a linear map on the interior dofs, column by column."""
    free = np.flatnonzero(grid.interior.expand(grid.dim, *grid.node_shape).reshape(-1).numpy())
    cols = torch.zeros(len(free), grid.dim * int(np.prod(grid.node_shape)), dtype=torch.float64)
    cols[torch.arange(len(free)), torch.as_tensor(free)] = 1.0
    out = apply(cols.reshape(len(free), grid.dim, *grid.node_shape))
    return out.reshape(len(free), -1)[:, free].numpy()


def test_vcycle_is_symmetric_positive_definite_and_rho_bounds_the_spectrum():
    rng = np.random.default_rng(0)
    grid = VoxelGrid(3, 8)
    steel = rng.random(grid.n_el) < 0.3  # steel in a near-incompressible rubber (E contrast ~1e4)
    E = torch.tensor(np.where(steel, 205.0, 0.016))[None]
    nu = torch.tensor(np.where(steel, 0.29, 0.49))[None]
    lam, mu = lame(E, nu, 3)
    mg = MultigridPreconditioner(grid, lam, mu)
    M = dense(mg, grid)
    A = dense(lambda u: grid.apply_lame(u, lam, mu) * grid.interior, grid)
    np.testing.assert_allclose(M, M.T, rtol=0, atol=1e-12 * np.abs(M).max())
    assert np.linalg.eigvalsh(0.5 * (M + M.T)).min() > 0
    d = np.sqrt(np.diag(A))
    assert np.linalg.eigvalsh(A / d[:, None] / d[None, :]).max() <= float(mg.rho[0].max())
    # a convergent V-cycle: spectrum of MA in (0, 1], and κ(MA) ≪ κ(A) (~1.2e4 here)
    ev = np.sort(np.linalg.eigvals(M @ A).real)
    assert ev[0] > 0 and ev[-1] <= 1 + 1e-9
    assert ev[-1] / ev[0] < 50


def test_pcg_dropping_converged_samples_changes_no_result():
    """Samples that converge first leave the batch; results and iteration counts are unchanged."""
    from matdesign.fem.pcg import pcg

    rng = np.random.default_rng(1)
    grid = VoxelGrid(3, 8)
    steel = rng.random((3, grid.n_el)) < 0.3
    steel[1] = False
    E = torch.tensor(np.where(steel, 205.0, 0.016))
    nu = torch.tensor(np.where(steel, 0.29, 0.49))
    lam, mu = (t[:, None] for t in lame(E, nu, 3))
    b = torch.tensor(rng.standard_normal((3, 2, 3) + grid.node_shape)) * grid.interior
    results = []
    for drop in (False, True):
        state = {"lam": lam, "mu": mu, "mg": MultigridPreconditioner(grid, lam, mu)}

        def shrink(keep):
            state["lam"], state["mu"] = state["lam"][keep], state["mu"][keep]
            state["mg"].select(keep)

        x, info = pcg(lambda v: grid.apply_lame(v, state["lam"], state["mu"]) * grid.interior, b,
                      lambda r: state["mg"](r), tol=1e-10, field_dims=4, shrink=shrink if drop else None)
        results.append((x, info))
    (x0, i0), (x1, i1) = results
    assert i1["converged"] and len(set(i1["iterations"].amax(1).tolist())) > 1  # some sample did drop out
    assert torch.equal(i0["iterations"], i1["iterations"])
    torch.testing.assert_close(x1, x0, rtol=1e-12, atol=0)
    torch.testing.assert_close(i1["residual"], i0["residual"], rtol=1e-12, atol=0)


def test_periodic_vcycle_is_symmetric_semidefinite_and_converges_on_the_range():
    """Periodic grid: A is singular (translations); the V-cycle is SPSD and, on the zero-mean fields,
    M A has its spectrum in (0, 1] with a small condition number."""
    from matdesign.fem.periodic_grid import PeriodicVoxelGrid

    rng = np.random.default_rng(0)
    grid = PeriodicVoxelGrid(3, 8)
    steel = rng.random(grid.n_el) < 0.3
    E = torch.tensor(np.where(steel, 205.0, 0.016))[None]
    nu = torch.tensor(np.where(steel, 0.29, 0.49))[None]
    lam, mu = lame(E, nu, 3)
    mg = MultigridPreconditioner(grid, lam, mu)
    assert len(mg.grids) == 2 and mg.grids[1].periodic
    M = dense(mg, grid)
    A = dense(lambda u: grid.apply_lame(u, lam, mu), grid)
    np.testing.assert_allclose(M, M.T, rtol=0, atol=1e-12 * np.abs(M).max())
    assert np.linalg.eigvalsh(0.5 * (M + M.T)).min() > -1e-12 * np.abs(M).max()
    Z = np.kron(np.eye(3), np.ones((grid.n_el, 1))) / np.sqrt(grid.n_el)  # orthonormal translations
    np.testing.assert_allclose(A @ Z, 0, atol=1e-10 * np.abs(A).max())
    V = np.linalg.svd(np.eye(len(A)) - Z @ Z.T)[0][:, : len(A) - 3]  # basis of the range of A
    ev = np.sort(np.linalg.eigvals(V.T @ M @ A @ V).real)
    assert ev[0] > 0 and ev[-1] <= 1 + 1e-9
    assert ev[-1] / ev[0] < 50
