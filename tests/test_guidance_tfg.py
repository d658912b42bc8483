"""The official release's sampler (guidance="tfg") and guidance on the release's K (definition "paper").

TFG (Training-Free Guidance, as the release's documented sampling command sets it): ∇_{x_t} J clipped per
sample to an L2 norm of at most grad_max_mag, times ρ_D, subtracted from the DDPM posterior sample; no
guidance at the last step. docs/official_release.md.
"""

import numpy as np
import pytest
import torch
from test_guidance import TinyNet, _norm, _scheduler

from matdesign.errors import InputError
from matdesign.fem import bulk_modulus, release_modulus
from matdesign.guidance import (
    SAMPLERS,
    EffectiveProperties,
    GuidanceConfig,
    TargetBulkModulus,
    TargetPaperBulkModulus,
    guided_sample,
    sampler_config,
)
from matdesign.guidance.sampler import clip_norm, tfg_step


def test_clip_norm_caps_each_samples_l2_norm_at_grad_max_mag_times_rho_and_keeps_its_direction():
    gen = torch.Generator().manual_seed(0)
    grad = torch.randn(4, 3, 6, 6, generator=gen) * torch.tensor([1e-3, 1.0, 10.0, 1e4]).view(4, 1, 1, 1)
    for rho in (1.0, 0.3):
        step = tfg_step(grad, GuidanceConfig(guidance="tfg", grad_max_mag=2.5, rho_D=rho))
        norms = step.flatten(1).norm(dim=1)
        torch.testing.assert_close(step[0], rho * grad[0])  # norm ≈ 0.1 < 2.5: not clipped
        torch.testing.assert_close(norms[1:], torch.full((3,), 2.5 * rho), rtol=1e-6, atol=0)
        cosine = torch.nn.functional.cosine_similarity(step.flatten(1), grad.flatten(1))
        torch.testing.assert_close(cosine, torch.ones(4))
    assert torch.equal(clip_norm(grad, float("inf")), grad)
    assert torch.equal(clip_norm(torch.zeros(2, 3, 4, 4), 2.5), torch.zeros(2, 3, 4, 4))


class RecordingScheduler:
    """Wraps a scheduler: remembers each step's prev_sample (before guidance) and the x_t it came from."""

    def __init__(self):
        self.inner = _scheduler()
        self.plain, self.inputs, self.kwargs = [], [], []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def step(self, v, t, x, **kw):
        out = self.inner.step(v, t, x, **kw)
        self.inputs.append(x.clone())
        self.plain.append(out.prev_sample.clone())
        self.kwargs.append(kw)
        return out


def _run(config, target=250.0, objective=None, scheduler=None, seed=1, shape=(3, 3, 8, 8)):
    return guided_sample(TinyNet(), scheduler or _scheduler(), _norm(), objective or TargetBulkModulus(target),
                         shape=shape, config=config, generator=torch.Generator().manual_seed(seed), progress=False)


def test_every_tfg_step_moves_each_sample_by_exactly_grad_max_mag_times_rho_when_the_gradient_is_large():
    """J = (K − 250)² in GPa² has gradients far above 2.5, so every guided step is clipped to 2.5·ρ exactly;
    the last step is not guided (the release guides all timesteps but the last)."""
    for rho, mag in ((1.0, 2.5), (0.5, 0.1)):
        sched = RecordingScheduler()
        res = _run(GuidanceConfig(steps=6, guidance="tfg", rho_D=rho, grad_max_mag=mag), scheduler=sched)
        steps = [(p - x).flatten(1).norm(dim=1) for p, x in zip(sched.plain[:-1], sched.inputs[1:])]
        torch.testing.assert_close(torch.stack(steps), torch.full((5, 3), mag * rho), rtol=1e-4, atol=0)
        assert res.guided_steps == 5 and len(res.objective_history) == 5
        assert all(kw.get("use_clipped_model_output") for kw in sched.kwargs)


def test_tfg_with_rho_zero_is_unguided_sampling():
    unguided = _run(GuidanceConfig(steps=8, guidance="tfg", mode="unguided"))
    zero = _run(GuidanceConfig(steps=8, guidance="tfg", rho_D=0.0))
    assert torch.equal(zero.x0, unguided.x0) and zero.guided_steps == 0
    guided = _run(GuidanceConfig(steps=8, guidance="tfg"))
    assert not torch.equal(guided.x0, unguided.x0)


def test_tfg_is_deterministic_under_a_seed():
    runs = [_run(GuidanceConfig(steps=5, guidance="tfg"), seed=7).x0 for _ in range(2)]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], _run(GuidanceConfig(steps=5, guidance="tfg"), seed=8).x0)


def _final_K(x0):
    fields = _norm().denormalize(x0.double(), axis=1)
    return bulk_modulus(fields[:, 0].numpy(), fields[:, 1].numpy(), dim=2)


@pytest.mark.parametrize("target", [40.0, 250.0])
def test_tfg_reduces_the_objective_versus_unguided(target):
    err = {}
    for mode in ("unguided", "guided"):
        res = _run(GuidanceConfig(steps=20, guidance="tfg", mode=mode), objective=TargetBulkModulus(target),
                   seed=3, shape=(4, 3, 8, 8))
        err[mode] = np.abs(_final_K(res.x0) / target - 1.0)
    assert err["guided"].mean() < 0.5 * err["unguided"].mean()


def test_ddim_with_eta_one_and_clipped_eps_is_the_ddpm_posterior_step():
    """What tfg asks of the scheduler: DDIM(η = 1, ε from the clipped x̂₀) = the release's DDPM step, mean
    √ᾱ_prev·β_t/(1−ᾱ_t)·x̂₀ + √α_t·(1−ᾱ_prev)/(1−ᾱ_t)·x_t and variance (1−ᾱ_prev)/(1−ᾱ_t)·β_t."""
    sched = _scheduler()
    sched.set_timesteps(100)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 8, 8, generator=gen, dtype=torch.float64)
    v = 2.0 * torch.randn(2, 3, 8, 8, generator=gen, dtype=torch.float64)  # x̂₀ clipped in many voxels
    for t in (int(sched.timesteps[1]), int(sched.timesteps[50]), int(sched.timesteps[-2])):
        ab = sched.alphas_cumprod[t].double()
        ab_prev = sched.alphas_cumprod[t - 10].double()
        x0 = (ab.sqrt() * x - (1 - ab).sqrt() * v).clamp(-1, 1)
        beta = 1 - ab / ab_prev
        mean = ab_prev.sqrt() * beta / (1 - ab) * x0 + (ab / ab_prev).sqrt() * (1 - ab_prev) / (1 - ab) * x
        zero = torch.zeros_like(x)
        got = sched.step(v, t, x, eta=1.0, variance_noise=zero, use_clipped_model_output=True).prev_sample
        torch.testing.assert_close(got, mean, rtol=1e-5, atol=1e-6)
        var = (1 - ab_prev) / (1 - ab) * beta
        one = torch.ones_like(x)
        spread = sched.step(v, t, x, eta=1.0, variance_noise=one, use_clipped_model_output=True).prev_sample - got
        torch.testing.assert_close(spread, var.sqrt() * one, rtol=1e-5, atol=1e-7)
        plain = sched.step(v, t, x, eta=1.0, variance_noise=zero).prev_sample  # our dps: ε not re-derived
        assert (plain - mean).abs().max() > 1e-3


def test_paper_objective_is_the_release_K_and_its_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    n = 4
    E = rng.uniform(1.0, 200.0, (1, n, n))
    nu = rng.uniform(0.1, 0.45, (1, n, n))
    rho = rng.uniform(0.5, 9.0, (1, n, n))
    fields = torch.as_tensor(np.stack([E, nu, rho], 1))
    K = release_modulus(E, nu, dim=2)
    np.testing.assert_allclose(K, bulk_modulus(E, nu, dim=2, definition="paper"), rtol=1e-12)
    J = TargetPaperBulkModulus(30.0)
    x = fields.clone().requires_grad_(True)
    value = J(EffectiveProperties(x, 2))
    np.testing.assert_allclose(value.detach().numpy(), (K - 30.0) ** 2, rtol=1e-10)
    (g,) = torch.autograd.grad(value.sum(), x)
    assert torch.count_nonzero(g[:, 2]) == 0

    def f(y):
        return J(EffectiveProperties(y, 2)).sum().item()

    for idx in [(0, 0, 1, 2), (0, 1, 3, 0), (0, 0, 0, 0), (0, 1, 2, 2)]:
        h = 1e-6 * abs(float(fields[idx]))
        xp, xm = fields.clone(), fields.clone()
        xp[idx] += h
        xm[idx] -= h
        fd = (f(xp) - f(xm)) / (2 * h)
        assert g[idx].item() == pytest.approx(fd, rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("target", [40.0, 300.0])
def test_tfg_guided_on_the_release_K_moves_it_towards_the_target(target):

    def K_paper(x0):
        fields = _norm().denormalize(x0.double(), axis=1)
        return release_modulus(fields[:, 0].numpy(), fields[:, 1].numpy(), dim=2)

    err = {}
    for mode in ("unguided", "guided"):
        res = _run(GuidanceConfig(steps=12, guidance="tfg", mode=mode), objective=TargetPaperBulkModulus(target),
                   seed=2, shape=(3, 3, 6, 6))
        err[mode] = np.abs(K_paper(res.x0) / target - 1.0)
    assert err["guided"].mean() < 0.5 * err["unguided"].mean()


def test_named_samplers_and_bad_settings():
    assert set(SAMPLERS) == {"dps", "dps-unclipped", "tfg"}
    assert sampler_config("dps", 0.01, steps=5).step_clip == 0.01
    assert sampler_config("dps-unclipped").step_clip is None and sampler_config("dps-unclipped").guidance == "dps"
    tfg = sampler_config("tfg", steps=100)
    assert (tfg.guidance, tfg.grad_max_mag, tfg.rho_D, tfg.eta, tfg.steps) == ("tfg", 2.5, 1.0, 1.0, 100)
    with pytest.raises(InputError, match="sampler"):
        sampler_config("paper")
    with pytest.raises(InputError, match="step clip"):
        sampler_config("tfg", 0.01)
    with pytest.raises(InputError, match="guidance"):
        GuidanceConfig(guidance="ddim")
    with pytest.raises(InputError, match="grad_max_mag"):
        GuidanceConfig(guidance="tfg", grad_max_mag=0.0)
    with pytest.raises(InputError, match="step_clip"):
        GuidanceConfig(guidance="tfg", step_clip=0.01)
    with pytest.raises(InputError, match="rho_D"):
        GuidanceConfig(rho_D=-1.0)


def test_evaluation_runs_the_release_sampler_guided_on_the_release_K_and_records_it(tiny_model, tmp_path):
    """`matdesign evaluate --sampler tfg --guide paper --definition paper`: the paper's Table 1 setting."""
    from matdesign.evaluate import runner, store

    kw = dict(samples=2, steps=3, seed=0, verify_n=3, max_arrangements=3, refine=False, workers=0, progress=False)
    ev = runner.run_evaluation([60.0], model=tiny_model, out=tmp_path, sampler="tfg", guide="paper",
                                   definition="paper", **kw)
    s = ev.settings
    assert (s["sampler"], s["step_clip"], s["grad_max_mag"], s["guide"], s["definition"]) == (
        "tfg", None, 2.5, "paper", "paper")
    (r,) = ev.results
    assert r.guided_steps == 2 and r.seconds_sampling_fem > 0  # 3 steps, the last one unguided
    assert "sampler tfg (grad_max_mag 2.5) guided on the paper K" in (tmp_path / "summary.md").read_text()
    fields = store.load_target_fields(tmp_path, 60.0)  # K_s is the sample's own K in the release's definition
    np.testing.assert_allclose([x["K_s"] for x in r.samples], release_modulus(fields[:, 0], fields[:, 1], dim=2),
                               rtol=1e-6)
    with pytest.raises(InputError, match="sampler='tfg', this run has 'dps-unclipped'"):  # a resume key
        runner.run_evaluation([60.0], model=tiny_model, out=tmp_path, sampler="dps-unclipped", guide="paper",
                                  definition="paper", **kw)
    with pytest.raises(InputError, match="guide='paper', this run has 'cell'"):
        runner.run_evaluation([60.0], model=tiny_model, out=tmp_path, sampler="tfg", definition="paper", **kw)


def test_resolve_sampler_names_the_unclipped_dps_step():
    from matdesign.pipeline.sampling import resolve_sampler

    assert resolve_sampler("dps", None) == ("dps", 0.01, None)
    assert resolve_sampler("dps", float("inf")) == ("dps-unclipped", None, None)  # --step-clip inf, as before
    assert resolve_sampler("dps-unclipped", None) == ("dps-unclipped", None, None)
    assert resolve_sampler("dps-unclipped", float("inf")) == ("dps-unclipped", None, None)
    assert resolve_sampler("tfg", None) == ("tfg", None, 2.5)
    assert resolve_sampler("tfg", None, 1.0) == ("tfg", None, 1.0)
    with pytest.raises(InputError, match="only the dps sampler"):
        resolve_sampler("tfg", 0.01)
    with pytest.raises(InputError, match="sampler"):
        resolve_sampler("paper", None)


def test_the_paper_definition_keeps_the_papers_own_targets():
    """332.2 GPa is above the table's stiffest plane-stress K (our 2D cell) but a target in the release's K."""
    from matdesign.evaluate.targets import PAPER_TARGETS, resolve_targets

    cell, skipped = resolve_targets("paper", 2)
    assert 332.2 not in cell and [s["target"] for s in skipped] == [332.2]
    assert resolve_targets("paper", 2, definition="paper") == (list(PAPER_TARGETS[2]), [])
    assert resolve_targets("332.2,5", 2, definition="paper") == ([332.2, 5.0], [])
    with pytest.raises(InputError, match="outside the range"):
        resolve_targets("332.2", 2)
    with pytest.raises(InputError, match="positive"):
        resolve_targets("-3", 2, definition="paper")
