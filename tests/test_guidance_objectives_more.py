"""Objectives on effective properties beyond K (shear modulus, Young's modulus, Poisson ratio):
values and gradients against direct computation, composition, input errors, and guidance with them."""

import numpy as np
import pytest
import torch

from matdesign.diffusion import Config, make_sampling_scheduler
from matdesign.errors import InputError
from matdesign.fem import Homogenizer, bulk_modulus, effective_stiffness, isotropic_projection
from matdesign.guidance import (
    DensityPenalty,
    EffectiveProperties,
    GuidanceConfig,
    TargetBulkModulus,
    TargetPoissonRatio,
    TargetShearModulus,
    TargetYoungsModulus,
    guided_sample,
)
from matdesign.materials import Normalization


def _fields(rng, B=2, n=6, dim=2):
    shape = (B,) + (n,) * dim
    E = rng.uniform(1.0, 200.0, shape)
    nu = rng.uniform(0.05, 0.45, shape)
    rho = rng.uniform(0.5, 9.0, shape)
    return torch.as_tensor(np.stack([E, nu, rho], axis=1))


def _direct(fields, dim):
    """Isotropic moduli from a separate numpy stiffness computation: dict of (B,) arrays."""
    f = fields.detach().numpy()
    return isotropic_projection(effective_stiffness(f[:, 0], f[:, 1], dim=dim), dim)


@pytest.mark.parametrize("dim,n", [(2, 6), (3, 3)])
def test_properties_and_objective_values_match_direct_computation(dim, n):
    fields = _fields(np.random.default_rng(dim), n=n, dim=dim).requires_grad_(True)
    props = EffectiveProperties(fields, dim)
    iso = _direct(fields, dim)
    for name, attr in (("G", "shear_modulus"), ("E", "youngs_modulus"), ("nu", "poisson_ratio"), ("K", "bulk_modulus")):
        np.testing.assert_allclose(getattr(props, attr).detach().numpy(), iso[name], rtol=1e-10, err_msg=attr)
    G, Ey, nu = iso["G"], iso["E"], iso["nu"]
    J = (TargetShearModulus(20.0) + 0.5 * TargetShearModulus(20.0, relative=True)
         + TargetYoungsModulus(60.0, relative=True, reference=100.0) + 3.0 * TargetPoissonRatio(0.2)
         + TargetPoissonRatio(0.1, relative=True))
    expected = ((G - 20.0) ** 2 + 0.5 * (168.5 * (G / 20.0 - 1.0)) ** 2 + (100.0 * (Ey / 60.0 - 1.0)) ** 2
                + 3.0 * (nu - 0.2) ** 2 + (168.5 * (nu - 0.1)) ** 2)
    np.testing.assert_allclose(J(props).detach().numpy(), expected, rtol=1e-10)


def test_gradients_match_the_chain_rule_through_the_stiffness_gradient():
    """∂J/∂E_e = J'(G) Σ_ij (∂G/∂C_ij) dC_ij/dE_e, with dC/dE from ``stiffness_with_gradient``."""
    fields = _fields(np.random.default_rng(3), B=2, n=6)
    x = fields.clone().requires_grad_(True)
    J = TargetShearModulus(30.0) + TargetYoungsModulus(80.0)
    (g,) = torch.autograd.grad(J(EffectiveProperties(x, 2)).sum(), x)
    C, dC_dE, dC_dnu = Homogenizer(2, 6).stiffness_with_gradient(fields[:, 0], fields[:, 1])
    iso = isotropic_projection(C, 2)
    K, G = iso["K"], iso["G"]
    # 2D projection: K and G are linear in C; E = 4KG/(K+G)
    wK = torch.tensor([[1, 1, 0], [1, 1, 0], [0, 0, 0]], dtype=torch.float64) / 4
    wG = torch.tensor([[0.5, -0.5, 0], [-0.5, 0.5, 0], [0, 0, 2]], dtype=torch.float64) / 4
    dEy_dK, dEy_dG = 4 * G**2 / (K + G) ** 2, 4 * K**2 / (K + G) ** 2
    dJ_dK = 2 * (iso["E"] - 80.0) * dEy_dK
    dJ_dG = 2 * (G - 30.0) + 2 * (iso["E"] - 80.0) * dEy_dG
    w = dJ_dK[:, None, None] * wK + dJ_dG[:, None, None] * wG  # dJ/dC (B, 3, 3)
    for ch, dC in ((0, dC_dE), (1, dC_dnu)):
        expected = (w[:, :, :, None, None] * dC).sum((1, 2))
        np.testing.assert_allclose(g[:, ch].numpy(), expected.numpy(), rtol=1e-9,
                                   atol=1e-12 * float(expected.abs().max()))
    assert torch.count_nonzero(g[:, 2]) == 0  # no density dependence


@pytest.mark.parametrize("objective", [TargetShearModulus(25.0, relative=True, reference=1.0),
                                       TargetYoungsModulus(50.0), TargetPoissonRatio(0.3, dim=3)])
def test_objective_gradients_match_finite_differences(objective):
    fields = _fields(np.random.default_rng(4), B=1, n=3, dim=3)

    def f(x):
        return objective(EffectiveProperties(x, 3)).sum()

    x = fields.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x)
    for idx in [(0, 0, 1, 2, 0), (0, 1, 2, 0, 1), (0, 0, 0, 0, 0), (0, 1, 1, 1, 1)]:
        h = 1e-5 * abs(float(fields[idx]))
        xp, xm = fields.clone(), fields.clone()
        xp[idx] += h
        xm[idx] -= h
        fd = (f(xp) - f(xm)).item() / (2 * h)
        assert g[idx].item() == pytest.approx(fd, rel=1e-5, abs=1e-12), idx


def test_sum_with_stiffness_objectives_solves_once_and_derives_K_from_C():
    fields = _fields(np.random.default_rng(5))

    def no_bulk_solve(E, nu):
        raise AssertionError("K must come from the stiffness solve")

    J = TargetBulkModulus(50.0) + DensityPenalty(1e-2) + TargetShearModulus(20.0)
    props = EffectiveProperties(fields, 2, solver=no_bulk_solve)
    value = J(props)
    K = bulk_modulus(fields[:, 0].numpy(), fields[:, 1].numpy(), dim=2)
    G = _direct(fields, 2)["G"]
    rho = fields[:, 2].numpy().reshape(2, -1).mean(1)
    np.testing.assert_allclose(value.numpy(), (K - 50.0) ** 2 + 1e-2 * rho + (G - 20.0) ** 2, rtol=1e-10)
    # K alone still uses the given K solver
    with pytest.raises(AssertionError, match="stiffness solve"):
        TargetBulkModulus(50.0)(EffectiveProperties(fields, 2, solver=no_bulk_solve))


def test_homogenizer_as_solver_is_warm_started_and_agrees():
    fields = _fields(np.random.default_rng(6), B=3, n=8)
    hom = Homogenizer(2, 8, solver="pcg", tol=1e-12)
    J = TargetShearModulus(40.0) + TargetBulkModulus(60.0)
    ref = J(EffectiveProperties(fields, 2)).numpy()
    for step in range(2):
        np.testing.assert_allclose(J(EffectiveProperties(fields, 2, solver=hom)).numpy(), ref, rtol=1e-9)
        assert hom.last_info["warm_started"] == (step == 1)


def test_bad_targets_raise_input_error():
    for cls, label in ((TargetShearModulus, "target shear modulus"), (TargetYoungsModulus, "target Young's modulus")):
        for bad in (0.0, -5.0, float("nan"), float("inf"), "abc"):
            with pytest.raises(InputError, match=label):
                cls(bad)
        with pytest.raises(InputError, match="reference"):
            cls(10.0, relative=True, reference=0.0)
    for bad, dim in ((0.5, 3), (-1.0, 3), (1.0, 2), (1.0, None), (-1.2, 2), (float("nan"), None)):
        with pytest.raises(InputError, match="Poisson ratio"):
            TargetPoissonRatio(bad, dim=dim)
    with pytest.raises(InputError, match="Poisson ratio"):
        TargetPoissonRatio("x")
    with pytest.raises(InputError, match="dim"):
        TargetPoissonRatio(0.2, dim=4)
    TargetPoissonRatio(0.7, dim=2)  # admissible for the 2D plane-stress ν
    # a 2D-only target fails on 3D fields when first evaluated, before any FEM solve
    fields3 = torch.ones(1, 3, 2, 2, 2)
    fields3[:, 1] = 2.0  # invalid ν: a solve would raise a different error
    with pytest.raises(InputError, match=r"\(-1, 0.5\) in 3D"):
        TargetPoissonRatio(0.7)(EffectiveProperties(fields3, 3))


class TinyNet(torch.nn.Module):
    """A fixed smooth 'UNet' stand-in: a 3×3 convolution plus a time-dependent bias."""

    def __init__(self, seed=0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(0.1 * torch.randn(self.conv.weight.shape, generator=gen))
            self.conv.bias.zero_()

    def forward(self, x, t):
        return self.conv(x) + 1e-4 * t.to(x.dtype).view(-1, 1, 1, 1)


@pytest.mark.parametrize("target", [15.0, 100.0])
def test_shear_modulus_guidance_reduces_the_objective_versus_unguided(target, one_torch_thread):
    norm = Normalization(np.array([[0.5, 400.0], [0.05, 0.48], [0.1, 10.0]]))
    J = TargetShearModulus(target, relative=True, reference=1.0)
    err = {}
    for mode in ("unguided", "guided"):
        res = guided_sample(TinyNet(), make_sampling_scheduler(Config()), norm, J, shape=(4, 3, 8, 8),
                            config=GuidanceConfig(steps=20, mode=mode, grad_scale=(20.0, 0.02, 1.0)),
                            generator=torch.Generator().manual_seed(3), progress=False)
        fields = norm.denormalize(res.x0.double(), axis=1)
        err[mode] = np.abs(_direct(fields, 2)["G"] / target - 1.0)
    assert err["guided"].mean() < 0.5 * err["unguided"].mean(), err
