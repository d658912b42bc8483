"""matdesign.fem.deflation: particles found in the field, exact coarse matrix ZᵀAZ, same solutions in
fewer PCG iterations for stiff particles in a soft matrix."""

import numpy as np
import pytest
import torch

from matdesign.fem import Homogenizer
from matdesign.fem.deflation import RigidModeDeflation, particle_labels
from matdesign.fem.grid import VoxelGrid
from matdesign.fem.moduli import lame
from matdesign.materials import Material
from matdesign.microstructure import generate

RUBBER, STEEL = Material("PU elastomer", 0.016, 0.49, 1.1), Material("steel", 205.0, 0.29, 7.9)


def composite(dim, n, vf, diameter, seed, matrix=RUBBER, particle=STEEL):
    s = generate(matrix, particle, diameter=diameter, volume_fraction=vf, size=n, dim=dim,
                 rng=np.random.default_rng(seed))
    return s, s.fields[0].astype(np.float64), s.fields[1].astype(np.float64)


@pytest.mark.parametrize("dim,n,vf,diameter", [(2, 64, 0.35, 0.15), (3, 24, 0.3, 0.25)])
def test_watershed_finds_each_generated_particle_even_where_they_touch(dim, n, vf, diameter):
    s, E, nu = composite(dim, n, vf, diameter, seed=0)
    mu = lame(E, nu, dim)[1]
    labels = particle_labels(mu)
    assert labels.max() == s.n_particles
    # each label sits on exactly one generated particle: its voxels are nearest to one centre
    x = (np.indices(labels.shape).reshape(dim, -1).T + 0.5) / n
    nearest = ((x[:, None] - s.centers[None]) ** 2).sum(-1).argmin(1).reshape(labels.shape)
    for k in range(1, labels.max() + 1):
        assert np.bincount(nearest[labels == k]).max() >= 0.9 * (labels == k).sum()
    assert particle_labels(np.full(labels.shape, 3.0)).max() == 0  # no contrast, no particles


@pytest.mark.parametrize("dim,n", [(2, 12), (3, 6)])
def test_coarse_matrix_is_Z_transpose_A_Z_and_Q_projects_onto_the_modes(dim, n):
    rng = np.random.default_rng(1)
    grid = VoxelGrid(dim, n)
    stiff = rng.random((2, grid.n_el)) < 0.35  # random clusters, some cut by the boundary
    E = torch.tensor(np.where(stiff, 205.0, 0.016))
    nu = torch.tensor(np.where(stiff, 0.29, 0.49))
    lam, mu = lame(E, nu, dim)
    D = RigidModeDeflation(grid, lam, mu)
    assert D.active and min(D.particles) >= 2
    m = D.modes.shape[1]
    assert m == (3 if dim == 2 else 6)
    L = D.chol
    E_c = L @ L.transpose(1, 2)
    y = torch.tensor(rng.standard_normal((2, D.cmax * m)))
    for b in range(2):
        cols = []
        for k in range(D.particles[b] * m):  # Z e_k: the k-th coarse vector of sample b, as a nodal field
            zk = torch.zeros(D.cmax, m, dtype=torch.float64)
            zk.view(-1)[k] = 1.0
            Zk = (D.modes[b] * zk[(D.labels[b] - 1).clamp(min=0)].movedim(-1, 0)[:, None]
                  * (D.labels[b] > 0)).sum(0)
            cols.append(Zk)
        Z = torch.stack(cols).reshape(len(cols), -1)
        AZ = torch.stack([grid.apply_lame(c, lam[b], mu[b]) * grid.interior for c in cols]).reshape(len(cols), -1)
        k = len(cols)
        ZAZ = (Z @ AZ.T).numpy()
        ZAZ[np.diag_indices(k)] += np.diag(ZAZ) == 0  # modes with no interior node: identity padding
        np.testing.assert_allclose(E_c[b, :k, :k].numpy(), ZAZ, rtol=0, atol=1e-9 * float(E_c[b].diagonal().max()))
        # Q(A Z y) = Z y: the coarse correction is exact on the coarse space (up to E's 1e-12 shift)
        Zy = (y[b, :k] @ Z).reshape(1, dim, *grid.node_shape)
        AZy = (y[b, :k] @ AZ).reshape(1, dim, *grid.node_shape)
        others = torch.zeros(2, dim, *grid.node_shape, dtype=torch.float64)
        others[b] = AZy[0]
        QAZy = D.Q(others)
        torch.testing.assert_close(QAZy[b], Zy[0], rtol=0, atol=1e-5 * float(Zy.abs().max()))
        assert float(QAZy[1 - b].abs().max()) == 0.0  # samples do not mix


def test_deflated_pcg_same_solution_fewer_iterations_batched_and_warm():
    fields = [composite(2, 32, 0.3, 0.2, seed)[1:] for seed in range(2)]
    E = np.stack([f[0] for f in fields] + [np.full((32, 32), 2.0)])  # third: homogeneous, no particles
    nu = np.stack([f[1] for f in fields] + [np.full((32, 32), 0.3)])
    K_ref = Homogenizer(2, 32, solver="scipy").bulk_modulus(E, nu)
    its = {}
    for deflation in (False, True):
        hom = Homogenizer(2, 32, solver="pcg", deflation=deflation)
        np.testing.assert_allclose(hom.bulk_modulus(E, nu), K_ref, rtol=1e-9)
        its[deflation] = hom.last_info["iterations"]
        if deflation:  # warm start through the deflated start vector, still the same K
            np.testing.assert_allclose(hom.bulk_modulus(E * 1.001, nu), 1.001 * K_ref, rtol=1e-9)
            assert np.all(hom.last_info["iterations"][:2] < its[True][:2])
    assert np.all(its[True][:2] <= 0.4 * its[False][:2])  # steel in rubber: the particles' rigid modes
    assert its[True][2] == its[False][2]  # no contrast: the plain multigrid PCG
    hom32 = Homogenizer(2, 32, solver="pcg", dtype=torch.float32, tol=1e-6)  # coarse space still built in float64
    np.testing.assert_allclose(hom32.bulk_modulus(E, nu), K_ref, rtol=1e-4)
    assert hom32.last_info["particles"][:2].min() > 0


def test_deflated_pcg_effective_stiffness_3d_matches_the_direct_solver():
    _, E, nu = composite(3, 12, 0.3, 0.3, seed=3)
    C_ref = Homogenizer(3, 12, solver="scipy").effective_stiffness(E, nu)
    hom = Homogenizer(3, 12, solver="pcg")
    C = hom.effective_stiffness(E, nu)
    assert hom.last_info["iterations"] is not None
    np.testing.assert_allclose(C, C_ref, rtol=1e-8, atol=1e-8 * np.abs(C_ref).max())
