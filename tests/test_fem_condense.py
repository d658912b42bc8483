"""fem.condense: every variant of the condensation tree gives the sparse-LU (SciPy SuperLU) solution."""

import numpy as np
import pytest
import torch

from matdesign.fem.backends import CondenseBackend, ScipyBackend
from matdesign.fem.grid import VoxelGrid
from matdesign.fem.homogenize import unit_strains
from matdesign.fem.moduli import lame


def lame_fields(dim, n, batch, seed):
    """Two-phase Lamé fields (batch, n_el), Young's modulus contrast ~600."""
    rng = np.random.default_rng(seed)
    mask = rng.random((batch, n**dim)) < 0.35
    E = np.where(mask, 300.0, 0.5) * rng.uniform(0.9, 1.1, mask.shape)
    nu = np.where(mask, 0.2, 0.45)
    return tuple(torch.tensor(x) for x in lame(E, nu, dim))


# 2D 32²: leaf 2 and 4 build the leaf blocks by one matrix product, leaf 8 gathers them from the
# element matrices (its unit matrices would be too large); 3D 8³ with leaf 2 has two merge levels.
@pytest.mark.parametrize("dim,n,leaf,product", [(2, 32, 2, True), (2, 32, 4, True), (2, 32, 8, False), (3, 8, 2, True)])
def test_condensation_matches_sparse_lu(dim, n, leaf, product):
    grid = VoxelGrid(dim, n)
    lam, mu = lame_fields(dim, n, 3, seed=leaf)
    u_aff = grid.affine(unit_strains(dim, "voigt"))
    reference = ScipyBackend(grid).solve(lam, mu, u_aff)[0]  # (B, R, ne, n_el)
    backend = CondenseBackend(grid, leaf=leaf)
    assert ("unit" in backend.trees[0].layouts[0]) == product
    ue = backend.solve(lam, mu, u_aff)[0]
    scale = reference.abs().max()
    assert float((ue - reference).abs().max() / scale) < 1e-10
    # the reused work arrays: another batch size in between, then the same batch again, bit for bit
    backend.solve(lam[:1], mu[:1], u_aff)
    assert torch.equal(backend.solve(lam, mu, u_aff)[0], ue)


def test_threaded_batch_matches_one_thread_and_restores_threads():
    """On CPU the backend spreads a batch over torch's threads (one Condensation each, torch single-
    threaded meanwhile): the same values, bit for bit; torch's thread count is restored, also on errors."""
    grid = VoxelGrid(2, 16)
    lam, mu = lame_fields(2, 16, 5, seed=1)
    u_aff = grid.affine(unit_strains(2, "bulk"))
    backend = CondenseBackend(grid)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = backend.solve(lam, mu, u_aff)[0]
        torch.set_num_threads(3)
        assert torch.equal(backend.solve(lam, mu, u_aff)[0], one)
        assert len(backend.trees) == 3 and torch.get_num_threads() == 3
        with pytest.raises(torch.linalg.LinAlgError):  # a non-positive-definite sample fails in its thread
            backend.solve(lam, -mu, u_aff)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(threads)
    reference = ScipyBackend(grid).solve(lam, mu, u_aff)[0]
    assert float((one - reference).abs().max() / reference.abs().max()) < 1e-10
