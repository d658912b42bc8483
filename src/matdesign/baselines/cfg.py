"""Classifier-free-guidance baseline (paper sec. 6.3 "Comparison to alternative methods", Table 2b,
supp. mat. E "Conditionally trained diffusion models").

A diffusion model trained with the bulk modulus K as conditional input (replaced by a learned null
embedding with probability p_uncond = 0.1) is sampled at K = K* with classifier-free guidance in
Ho & Salimans' (2022) scale formulation, as the paper states, applied to the v-prediction:

    v = (1 + w)·v(x_t, t, K*) − w·v(x_t, t, ∅),   w = 0.5 (the paper's best, with p_uncond = 0.1).

w = 0 is the plain conditional model, w = −1 the unconditional one. (Diffusers' ``guidance_scale`` s
is 1 + w.) Combining v instead of ε is the same guidance: at fixed x_t, v is affine in ε and the two
weights sum to one. No FEM gradient is used during sampling. Each sample is then backprojected to real
materials, its K_s computed, and verified on fresh random arrangements and ranked exactly like
``matdesign design`` (no volume-fraction refinement), in ``definition`` ("composite" by default, "cell"
or "paper": :mod:`matdesign.verification.definition`); other than "cell" designs also carry their paper-cell K
(``Candidate.cell``).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from matdesign.diffusion import DiffusionModel, sample
from matdesign.errors import InputError
from matdesign.materials import MaterialTable
from matdesign.pipeline.candidates import add_cell_values, verified_candidates
from matdesign.pipeline.checks import check_target, resolve_table
from matdesign.pipeline.models import shipped_model_path
from matdesign.pipeline.ranking import check_ranking, rank_candidates
from matdesign.pipeline.results import DesignResult
from matdesign.validate import check_device, check_integers
from matdesign.verification.definition import DEFAULT_DEFINITION, get_definition

GUIDANCE_SCALE = 0.5
"""The paper's guidance weight w (Ho & Salimans' formulation) for p_uncond = 0.1."""


def load_conditional_model(model: str | Path | None = None, device: str = "cpu") -> DiffusionModel:
    """Load a K-conditional model (folder or .safetensors; None → the shipped one); InputError otherwise."""
    path = shipped_model_path("2d-cond") if model is None else Path(model)
    if model is None and not (path / "model.safetensors").exists():
        raise InputError(f"no shipped K-conditional model in this installation ({path}); pass --model")
    net = DiffusionModel.load(path, device).eval()
    if not net.conditional or not net.info.get("condition"):
        raise InputError(f"model {path} is not K-conditional (config model.conditional and a 'condition' "
                         "range are needed); train one with model.conditional: true")
    return net


def condition_range(net: DiffusionModel) -> tuple[float, float]:
    """[K_min, K_max] [GPa]: the training-set K range the conditional model maps to [−1, 1]."""
    cond = net.info["condition"]
    return float(cond["K_min"]), float(cond["K_max"])


def _check(samples, steps, verify_n, guidance_scale, tolerance, rank, device):
    check_integers(samples=samples, steps=steps, verify_n=verify_n)
    if not (isinstance(guidance_scale, (int, float)) and math.isfinite(guidance_scale) and guidance_scale >= -1):
        raise InputError(f"guidance_scale={guidance_scale!r}: must be a number >= -1 "
                         "(w: -1 unconditional, 0 conditional, paper 0.5)")
    check_ranking(tolerance, rank)
    check_device(device)


def classifier_free_guidance(
    target_K: float,
    *,
    model: str | Path | None = None,
    samples: int = 200,
    steps: int = 100,
    guidance_scale: float = GUIDANCE_SCALE,
    seed: int = 0,
    materials: str | Path | MaterialTable | None = None,
    verify_n: int = 10,
    tolerance: float = 0.01,
    rank: str = "robust",
    device: str = "cpu",
    definition: str = DEFAULT_DEFINITION,
    progress: bool = True,
) -> DesignResult:
    """CFG designs for ``target_K`` [GPa]: ``samples`` DDIM samples (``steps`` steps, η from the model
    config) of the conditional ``model`` at K*, each backprojected to ``materials`` (default: the
    built-in table), verified on ``verify_n`` fresh arrangements and ranked like ``matdesign design``.
    ``definition``: the verified K, "composite" (default; each design also carries its paper-cell K,
    ``Candidate.cell``, on ``verify_n`` arrangements), "cell" or "paper" (also with the cell's K).

    The paper: 200 samples, N = 100, w = 0.5, p_uncond = 0.1. K* must lie in the model's trained
    K range (:func:`condition_range`). Same ``seed``, same result (on the same device).
    """
    _check(samples, steps, verify_n, guidance_scale, tolerance, rank, device)
    definition = get_definition(definition).name
    table = resolve_table(materials)
    net = load_conditional_model(model, device)
    dim, size = net.dim, net.grid[0]
    target = check_target(target_K, table, dim)
    lo, hi = condition_range(net)
    if not lo <= target <= hi:
        raise InputError(f"target K={target:g} GPa is outside the K range the conditional model was trained on "
                         f"({lo:.3g}–{hi:.3g} GPa); classifier-free guidance cannot condition outside it")
    seconds: dict[str, float] = {}
    tic = time.perf_counter()
    x = sample(net, samples, steps=steps, generator=torch.Generator().manual_seed(int(seed)), K=target,
               guidance_scale=float(guidance_scale), progress=progress)
    fields = net.normalization.denormalize(x.double().cpu(), axis=1).numpy()
    seconds["sampling"] = time.perf_counter() - tic

    tic = time.perf_counter()
    candidates = verified_candidates(fields, table, net.normalization, size=size, n=verify_n, seed=seed,
                                     definition=definition, progress=progress)
    seconds["verify"] = time.perf_counter() - tic
    if definition != "cell":  # with the seeds matdesign design gives the cell value
        tic = time.perf_counter()
        add_cell_values(candidates, size=size, dim=dim, n=verify_n, seed=seed, progress=progress)
        seconds["cell"] = time.perf_counter() - tic

    result = DesignResult(target, dim, size, candidates, fields, seconds=seconds, settings=dict(
        method="cfg", target_K=target, dim=dim, samples=int(samples), steps=int(steps),
        guidance_scale=float(guidance_scale), condition_K=[lo, hi], model=str(model or shipped_model_path("2d-cond")),
        model_step=net.step, refine=False, tolerance=tolerance, rank=rank, verify_n=int(verify_n),
        definition=definition, device=device,
        seed=int(seed), materials=str(materials or "builtin"), material_sha256=table.sha256()))
    return rank_candidates(result, tolerance, rank)
