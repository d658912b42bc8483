"""Particle rigid-mode coarse space on the periodic PCG: particles labelled on the torus, exact
coarse matrix ZᵀAZ, same solutions in fewer iterations, inactive without contrast."""


import numpy as np
import pytest
import torch

import matdesign.fem.homogenize as homogenize
from matdesign.fem.deflation import RigidModeDeflation, particle_labels
from matdesign.fem.moduli import lame
from matdesign.fem.periodic_grid import PeriodicVoxelGrid
from matdesign.materials import Material
from matdesign.microstructure import generate_rve

RUBBER, STEEL = Material("soft polymer", 0.2, 0.45, 1.1), Material("steel", 205.0, 0.29, 7.9)


def periodic_hom(dim, n, deflation, **kw):
    """A periodic-PCG Homogenizer with the particle coarse space on or off."""
    return homogenize.Homogenizer(dim, n, solver="pcg", bc="periodic", warm_start=False, deflation=deflation, **kw)


def rve(dim, n, seed, diameter=0.25, vf=0.3):
    """(E, ν, microstructure): a periodic steel-in-rubber RVE rolled so that particle 0 sits on the
    cell's corner (it is cut by every face through the corner)."""
    s = generate_rve(RUBBER, STEEL, diameter=diameter, volume_fraction=vf, size_per_cell=n, dim=dim,
                     rng=np.random.default_rng(seed))
    shift = tuple(-int(round(c * n)) for c in s.centers[0])
    E, nu = (np.roll(f.astype(np.float64), shift, tuple(range(dim))) for f in s.fields[:2])
    return E, nu, s


def balls(dim, n, centres, radius):
    """Stiff mask (*grid) of balls with periodic (minimum-image) distances, centres in [0, 1)^dim."""
    x = (np.indices((n,) * dim).reshape(dim, -1).T + 0.5) / n
    d = x[:, None] - np.asarray(centres, float)[None]
    d -= np.round(d)
    return (np.sqrt((d**2).sum(-1)) < radius).any(1).reshape((n,) * dim), d


@pytest.mark.parametrize("dim,n", [(2, 40), (3, 20)])
def test_particles_cut_by_faces_and_corner_are_one_label_and_touching_ones_stay_split(dim, n):
    r = 0.12 if dim == 2 else 0.15
    rest = (0.5,) * (dim - 2)
    centres = [(0.0,) * dim,  # corner: cut into 2^dim pieces
               (0.5,) + (0.0,) * (dim - 1),  # on a face (3D: on an edge)
               (0.5, 0.4) + rest,  # inside
               (0.03, 0.65) + rest, (0.03 - 2 * r + 1.0 / n, 0.65) + rest]  # pair touching across x = 0
    stiff, d = balls(dim, n, centres, r)
    assert stiff[(0,) * dim] and stiff[(-1,) * dim]  # the corner ball covers both ends of the diagonal
    mu = np.where(stiff, 80.0, 0.05)
    labels = particle_labels(mu, periodic=True)
    nearest = (d**2).sum(-1).argmin(1).reshape(stiff.shape)
    assert labels.max() == len(centres)
    for k in range(len(centres)):  # each ball is one label, and that label is only on it
        assert len(np.unique(labels[stiff & (nearest == k)])) == 1
        lab = labels[stiff & (nearest == k)][0]
        assert np.all(nearest[labels == lab] == k)
    assert particle_labels(mu).max() > len(centres)  # the non-periodic watershed cuts them at the faces
    assert particle_labels(np.where(stiff, 10.0, 1.0), periodic=True).max() == 0  # contrast < 20


@pytest.mark.parametrize("dim,n,seed", [(2, 64, 0), (3, 32, 1)])
def test_periodic_watershed_finds_each_generated_particle(dim, n, seed):
    E, nu, s = rve(dim, n, seed, diameter=0.25 if dim == 2 else 0.2)
    labels = particle_labels(lame(E, nu, dim)[1], periodic=True)
    assert labels.max() == s.n_particles


@pytest.mark.parametrize("dim,n", [(2, 12), (3, 6)])
def test_periodic_coarse_matrix_is_Z_transpose_A_Z_and_Q_projects_onto_the_modes(dim, n):
    rng = np.random.default_rng(1)
    grid = PeriodicVoxelGrid(dim, n)
    stiff = rng.random((3, grid.n_el)) < 0.35  # random clusters wrapping around the cell, and
    stiff[2] = balls(dim, n, [(0.5,) * dim], 0.49)[0].ravel()  # one particle wrapping onto itself:
    # its unwrapped positions jump where they are half a cell from its centre ("torn" elements)
    E = torch.tensor(np.where(stiff, 205.0, 0.016))
    nu = torch.tensor(np.where(stiff, 0.29, 0.49))
    lam, mu = lame(E, nu, dim)
    D = RigidModeDeflation(grid, lam, mu)
    assert D.active and min(D.particles[:2]) >= 2 and D.particles[2] == 1
    m = D.modes.shape[1]
    L = D.chol
    E_c = L @ L.transpose(1, 2)
    y = torch.tensor(rng.standard_normal((3, D.cmax * m)))
    for b in range(3):
        cols = []
        for k in range(D.particles[b] * m):  # Z e_k: the k-th coarse vector of sample b, as a nodal field
            zk = torch.zeros(D.cmax, m, dtype=torch.float64)
            zk.view(-1)[k] = 1.0
            cols.append((D.modes[b] * zk[(D.labels[b] - 1).clamp(min=0)].movedim(-1, 0)[:, None]
                         * (D.labels[b] > 0)).sum(0))
        Z = torch.stack(cols).reshape(len(cols), -1)
        AZ = torch.stack([grid.apply_lame(c, lam[b], mu[b]) for c in cols]).reshape(len(cols), -1)
        ZAZ = (Z @ AZ.T).numpy()
        k = len(cols)
        np.testing.assert_allclose(E_c[b, :k, :k].numpy(), ZAZ, rtol=0, atol=1e-9 * float(E_c[b].diagonal().max()))
        # Q(A Z y) = Π Z y: exact on the coarse space up to the translations (and E's 1e-12 shift)
        Zy = (y[b, :k] @ Z).reshape(1, dim, *grid.node_shape)
        Zy = Zy - Zy.mean(tuple(range(-dim, 0)), keepdim=True)
        others = torch.zeros(3, dim, *grid.node_shape, dtype=torch.float64)
        others[b] = (y[b, :k] @ AZ).reshape(dim, *grid.node_shape)
        QAZy = D.Q(others)
        torch.testing.assert_close(QAZy[b], Zy[0], rtol=0, atol=1e-5 * float(Zy.abs().max()))
        assert float(QAZy[torch.arange(3) != b].abs().max()) == 0.0  # samples do not mix


def random_fields(dim, n, seeds):
    """Steel-in-rubber RVEs (a particle on the corner) with a random lognormal factor per voxel, and
    one stiff field with isolated soft voxels (particles' nodes cover the whole cell: Zy = constant)."""
    rng = np.random.default_rng(7)
    fields = [rve(dim, n, s)[:2] for s in seeds]
    E = np.stack([f[0] * np.exp(0.5 * rng.standard_normal(f[0].shape)) for f in fields])
    nu = np.stack([f[1] for f in fields])
    cover = np.full((n,) * dim, 205.0)
    cover[(slice(1, None, 3),) * dim] = 0.05
    return np.concatenate([E, cover[None]]), np.concatenate([nu, np.full((1,) + (n,) * dim, 0.3)])


@pytest.mark.parametrize("dim,n", [(2, 32), (3, 12)])
def test_same_bulk_modulus_and_stiffness_with_and_without_the_coarse_space(dim, n):
    E, nu = random_fields(dim, n, seeds=(0, 1))
    out = {}
    for deflation in (False, True):
        hom = periodic_hom(dim, n, deflation, tol=1e-12)
        out[deflation] = (hom.bulk_modulus(E, nu), hom.effective_stiffness(E, nu), hom.last_info)
    K0, C0, info0 = out[False]
    K1, C1, info1 = out[True]
    assert C1.shape[-1] == (3 if dim == 2 else 6)
    assert np.all(info1["particles"] > 0) and np.all(info0["particles"] == 0)
    lam, mu = lame(torch.tensor(E[-1:].reshape(1, -1)), torch.tensor(nu[-1:].reshape(1, -1)), dim)
    assert bool((RigidModeDeflation(PeriodicVoxelGrid(dim, n), lam, mu).labels > 0).all())  # covers every node
    np.testing.assert_allclose(K1, K0, rtol=1e-9)
    assert np.all(np.abs(C1 - C0).max(axis=(1, 2)) <= 1e-9 * np.abs(C0).max(axis=(1, 2)))
    assert np.all(info1["iterations"][:2] < info0["iterations"][:2])


def test_iterations_drop_on_a_3d_steel_in_rubber_rve_and_warm_start_keeps_the_solution():
    E, nu, _ = rve(3, 16, seed=0, diameter=0.3)
    its = {}
    for deflation in (False, True):
        hom = periodic_hom(3, 16, deflation)
        K = hom.bulk_modulus(E, nu)
        its[deflation] = int(hom.last_info["iterations"][0])
    # measured: 90 → 25 iterations (ratio 0.28; 21 particles)
    assert its[True] <= 0.45 * its[False], its
    hom.warm_start = True  # warm start through the coarse-corrected start vector: same K, fewer iterations
    hom.bulk_modulus(E, nu)
    np.testing.assert_allclose(hom.bulk_modulus(E * 1.001, nu), 1.001 * K, rtol=1e-9)
    assert hom.last_info["warm_started"] and hom.last_info["iterations"][0] < its[True]


@pytest.mark.parametrize("dim,n", [(2, 16), (3, 8)])
def test_homogeneous_and_low_contrast_fields_leave_it_inactive(dim, n):
    rng = np.random.default_rng(3)
    E = np.stack([np.full((n,) * dim, 2.0), np.exp(rng.uniform(0, np.log(15.0), (n,) * dim))])  # contrast < 20
    nu = np.full(E.shape, 0.3)
    lam, mu = lame(torch.tensor(E.reshape(2, -1)), torch.tensor(nu.reshape(2, -1)), dim)
    assert not RigidModeDeflation(PeriodicVoxelGrid(dim, n), lam, mu).active
    its = {}
    for deflation in (False, True):
        hom = periodic_hom(dim, n, deflation)
        hom.bulk_modulus(E, nu)
        assert np.all(hom.last_info["particles"] == 0)
        its[deflation] = hom.last_info["iterations"]
    np.testing.assert_array_equal(its[True], its[False])
