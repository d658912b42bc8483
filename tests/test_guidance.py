"""Guided sampling: objectives against direct computation, FD check of the guidance gradient,
and guidance actually steering the sampler."""

import time

import numpy as np
import pytest
import torch

from matdesign.diffusion import Config, make_sampling_scheduler
from matdesign.errors import InputError
from matdesign.fem import bulk_modulus
from matdesign.guidance import (
    DensityBound,
    DensityPenalty,
    EffectiveProperties,
    GuidanceConfig,
    TargetBulkModulus,
    guided_sample,
)
from matdesign.guidance.projection import project_to_materials
from matdesign.guidance.sampler import clip_step, guidance_gradient
from matdesign.materials import MaterialTable, Normalization


def _fields(rng, B=2, n=6, dtype=torch.float64):
    E = torch.as_tensor(rng.uniform(1.0, 200.0, (B, n, n)), dtype=dtype)
    nu = torch.as_tensor(rng.uniform(0.1, 0.45, (B, n, n)), dtype=dtype)
    rho = torch.as_tensor(rng.uniform(0.5, 9.0, (B, n, n)), dtype=dtype)
    return torch.stack([E, nu, rho], dim=1)


def test_objectives_match_direct_computation():
    rng = np.random.default_rng(0)
    fields = _fields(rng).requires_grad_(True)
    props = EffectiveProperties(fields, dim=2)
    K = bulk_modulus(fields[:, 0].detach().numpy(), fields[:, 1].detach().numpy(), dim=2)
    rho = fields[:, 2].detach().numpy().reshape(2, -1).mean(axis=1)
    K_star = 50.0
    J = TargetBulkModulus(K_star) + DensityPenalty(1e-2) + 2.0 * TargetBulkModulus(K_star, relative=True)
    value = J(props)
    expected = (K - K_star) ** 2 + 1e-2 * rho + 2.0 * (168.5 * (K / K_star - 1.0)) ** 2
    np.testing.assert_allclose(value.detach().numpy(), expected, rtol=1e-10)
    # the density channel's gradient of λ·mean ρ is λ / n_voxels everywhere
    (g,) = torch.autograd.grad(DensityPenalty(0.3)(EffectiveProperties(fields, 2)).sum(), fields)
    np.testing.assert_allclose(g[:, 2].numpy(), 0.3 / 36.0, rtol=1e-12)
    assert torch.count_nonzero(g[:, :2]) == 0
    bound = DensityBound(minimum=0.0, maximum=2.0)(props).detach().numpy()
    np.testing.assert_allclose(bound, np.maximum(rho - 2.0, 0.0) ** 2, rtol=1e-12)


def test_objective_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    fields = _fields(rng, B=1, n=4)
    J = TargetBulkModulus(30.0, relative=True, reference=1.0)

    def f(x):
        return J(EffectiveProperties(x, 2)).sum()

    x = fields.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x)
    h = 1e-5
    for idx in [(0, 0, 1, 2), (0, 1, 3, 0), (0, 0, 0, 0)]:
        xp, xm = fields.clone(), fields.clone()
        xp[idx] += h * abs(float(fields[idx]))
        xm[idx] -= h * abs(float(fields[idx]))
        fd = (f(xp) - f(xm)).item() / (2 * h * abs(float(fields[idx])))
        assert g[idx].item() == pytest.approx(fd, rel=1e-5, abs=1e-12)


class TinyNet(torch.nn.Module):
    """A fixed smooth 'UNet' stand-in: a 3×3 convolution plus a time-dependent bias."""

    def __init__(self, dtype=torch.float32, seed=0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1, dtype=dtype)
        with torch.no_grad():
            self.conv.weight.copy_(0.1 * torch.randn(self.conv.weight.shape, generator=gen, dtype=dtype))
            self.conv.bias.zero_()

    def forward(self, x, t):
        return self.conv(x) + 1e-4 * t.to(x.dtype).view(-1, 1, 1, 1)


def _norm():
    return Normalization(np.array([[0.5, 400.0], [0.05, 0.48], [0.1, 10.0]]))


def test_guidance_gradient_matches_finite_differences_through_x0():
    torch.manual_seed(0)
    net = TinyNet(dtype=torch.float64)
    x_t = 0.3 * torch.randn(1, 3, 4, 4, dtype=torch.float64)
    t = torch.tensor([500])
    ab = torch.tensor(0.6, dtype=torch.float64)
    J = TargetBulkModulus(120.0)
    step = guidance_gradient(net, x_t, t, ab, _norm(), J)
    assert step.x0.abs().max() < 1.0  # away from the clip so the FD is smooth

    def loss(x):
        with torch.no_grad():
            x0 = (ab.sqrt() * x - (1 - ab).sqrt() * net(x, t)).clamp(-1, 1)
            return J(EffectiveProperties(_norm().denormalize(x0, axis=1), 2)).sum().item()

    h = 1e-6
    for idx in [(0, 0, 1, 1), (0, 1, 2, 3), (0, 2, 0, 0)]:
        xp, xm = x_t.clone(), x_t.clone()
        xp[idx] += h
        xm[idx] -= h
        fd = (loss(xp) - loss(xm)) / (2 * h)
        assert step.grad[idx].item() == pytest.approx(fd, rel=1e-5, abs=1e-8)


def _scheduler():
    return make_sampling_scheduler(Config())


def _final_K(x0):
    fields = _norm().denormalize(x0.double(), axis=1)
    return bulk_modulus(fields[:, 0].numpy(), fields[:, 1].numpy(), dim=2)


@pytest.mark.parametrize("target", [40.0, 250.0])
def test_guidance_reduces_objective_versus_unguided(target):
    net = TinyNet()
    shape = (4, 3, 8, 8)
    out = {}
    for mode in ("unguided", "guided"):
        gen = torch.Generator().manual_seed(3)
        res = guided_sample(
            net, _scheduler(), _norm(), TargetBulkModulus(target, relative=True, reference=1.0),
            shape=shape, config=GuidanceConfig(steps=20, mode=mode, grad_scale=(20.0, 0.02, 1.0)),
            generator=gen, progress=False,
        )
        out[mode] = np.abs(_final_K(res.x0) / target - 1.0)
    assert out["guided"].mean() < 0.5 * out["unguided"].mean()


def test_sampling_is_deterministic_under_a_seed():
    net = TinyNet()
    runs = [
        guided_sample(net, _scheduler(), _norm(), TargetBulkModulus(100.0), shape=(2, 3, 8, 8),
                      config=GuidanceConfig(steps=5), generator=torch.Generator().manual_seed(7), progress=False).x0
        for _ in range(2)
    ]
    assert torch.equal(runs[0], runs[1])



def test_guidance_time_budget_leaves_the_remaining_steps_unguided():
    """guidance_seconds=0: no guided step, the very trajectory of unguided sampling; None: every step guided;
    a budget that runs out mid-run: the guided steps are a prefix, then the FEM is no longer called."""
    net, J = TinyNet(), TargetBulkModulus(100.0)

    def run(**kwargs):
        return guided_sample(net, _scheduler(), _norm(), J, shape=(2, 3, 8, 8), config=GuidanceConfig(steps=6, **kwargs),
                             generator=torch.Generator().manual_seed(5), progress=False)

    none, unguided, full = run(guidance_seconds=0.0), run(mode="unguided"), run()
    assert torch.equal(none.x0, unguided.x0) and none.guided_steps == 0 and none.objective_history == []
    assert full.guided_steps == 6 and len(full.objective_history) == 6 and not torch.equal(full.x0, none.x0)

    calls = []

    def slow_K(E, nu):  # each FEM call takes 0.5 s: a 0.8 s budget allows two guided steps
        calls.append(time.sleep(0.5))
        return bulk_modulus(E, nu, dim=2)

    res = guided_sample(net, _scheduler(), _norm(), J, shape=(2, 3, 8, 8), solver=slow_K,
                        config=GuidanceConfig(steps=6, guidance_seconds=0.8),
                        generator=torch.Generator().manual_seed(5), progress=False)
    assert res.guided_steps == len(calls) == 2 and len(res.objective_history) == 2
    with pytest.raises(InputError, match="guidance_seconds"):
        GuidanceConfig(guidance_seconds=-1.0)

def test_project_variant_snaps_to_real_materials():
    table = MaterialTable.builtin()
    norm = table.normalization
    x0 = torch.rand(2, 3, 5, 5) * 2 - 1
    proj = project_to_materials(x0, table, norm)
    phys = norm.denormalize(proj.double(), axis=1).movedim(1, -1).reshape(-1, 3).numpy()
    rows = np.stack([table.E, table.nu, table.rho], axis=-1)
    dist = np.abs(phys[:, None, :] - rows[None]).max(axis=-1).min(axis=1)
    assert dist.max() < 1e-4 * rows.max()
    res = guided_sample(TinyNet(), _scheduler(), norm, TargetBulkModulus(100.0), shape=(2, 3, 8, 8),
                        config=GuidanceConfig(steps=6, mode="project"), materials=table,
                        generator=torch.Generator().manual_seed(0), progress=False)
    assert res.x0.shape == (2, 3, 8, 8) and len(res.objective_history) == 3


def test_bad_settings_raise_input_error():
    with pytest.raises(InputError, match="mode"):
        GuidanceConfig(mode="magic")
    with pytest.raises(InputError, match="target bulk modulus"):
        TargetBulkModulus(-3.0)
    with pytest.raises(InputError, match="density weight"):
        DensityPenalty(float("nan"))
    with pytest.raises(InputError, match="objective"):
        guided_sample(TinyNet(), _scheduler(), _norm(), None, shape=(1, 3, 8, 8), progress=False)


def test_clip_step_caps_each_samples_rms_and_keeps_its_direction():
    gen = torch.Generator().manual_seed(0)
    step = torch.randn(3, 3, 5, 5, generator=gen) * torch.tensor([0.01, 1.0, 10.0]).view(3, 1, 1, 1)
    clipped = clip_step(step, 0.5)
    rms = clipped.pow(2).flatten(1).mean(1).sqrt()
    torch.testing.assert_close(clipped[0], step[0])  # RMS ≈ 0.01 < 0.5: untouched
    torch.testing.assert_close(rms[1:], torch.full((2,), 0.5))
    cosine = torch.nn.functional.cosine_similarity(clipped.flatten(1), step.flatten(1))
    torch.testing.assert_close(cosine, torch.ones(3))


class RecordingNet(TinyNet):
    """TinyNet that remembers every x_t it is called with."""

    def __init__(self):
        super().__init__()
        self.inputs = []

    def forward(self, x, t):
        self.inputs.append(x.detach().clone())
        return super().forward(x, t)


def _guidance_steps(step_clip):
    """RMS of each sample's guidance step at each DDIM step, and its bound √(1−ᾱ_t) per step."""
    net, sched = RecordingNet(), _scheduler()
    plain, bounds = [], []
    original = sched.step

    def recording_step(v, t, x, **kw):
        out = original(v, t, x, **kw)
        plain.append(out.prev_sample.clone())
        bounds.append(float(1.0 - sched.alphas_cumprod[int(t)]) ** 0.5)
        return out

    sched.step = recording_step
    guided_sample(net, sched, _norm(), TargetBulkModulus(250.0), shape=(2, 3, 8, 8),
                  config=GuidanceConfig(steps=8, grad_scale=(20.0, 0.02, 1.0), step_clip=step_clip),
                  generator=torch.Generator().manual_seed(1), progress=False)
    rms = [(p - x).pow(2).flatten(1).mean(1).sqrt() for p, x in zip(plain[:-1], net.inputs[1:])]
    return torch.stack(rms), torch.tensor(bounds[:-1])


def test_step_clip_bounds_every_guidance_step_relative_to_the_noise_level():
    C = 0.05
    free, bound = _guidance_steps(None)
    assert (free > C * bound[:, None]).any()  # the unclipped sampler does take larger steps here
    clipped, bound = _guidance_steps(C)
    assert (clipped <= C * bound[:, None] * (1 + 1e-4)).all()
    assert (clipped > 0).all()  # still guided
    with pytest.raises(InputError, match="step_clip"):
        GuidanceConfig(step_clip=0.0)
