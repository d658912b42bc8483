"""DDIM sampling as small reusable pieces: x̂₀ from v, the one DDIM loop with step callbacks, and
unguided (or classifier-free-guided) sampling of a :class:`DiffusionModel`.

Every sampler of the package runs :func:`ddim_loop`: unguided and classifier-free-guided sampling
here, FEM-guided sampling in :mod:`matdesign.guidance.sampler`, which passes a ``denoise`` that also
computes the loss gradient and :class:`StepCallback` s for the guidance step, the projection onto real
materials and the recording of the objective (as diffusers' pipelines and k-diffusion's samplers do).
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

import torch
from tqdm.auto import tqdm

from matdesign.diffusion.model import DiffusionModel
from matdesign.diffusion.scheduler import make_sampling_scheduler
from matdesign.errors import InputError

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(x_t (B, C, *grid), t (B,) long) -> v (B, C, *grid)."""


def x0_from_v(x_t: torch.Tensor, v: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """x̂₀ = √ᾱ_t·x_t − √(1−ᾱ_t)·v (v-prediction, Salimans & Ho 2022); ``alpha_bar`` scalar or (B,)."""
    ab = torch.as_tensor(alpha_bar, dtype=x_t.dtype, device=x_t.device)
    ab = ab.reshape(-1, *([1] * (x_t.ndim - 1))) if ab.ndim else ab
    return ab.sqrt() * x_t - (1.0 - ab).sqrt() * v


def predict_x0(model: DiffusionModel, x_t: torch.Tensor, t, *, cond=None, clip: bool = True) -> torch.Tensor:
    """x̂₀(x_t, t) through the model's v-prediction, differentiable w.r.t. ``x_t``.

    t: int or (B,) time steps; cond: normalized K per sample (conditional models); clip: clamp to
    [−range, range] as the scheduler does (``scheduler.clip_sample``/``clip_sample_range``).
    """
    x0 = x0_from_v(x_t, model(x_t, t, cond), model.alphas_cumprod(t))
    sc = model.config.scheduler
    return x0.clamp(-sc.clip_sample_range, sc.clip_sample_range) if clip and sc.clip_sample else x0


class StepCallback(Protocol):
    """Hooks of :func:`ddim_loop`; a callback defines any of these methods (the loop calls the ones it finds).

    ``on_step_begin(i, t)``: before the model is called at step i (timestep t);
    ``on_model_output(i, t, x_t, v) -> v``: may replace the model output before the DDIM update;
    ``on_step_end(i, t, x_t, v, out) -> x_{i−1} | None``: after the update (``out.prev_sample``,
    ``out.pred_original_sample``); a returned tensor replaces x_{i−1};
    ``postfix() -> dict``: what the progress bar shows after each step.
    """


class _EndCallback:
    """A plain function ``f(i, t, x_t, v, out)`` as an ``on_step_end`` callback."""

    def __init__(self, fn):
        self.on_step_end = fn


def ddim_loop(denoise: Denoiser, x: torch.Tensor, scheduler, *, steps: int, eta: float = 1.0,
              generator: torch.Generator | None = None, callback=None, callbacks: Sequence[StepCallback] = (),
              step_kwargs: dict | None = None, progress: bool = False, desc: str = "sampling") -> torch.Tensor:
    """Run DDIM from x_T = ``x`` over ``steps`` time steps of ``scheduler`` (a diffusers DDIMScheduler).

    denoise(x_t (B, C, *grid), t (B,) long) -> v; callbacks: :class:`StepCallback` s, called in order;
    callback: a function (i, t, x_t, v, out) -> x_{i−1} | None, run as the last ``on_step_end``;
    step_kwargs: extra arguments of ``scheduler.step`` (e.g. ``use_clipped_model_output``).
    Returns the final sample (B, C, *grid), not clipped.
    """
    if int(steps) < 1:
        raise InputError(f"number of sampling steps must be ≥ 1, got {steps}")
    hooks = list(callbacks) + ([_EndCallback(callback)] if callback is not None else [])
    begin, model_output, end, postfix = ([getattr(h, name) for h in hooks if hasattr(h, name)]
                                         for name in ("on_step_begin", "on_model_output", "on_step_end", "postfix"))
    scheduler.set_timesteps(int(steps), device=x.device)
    bar = tqdm(scheduler.timesteps, desc=desc, disable=not progress, leave=False)
    for i, t in enumerate(bar):
        for f in begin:
            f(i, t)
        v = denoise(x, t.expand(x.shape[0]))
        for f in model_output:
            v = f(i, t, x, v)
        out = scheduler.step(v, t, x, eta=eta, generator=generator, **(step_kwargs or {}))
        x_prev = out.prev_sample
        for f in end:
            replaced = f(i, t, x, v, out)
            if replaced is not None:
                x_prev = replaced
                out.prev_sample = replaced
        x = x_prev
        for f in postfix:
            bar.set_postfix(f(), refresh=False)
    return x


def cfg_denoiser(model: DiffusionModel, K=None, guidance_scale: float = 0.0) -> Denoiser:
    """Denoiser for ``model``: unconditional if ``K`` is None, else classifier-free guided towards K [GPa].

    v = (1 + w)·v(x, t, K) − w·v(x, t, ∅) with w = ``guidance_scale`` (Ho & Salimans 2022); w = 0 is
    the plain conditional model. K: scalar or (B,).
    """
    if K is None:
        return lambda x, t: model(x, t)
    cond = model.normalize_K(K).to(model.device)
    w = float(guidance_scale)

    def denoise(x, t):
        c = cond.expand(x.shape[0])
        if w == 0.0:
            return model(x, t, c)
        v_c, v_u = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([c, torch.full_like(c, float("nan"))])).chunk(2)
        return (1.0 + w) * v_c - w * v_u

    return denoise


@torch.no_grad()
def sample(model: DiffusionModel, n: int, *, steps: int = 100, generator: torch.Generator | None = None,
           device: str | torch.device | None = None, grid: tuple[int, ...] | None = None, K=None,
           guidance_scale: float = 0.0, callback=None, progress: bool = False) -> torch.Tensor:
    """``n`` samples (n, 3, *grid) in normalized space, clipped to [−1, 1] (unguided DDIM, η from the config).

    generator: torch Generator for x_T and the DDIM noise (default: freshly seeded from the OS);
    device: where the UNet runs (default: the model's); grid: spatial shape (default: training grid);
    K, guidance_scale: classifier-free guidance for conditional models (see :func:`cfg_denoiser`).
    """
    if int(n) < 1:
        raise InputError(f"number of samples must be ≥ 1, got {n}")
    if device is not None:
        model.to(device)
    grid = tuple(grid or model.grid)
    if len(grid) != model.dim:
        raise InputError(f"grid {grid} does not match the {model.dim}D model")
    if generator is None:
        generator = torch.Generator()
        generator.seed()
    shape = (int(n), model.config.model.in_channels, *grid)
    x = torch.randn(shape, generator=generator, device=generator.device).to(model.device)
    scheduler = make_sampling_scheduler(model.config)
    x = ddim_loop(cfg_denoiser(model, K, guidance_scale), x, scheduler, steps=steps,
                  eta=model.config.scheduler.eta, generator=generator, callback=callback, progress=progress)
    r = model.config.scheduler.clip_sample_range
    return x.clamp(-r, r)
