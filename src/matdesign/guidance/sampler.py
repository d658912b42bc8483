"""FEM-guided DDIM sampling: our loss-guided DPS step (the paper's section 3.2 and eq. 1) or the official
release's Training-Free Guidance step, in one sampling loop.

At each DDIM step i with timestep t:

1. v = UNet(x_t, t); x̂₀ = √ᾱ_t·x_t − √(1−ᾱ_t)·v, clipped to [−1, 1];
2. the objective J is evaluated on the denormalized fields of x̂₀ through the differentiable FEM
   and backpropagated through the UNet to g = ∇_{x_t} J;
3. ``guidance="dps"`` (ours): x_{i−1} = DDIM(x_t, v) − ρ_D · s ⊙ g, with per-channel gradient scales s
   (E, ν, ρ); optionally (beyond the paper) each sample's step is shrunk to an RMS of at most
   C·√(1−ᾱ_t) (``step_clip``; without it: "dps-unclipped", what this package called "the paper's
   sampler" before the release was published);
   ``guidance="tfg"`` (the official release's sampling command: Training-Free Guidance, arXiv 2409.15761,
   ``tfg_rho=1, grad_max_mag=2.5, --clip_pred_x0``): g is scaled down per sample to an L2 norm of at
   most ``grad_max_mag`` (over all channels and voxels), multiplied by −ρ_D and added to the DDPM
   posterior sample (DDIM with η = 1 and ε re-derived from the clipped x̂₀); no per-channel scales, no
   guidance at the last step, no x̂₀ (μ) term and one recurrence (the release's defaults).

The "project" variant alternates guidance steps with steps that replace x̂₀'s voxel values by
their nearest real materials before the DDIM update.

All of it runs in the package's one DDIM loop (:func:`matdesign.diffusion.sampling.ddim_loop`): guidance
(:class:`FEMGuidance`: gradient, step, record) and projection (:class:`MaterialProjection`) are its callbacks,
the clips (:func:`clip_step`, :func:`clip_norm`) small functions of the step rule.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import torch

from matdesign.diffusion.sampling import ddim_loop, x0_from_v
from matdesign.errors import InputError
from matdesign.fem import Homogenizer
from matdesign.guidance.objectives import EffectiveProperties, Objective
from matdesign.guidance.projection import project_to_materials


FEM_DTYPES = {"float64": (torch.float64, 1e-6), "float32": (torch.float32, 1e-6)}
"""Guidance-FEM precision → (torch dtype, PCG relative tolerance). 1e-6 in both: the guidance needs a
gradient good to ~1e-4, and 1e-6 changes it by ~1e-5 against 1e-10 while a 3D guided run on rubbery
fields needs 3× fewer PCG iterations (docs/physics.md, "Precision of the guidance FEM"); the direct
2D solver ignores it. Verification and every reported value solve to 1e-10."""


GUIDANCE_METHODS = ("dps", "tfg")
"""The guidance steps of :class:`GuidanceConfig`: "dps" (ours) and "tfg" (the official release's)."""

TFG_GRAD_MAX_MAG = 2.5
"""The release's documented ``grad_max_mag``: per-sample L2 bound of ∇_{x_t} J in normalized units."""

SAMPLERS = {
    "dps": "ours: DPS step ρ_D·s⊙∇J with the trust region step_clip C·√(1−ᾱ_t) (default C = 0.01)",
    "dps-unclipped": "the DPS step without a trust region (step_clip inf; called 'the paper's sampler' "
                     "here before the official release was published; its first steps collapse K)",
    "tfg": "the official release's sampling command: Training-Free Guidance, the gradient clipped per sample "
           "to an L2 norm of 2.5, ρ = 1, x̂₀ clipped, DDPM posterior (DDIM η = 1, ε from the clipped x̂₀)",
}
"""Named samplers of ``matdesign evaluate --sampler`` (and :func:`sampler_config`)."""


@dataclass
class GuidanceConfig:
    """Guided-sampling settings; the defaults are the paper's text (ρ_D = 1, scales 0.5 for E and 0.02 for ν,
    the DPS step); the official release's sampler is ``guidance="tfg"`` (docs/official_release.md).

    The density channel has no FEM gradient; its scale (1.0) only matters for density objectives.
    ``mode`` is "guided", "unguided" or "project" (guidance alternating with nearest-material projection).
    ``fem_dtype`` ("float64" or "float32") is the precision of the guidance FEM that
    :func:`guided_sample` builds when it is given no solver. float32 makes the 2D condensation
    1.3–1.7× faster on CPU (2–3 % of a guided run) but its gradient is off by ~5 % at contrast 1e4
    and by over 100 % at the built-in table's 3.5e5, and its factorization can lose positive
    definiteness (that step then reruns in float64): docs/physics.md, "Precision of the guidance FEM".
    ``step_clip`` C (beyond the paper; None: off): each sample's guidance step ρ_D·s⊙g is scaled down
    to a root-mean-square of at most C·√(1−ᾱ_t), a trust region relative to the noise level. The
    paper's unclipped first steps reach RMS 2–3 in normalized units and collapse K for ~10 steps
    (docs/results.md, "Guidance step clip").
    ``guidance_seconds`` (None: unbounded): wall time after which the remaining steps run unguided (UNet
    only, no FEM), so that a run whose FEM is slow (3D, rubbery fields) keeps a time budget.
    ``guidance``: the guidance step, "dps" (ours, above; ``step_clip`` None is the unclipped DPS step) or
    "tfg" (the official release's: ``grad_max_mag`` and ``rho_D`` as its ``grad_max_mag`` and
    ``tfg_rho``; ``grad_scale`` and ``step_clip`` do not apply; see :data:`SAMPLERS` and
    docs/official_release.md).
    """

    steps: int = 100
    rho_D: float = 1.0
    grad_scale: tuple[float, float, float] = (0.5, 0.02, 1.0)
    eta: float = 1.0
    mode: str = "guided"
    fem_dtype: str = "float64"
    step_clip: float | None = None
    guidance_seconds: float | None = None
    guidance: str = "dps"
    grad_max_mag: float = TFG_GRAD_MAX_MAG

    def __post_init__(self):
        if self.guidance not in GUIDANCE_METHODS:
            raise InputError(f"guidance must be one of {', '.join(GUIDANCE_METHODS)}, got {self.guidance!r}")
        if not (math.isfinite(float(self.rho_D)) and float(self.rho_D) >= 0):
            raise InputError(f"rho_D must be a finite number ≥ 0, got {self.rho_D}")
        if self.guidance == "tfg":
            if not float(self.grad_max_mag) > 0:
                raise InputError(f"grad_max_mag must be a positive number (inf: no clip), got {self.grad_max_mag}")
            if self.step_clip is not None:
                raise InputError("step_clip belongs to the dps guidance; tfg clips the gradient's L2 norm "
                                 "(grad_max_mag)")
        if self.mode not in ("guided", "unguided", "project"):
            raise InputError(f"guidance mode must be guided, unguided or project, got {self.mode!r}")
        if self.fem_dtype not in FEM_DTYPES:
            raise InputError(f"fem_dtype must be float64 or float32, got {self.fem_dtype!r}")
        if int(self.steps) < 1:
            raise InputError(f"number of sampling steps must be ≥ 1, got {self.steps}")
        if len(self.grad_scale) != 3:
            raise InputError(f"grad_scale needs 3 values (E, nu, rho), got {self.grad_scale}")
        if self.step_clip is not None and not float(self.step_clip) > 0:
            raise InputError(f"step_clip must be a positive number (or None for no clip), got {self.step_clip}")
        if self.guidance_seconds is not None and not float(self.guidance_seconds) >= 0:
            raise InputError(f"guidance_seconds must be ≥ 0 (or None: unbounded), got {self.guidance_seconds}")


@dataclass
class SampleResult:
    """Guided samples in normalized space (B, 3, *grid), the per-step history of the mean objective (one
    entry per guided step) and ``guided_steps``: the steps that were guided (fewer than the steps when
    ``GuidanceConfig.guidance_seconds`` ran out)."""

    x0: torch.Tensor
    objective_history: list[float] = field(default_factory=list)
    unet_seconds: float = 0.0
    fem_seconds: float = 0.0
    guided_steps: int = 0


def v_from_x0(x_t: torch.Tensor, x0: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """The v that makes ``x0_from_v`` return ``x0``: v = (√ᾱ·x_t − x̂₀) / √(1−ᾱ)."""
    return (alpha_bar.sqrt() * x_t - x0) / (1.0 - alpha_bar).sqrt()


@dataclass
class GuidanceStep:
    """One guidance evaluation at x_t: the UNet output v, the clipped x̂₀, J per sample and ∇_{x_t} ΣJ."""

    v: torch.Tensor
    x0: torch.Tensor
    loss: torch.Tensor
    grad: torch.Tensor
    fem_seconds: float


def clip_norm(grad: torch.Tensor, max_norm: float) -> torch.Tensor:
    """``grad`` (B, C, *grid) with each sample scaled down to an L2 norm (over all its entries) of at most
    ``max_norm`` (the release's ``grad_max_mag`` clip; inf: unchanged)."""
    return _shrink_per_sample(grad, grad.flatten(1).norm(dim=1), max_norm)


def tfg_step(grad: torch.Tensor, config: GuidanceConfig) -> torch.Tensor:
    """The release's TFG guidance step for ∇_{x_t} J: ρ_D·clip_norm(∇J, grad_max_mag); it is subtracted
    from the posterior sample, so each sample moves by at most grad_max_mag·ρ_D (L2)."""
    return float(config.rho_D) * clip_norm(grad, float(config.grad_max_mag))


def dps_step(grad: torch.Tensor, config: GuidanceConfig, scale: torch.Tensor, alpha_bar) -> torch.Tensor:
    """Our DPS guidance step ρ_D·s⊙∇J, each sample's RMS at most step_clip·√(1−ᾱ_t) when step_clip is set."""
    step = config.rho_D * scale * grad
    if config.step_clip is not None:
        step = clip_step(step, float(config.step_clip) * float(1.0 - alpha_bar) ** 0.5)
    return step


def sampler_config(sampler: str, step_clip: float | None = None, **kwargs) -> GuidanceConfig:
    """The :class:`GuidanceConfig` of a named sampler (:data:`SAMPLERS`): "dps" with ``step_clip`` (None:
    off), "dps-unclipped" (``step_clip`` must be None) or "tfg"; ``kwargs`` go to the config."""
    if sampler not in SAMPLERS:
        raise InputError(f"sampler={sampler!r}: must be one of {', '.join(SAMPLERS)}")
    if sampler != "dps" and step_clip is not None:
        raise InputError(f"sampler {sampler!r} takes no step clip (got step_clip={step_clip!r})")
    return GuidanceConfig(guidance="tfg" if sampler == "tfg" else "dps", step_clip=step_clip, **kwargs)


def clip_step(step: torch.Tensor, max_rms: float) -> torch.Tensor:
    """``step`` (B, C, *grid) with each sample scaled down to a root-mean-square of at most ``max_rms``."""
    return _shrink_per_sample(step, step.pow(2).flatten(1).mean(1).sqrt(), max_rms)


def _shrink_per_sample(x: torch.Tensor, size: torch.Tensor, limit: float) -> torch.Tensor:
    """``x`` (B, …) with sample b scaled by min(1, limit / size[b]): the common tail of the two clips."""
    factor = torch.clamp(limit / size.clamp_min(torch.finfo(x.dtype).tiny), max=1.0)
    return x * factor.view(-1, *([1] * (x.dim() - 1)))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def guidance_gradient(unet, x_t, t_batch, alpha_bar, normalization, objective, solver=None,
                      fallback=None) -> GuidanceStep:
    """Evaluate J(denormalize(clip(x̂₀(x_t)))) through the FEM and backpropagate through the UNet to x_t.

    ``fallback``: a solver (float64) that reruns the FEM when ``solver``'s factorization fails
    (``torch.linalg.LinAlgError``: a float32 solve at extreme material contrast), with a warning.
    """
    x_in = x_t.detach().requires_grad_(True)
    with torch.enable_grad():
        v = unet(x_in, t_batch)
        x0 = x0_from_v(x_in, v, alpha_bar).clamp(-1.0, 1.0)
        _sync(x_t.device)  # on a GPU, charge the queued UNet kernels to the UNet, not the FEM
        tic = time.perf_counter()
        fields = normalization.denormalize(x0, axis=1)
        try:
            loss = objective(EffectiveProperties(fields, x_t.ndim - 2, solver))
        except torch.linalg.LinAlgError:
            if fallback is None:
                raise
            warnings.warn("the float32 guidance FEM lost positive definiteness (extreme material contrast); "
                          "this step's FEM reruns in float64", RuntimeWarning, stacklevel=2)
            loss = objective(EffectiveProperties(fields, x_t.ndim - 2, fallback))
        _sync(x_t.device)
        fem_s = time.perf_counter() - tic
        (grad,) = torch.autograd.grad(loss.sum(), x_in)
    return GuidanceStep(v=v.detach(), x0=x0.detach(), loss=loss.detach(), grad=grad, fem_seconds=fem_s)


GuidanceStepRule = Callable[[torch.Tensor, GuidanceConfig, torch.Tensor, torch.Tensor], torch.Tensor]
"""(∇_{x_t} J (B, 3, *grid), config, per-channel scales (1, 3, 1, …), ᾱ_t) → the step subtracted from x_{i−1}."""


def default_step_rule(config: GuidanceConfig) -> GuidanceStepRule:
    """The guidance step of ``config.guidance``: :func:`tfg_step` or :func:`dps_step`."""
    if config.guidance == "tfg":
        return lambda grad, cfg, scale, alpha_bar: tfg_step(grad, cfg)
    return dps_step


class FEMGuidance:
    """The FEM guidance of one run as :func:`~matdesign.diffusion.sampling.ddim_loop` callbacks.

    :meth:`denoise` returns the UNet's v and, on a guided step, keeps ∇_{x_t} J of the clipped x̂₀
    (:func:`guidance_gradient`); ``on_step_end`` subtracts the guidance step (``step_rule``) from the
    DDIM update; the objective's batch mean is recorded per guided step (``history``). A step is guided
    unless the run is unguided, it is a projection step, it is the release's unguided last step (tfg)
    or the time budget ``config.guidance_seconds`` has run out.
    """

    def __init__(self, unet, alphas, normalization, objective, config: GuidanceConfig, *, steps: int, solver=None,
                 fallback=None, scale: torch.Tensor, step_rule: GuidanceStepRule):
        self.unet, self.alphas, self.normalization, self.objective = unet, alphas, normalization, objective
        self.config, self.solver, self.fallback, self.scale, self.step_rule = config, solver, fallback, scale, step_rule
        self.tfg = config.guidance == "tfg"
        # as in the release: tfg with ρ = 0 computes no gradient (and samples like unguided tfg)
        self.guided = config.mode != "unguided" and not (self.tfg and float(config.rho_D) == 0.0)
        self.last = steps - 1
        self.stop = math.inf if config.guidance_seconds is None else time.perf_counter() + float(config.guidance_seconds)
        self.history: list[float] = []
        self.unet_seconds = self.fem_seconds = 0.0
        self.grad = None

    def on_step_begin(self, i: int, t) -> None:
        self.alpha_bar = self.alphas[int(t)]
        project_step = self.config.mode == "project" and i % 2 == 1
        # the release guides every step but the last (at the last, x_{i-1} = x̂₀ and a step would be a shift)
        self.use_grad = (self.guided and not project_step and not (self.tfg and i == self.last)
                         and time.perf_counter() < self.stop)
        self.grad = None

    def denoise(self, x: torch.Tensor, t_batch: torch.Tensor) -> torch.Tensor:
        tic = time.perf_counter()
        if not self.use_grad:
            with torch.no_grad():
                v = self.unet(x, t_batch)
            self.unet_seconds += time.perf_counter() - tic
            return v
        step = guidance_gradient(self.unet, x, t_batch, self.alpha_bar, self.normalization, self.objective,
                                 self.solver, self.fallback)
        self.grad = step.grad
        self.history.append(float(step.loss.mean()))
        self.fem_seconds += step.fem_seconds
        self.unet_seconds += time.perf_counter() - tic - step.fem_seconds
        return step.v

    def on_step_end(self, i: int, t, x_t: torch.Tensor, v: torch.Tensor, out) -> torch.Tensor | None:
        if self.grad is None:
            return None
        return out.prev_sample - self.step_rule(self.grad, self.config, self.scale, self.alpha_bar)

    def postfix(self) -> dict:
        return {"J": f"{self.history[-1]:.4g}"} if self.history else {}


class MaterialProjection:
    """The "project" variant as a :func:`~matdesign.diffusion.sampling.ddim_loop` callback: at every second
    step x̂₀'s voxel values are replaced by their nearest real materials before the DDIM update."""

    def __init__(self, alphas, materials, normalization):
        self.alphas, self.materials, self.normalization = alphas, materials, normalization

    def on_model_output(self, i: int, t, x_t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if i % 2 == 0:
            return v
        ab = self.alphas[int(t)]
        x0 = x0_from_v(x_t, v, ab).clamp(-1.0, 1.0)
        return v_from_x0(x_t, project_to_materials(x0, self.materials, self.normalization), ab)


def guided_sample(
    unet,
    scheduler,
    normalization,
    objective: Objective | None,
    *,
    shape: tuple[int, ...],
    config: GuidanceConfig | None = None,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    solver=None,
    materials=None,
    step_rule: GuidanceStepRule | None = None,
    progress: bool = True,
) -> SampleResult:
    """Run the (guided) DDIM sampler: :func:`~matdesign.diffusion.sampling.ddim_loop` with the callbacks
    :class:`FEMGuidance` and, in the "project" mode, :class:`MaterialProjection`.

    unet: callable (x (B,3,*grid), t (B,)) -> v; scheduler: a diffusers ``DDIMScheduler``;
    normalization: ``matdesign.materials.Normalization`` of the model; objective: an
    :class:`Objective` (None only for unguided sampling); shape: (B, 3, *grid);
    solver: a ``fem.Homogenizer`` reused across steps (warm start; K and stiffness) or a callable
    (E, ν) -> K (see :class:`EffectiveProperties`), used in its own precision; default: one
    ``Homogenizer`` in ``config.fem_dtype`` for the whole run; materials: a ``MaterialTable``
    (needed for mode="project"); step_rule: the guidance step (default :func:`default_step_rule`).
    """
    config = config or GuidanceConfig()
    guided = config.mode != "unguided"
    if guided and objective is None:
        raise InputError("guided sampling needs an objective")
    if config.mode == "project" and materials is None:
        raise InputError("the project variant needs a material table")
    dim = len(shape) - 2
    device = torch.device(device)
    fallback = None
    if guided and solver is None:
        dtype, tol = FEM_DTYPES[config.fem_dtype]
        solver = Homogenizer(dim, shape[-1], device=device, dtype=dtype, tol=tol)
        if dtype != torch.float64:
            fallback = Homogenizer(dim, shape[-1], device=device)
    scale = torch.tensor(config.grad_scale, dtype=torch.float32, device=device).view(1, 3, *([1] * dim))
    alphas = scheduler.alphas_cumprod.to(device=device, dtype=torch.float32)
    x = torch.randn(shape, generator=generator, dtype=torch.float32).to(device)
    guidance = FEMGuidance(unet, alphas, normalization, objective, config, steps=int(config.steps), solver=solver,
                           fallback=fallback, scale=scale, step_rule=step_rule or default_step_rule(config))
    callbacks = [guidance] + ([MaterialProjection(alphas, materials, normalization)] if config.mode == "project" else [])
    # tfg: ε from the clipped x̂₀, so that DDIM with η = 1 is the release's DDPM posterior step exactly
    x = ddim_loop(guidance.denoise, x, scheduler, steps=int(config.steps), eta=config.eta, generator=generator,
                  callbacks=callbacks, step_kwargs={"use_clipped_model_output": True} if guidance.tfg else None,
                  progress=progress, desc=f"sampling ({config.mode}, {config.guidance})")
    return SampleResult(x0=x.detach().clamp(-1.0, 1.0), objective_history=guidance.history,
                        unet_seconds=guidance.unet_seconds, fem_seconds=guidance.fem_seconds,
                        guided_steps=len(guidance.history))
