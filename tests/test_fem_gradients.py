"""Energy-form gradients of the bulk modulus against central finite differences (float64)."""

import numpy as np
import pytest
import torch

from matdesign.fem import Homogenizer, bulk_modulus


def fields(dim, n, batch, seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((batch,) + (n,) * dim) < 0.4
    E = np.where(mask, 200.0, 2.0) * rng.uniform(0.8, 1.25, mask.shape)
    nu = np.where(mask, 0.25, 0.42) + rng.uniform(-0.05, 0.05, mask.shape)
    return torch.tensor(E, requires_grad=True), torch.tensor(nu, requires_grad=True)


@pytest.mark.parametrize("dim,n", [(2, 6), (3, 4)])
@pytest.mark.parametrize("solver", ["condense", "pcg", "scipy"])
def test_gradient_matches_central_differences(dim, n, solver):
    E, nu = fields(dim, n, 2, seed=dim)
    kw = dict(dim=dim, solver=solver, tol=1e-13)
    K = bulk_modulus(E, nu, **kw)
    gE, gnu = torch.autograd.grad(K.sum() * 1.0 + K[1], (E, nu))  # weights 1 and 2 per sample
    rng = np.random.default_rng(0)
    flat = [tuple(int(i) for i in np.unravel_index(k, E.shape)) for k in rng.choice(E.numel(), 6, replace=False)]
    for name, x, g, rel_step in (("E", E, gE, 1e-5), ("nu", nu, gnu, 1e-5)):
        for idx in flat:
            h = rel_step * float(x.detach()[idx])
            xp, xm = x.detach().clone(), x.detach().clone()
            xp[idx] += h
            xm[idx] -= h
            args_p = (xp, nu.detach()) if name == "E" else (E.detach(), xp)
            args_m = (xm, nu.detach()) if name == "E" else (E.detach(), xm)
            Kp, Km = bulk_modulus(*args_p, **kw), bulk_modulus(*args_m, **kw)
            fd = float(((Kp - Km) * torch.tensor([1.0, 2.0])).sum() / (2 * h))
            assert float(g[idx]) == pytest.approx(fd, rel=1e-5), (name, idx)


def test_gradient_through_leading_batch_dims_and_float32():
    E, nu = fields(2, 8, 4, seed=7)
    E32 = E.detach().float().reshape(2, 2, 8, 8).requires_grad_(True)
    nu32 = nu.detach().float().reshape(2, 2, 8, 8).requires_grad_(True)
    K = bulk_modulus(E32, nu32, dim=2)
    assert K.shape == (2, 2) and K.dtype == torch.float32
    (K * torch.arange(4.0).reshape(2, 2)).sum().backward()
    assert E32.grad.dtype == torch.float32 and torch.all(E32.grad[0, 0] == 0)
    K64 = bulk_modulus(E, nu, dim=2)
    gE = torch.autograd.grad((K64 * torch.arange(4.0, dtype=torch.float64)).sum(), E)[0]
    np.testing.assert_allclose(E32.grad.reshape(4, 8, 8).numpy(), gE.numpy(), rtol=1e-4, atol=1e-9)


def test_gradient_signs_follow_physics():
    """Stiffening any voxel cannot lower K: dK/dE_e = 2 W_e / (dim² E_e) > 0 (element energy)."""
    E, nu = fields(3, 4, 1, seed=11)
    hom = Homogenizer(3, 4, solver="pcg")
    K = hom.bulk_modulus(E, nu)
    gE = torch.autograd.grad(K.sum(), E)[0]
    assert torch.all(gE > 0)
    assert hom.last_info["iterations"] is not None
