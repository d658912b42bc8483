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
    assert ("unit" in backend.tree.layouts[0]) == product
    ue = backend.solve(lam, mu, u_aff)[0]
    scale = reference.abs().max()
    assert float((ue - reference).abs().max() / scale) < 1e-10
    # the reused work arrays: another batch size in between, then the same batch again, bit for bit
    backend.solve(lam[:1], mu[:1], u_aff)
    assert torch.equal(backend.solve(lam, mu, u_aff)[0], ue)


@pytest.mark.parametrize("solver,dim,n", [("condense", 2, 16), ("pcg", 3, 8)])
def test_threaded_batch_matches_one_thread_and_restores_threads(solver, dim, n):
    """On CPU the Homogenizer spreads a batch over torch's threads (one backend each, torch single-
    threaded meanwhile): the same values bit for bit, and torch's thread count is restored."""
    from matdesign.fem import Homogenizer

    rng = np.random.default_rng(1)
    E = np.where(rng.random((5,) + (n,) * dim) < 0.35, 300.0, 0.5)
    nu = np.full(E.shape, 0.3)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        hom = Homogenizer(dim, n, solver=solver, chunk=1, warm_start=False)
        one = hom.bulk_modulus(E, nu)
        torch.set_num_threads(3)
        assert np.array_equal(hom.bulk_modulus(E, nu), one)
        assert len(hom._backends) == 3 and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(threads)
    reference = Homogenizer(dim, n, solver="scipy").bulk_modulus(E, nu)
    np.testing.assert_allclose(one, reference, rtol=1e-9)


def test_chunk_pool_raises_a_worker_error_and_restores_threads():
    from matdesign.fem.threads import ChunkPool

    def fn(worker, i):
        if i == 3:
            raise torch.linalg.LinAlgError("sample 3 is not positive definite")
        return worker, i

    pool, threads = ChunkPool(), torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert pool.map(lambda k, i: (k, i), 4, 2) == [(0, 0), (0, 1), (1, 2), (1, 3)]  # item order kept
        with pytest.raises(torch.linalg.LinAlgError, match="sample 3"):
            pool.map(fn, 4, 2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
