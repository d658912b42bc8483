"""Guided sampling of a loaded model for one target: the objective of a property, the sampler settings
of a run (our DPS step with its trust region, the unclipped step or the official release's TFG) and
the fields in physical units."""

from __future__ import annotations

import math

import torch

from matdesign.errors import InputError
from matdesign.guidance import (
    SAMPLERS,
    DensityPenalty,
    GuidanceConfig,
    TargetBulkModulus,
    TargetPoissonRatio,
    TargetShearModulus,
    TargetYoungsModulus,
    guided_sample,
    sampler_config,
)
from matdesign.guidance.objectives import GUIDE_DEFINITIONS
from matdesign.guidance.sampler import TFG_GRAD_MAX_MAG
from matdesign.materials import MaterialTable


OBJECTIVES = {"K": TargetBulkModulus, "G": TargetShearModulus, "E": TargetYoungsModulus, "nu": TargetPoissonRatio}
"""The guidance objective of each target property (:data:`matdesign.verification.PROPERTIES`)."""

DEFAULT_STEP_CLIP = 0.01
"""Default guidance trust region C of ``design`` and ``evaluate`` (each sample's guidance step RMS
≤ C·√(1−ᾱ_t), :class:`GuidanceConfig`); measured in 2D and 3D, docs/results.md, "Guidance step clip"."""


def resolve_step_clip(step_clip: float) -> float | None:
    """The guidance step clip C of a run as :class:`~matdesign.guidance.GuidanceConfig` takes it: a positive
    number stays, inf → None (no clip: the unclipped DPS step). None is refused: in a run's options it
    would be ambiguous (the package's default C, or no clip?)."""
    if step_clip is None:
        raise InputError(f"step_clip=None: give the trust region C (default {DEFAULT_STEP_CLIP}) or inf for the "
                         "unclipped step")
    value = float(step_clip)
    if not value > 0:  # also catches NaN
        raise InputError(f"step_clip={step_clip!r}: must be a positive number (inf: no clip)")
    return None if math.isinf(value) else value


def resolve_sampler(sampler: str, step_clip: float | None, grad_max_mag: float = TFG_GRAD_MAX_MAG):
    """``(sampler, step_clip, grad_max_mag)`` of a run as recorded: "dps" with ``step_clip`` resolved
    (:func:`resolve_step_clip`; not given (None) → :data:`DEFAULT_STEP_CLIP`; inf → "dps-unclipped"),
    "dps-unclipped" (``step_clip`` not given or inf), "tfg" (no step clip; ``grad_max_mag`` > 0).
    ``grad_max_mag`` is None unless "tfg"."""
    if sampler not in SAMPLERS:
        raise InputError(f"sampler={sampler!r}: must be one of {', '.join(SAMPLERS)}")
    if sampler == "dps":
        step_clip = resolve_step_clip(DEFAULT_STEP_CLIP if step_clip is None else step_clip)
        return ("dps" if step_clip is not None else "dps-unclipped"), step_clip, None
    if step_clip is not None and not (sampler == "dps-unclipped" and math.isinf(float(step_clip))):
        raise InputError(f"step_clip={step_clip!r}: only the dps sampler has a step clip (sampler {sampler!r})")
    if sampler == "dps-unclipped":
        return sampler, None, None
    if not float(grad_max_mag) > 0:
        raise InputError(f"grad_max_mag={grad_max_mag!r}: must be a positive number (inf: no clip)")
    return sampler, None, float(grad_max_mag)


def target_objective(prop: str, target: float, *, objective: str = "absolute", density_weight: float = 0.0,
                     guide: str = "cell"):
    """The guidance objective J of a run: (X − X*)² ("absolute") or its relative form for ``prop``
    (:data:`OBJECTIVES`), plus λ·mean density when ``density_weight`` λ > 0; ``guide`` "paper" measures the
    official release's K instead of the cell's (K only)."""
    if guide not in GUIDE_DEFINITIONS:
        raise InputError(f"guide={guide!r}: must be one of {', '.join(GUIDE_DEFINITIONS)}")
    if guide != "cell" and prop != "K":
        raise InputError(f"guide={guide!r} measures a bulk modulus; property {prop} is guided on the cell")
    J = (GUIDE_DEFINITIONS[guide] if guide != "cell" else OBJECTIVES[prop])(target, relative=objective == "relative")
    return J + DensityPenalty(density_weight) if density_weight else J


def sample_with_model(net, objective, *, samples: int, config: GuidanceConfig, seed: int = 0,
                      device: str = "cpu", progress: bool = True, materials: MaterialTable | None = None,
                      step_rule=None):
    """Guided samples (normalized, (samples, 3, *grid)) of a loaded model; the sampler's one warm-started
    batched FEM serves K and the stiffness. ``materials``: the run's table, onto which the "project" mode
    projects (default: the built-in one); ``step_rule``: the guidance step
    (:data:`~matdesign.guidance.sampler.GuidanceStepRule`; default: the config's)."""
    from matdesign.diffusion import make_sampling_scheduler

    if config.mode == "project" and materials is None:
        materials = MaterialTable.builtin()
    return guided_sample(net, make_sampling_scheduler(net.config), net.normalization, objective,
                         shape=(int(samples), 3, *net.grid), config=config,
                         generator=torch.Generator().manual_seed(int(seed)), device=device,
                         progress=progress, materials=materials, step_rule=step_rule)


def guided_fields(net, objective, config: GuidanceConfig, *, samples: int, seed: int = 0, device: str = "cpu",
                  progress: bool = True, materials: MaterialTable | None = None, step_rule=None):
    """Guided samples of a loaded model in physical units: (fields (samples, 3, *grid) float64 numpy, the
    :class:`~matdesign.guidance.SampleResult`). ``objective``: :func:`target_objective`; ``config``: the
    sampler's settings (:func:`guidance_config`)."""
    res = sample_with_model(net, objective, samples=samples, config=config, seed=seed, device=device,
                            progress=progress, materials=materials, step_rule=step_rule)
    return net.normalization.denormalize(res.x0.double().cpu(), axis=1).numpy(), res


def guidance_config(*, steps: int, sampler: str = "dps", step_clip: float | None = DEFAULT_STEP_CLIP,
                    grad_max_mag: float | None = None, mode: str = "guided",
                    grad_scale: tuple[float, float, float] | None = None,
                    guidance_seconds: float | None = None) -> GuidanceConfig:
    """The :class:`~matdesign.guidance.GuidanceConfig` of a run's resolved sampler settings
    (:func:`resolve_sampler`; ``step_clip`` None: off)."""
    extra = {"grad_max_mag": grad_max_mag} if sampler == "tfg" else {}
    if grad_scale:
        extra["grad_scale"] = tuple(grad_scale)
    return sampler_config(sampler, step_clip, steps=steps, mode=mode, guidance_seconds=guidance_seconds, **extra)
