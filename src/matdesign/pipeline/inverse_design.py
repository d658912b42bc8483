"""The end-to-end design pipeline behind ``matdesign design`` and :func:`matdesign.design`.

target K* (or G*, E*, ν*) → guided sampling with a trained model → backprojection to two real
materials → verification on fresh random arrangements → design closure (or volume-fraction
refinement) → robust ranking → the paper-cell value of the shown designs."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from matdesign.errors import InputError
from matdesign.materials import MaterialTable
from matdesign.pipeline.candidates import add_cell_values, arrangement_seed, search_seed, verified_candidates
from matdesign.pipeline.checks import check_target, choose_target, reachable_range, resolve_table
from matdesign.pipeline.closure import SEARCHES, close, closure_queue
from matdesign.pipeline.models import load_model, shipped_model_path
from matdesign.pipeline.ranking import check_ranking, rank_candidates, shown_candidates
from matdesign.pipeline.refine import REFINABLE, refine_volume_fraction
from matdesign.pipeline.results import DesignResult
from matdesign.pipeline.sampling import DEFAULT_STEP_CLIP, guidance_config, guided_fields, resolve_step_clip, target_objective
from matdesign.validate import check_device, check_dim, check_integers
from matdesign.verification import PROPERTIES, check_property
from matdesign.verification.definition import DEFAULT_DEFINITION, get_definition


DEFAULT_SAMPLES = {2: 16, 3: 4}

DEFAULT_STEPS = {2: 100, 3: 50}
"""Guided samples and DDIM steps of ``design`` by dimension (3D: sized for ≤ 10 minutes on 2 CPU cores)."""

DEFAULT_TIME_LIMIT = {2: 110.0, 3: 480.0}
"""Default wall-time budget [s] of ``design`` per dimension: guidance stops after :data:`GUIDANCE_SHARE`
of it, closure starts no new candidate and no new refinement step after it, and the paper-cell values
are computed only while it lasts (3D: leaves two minutes for the candidate in progress)."""

GUIDANCE_SHARE = 0.5
"""Share of the time budget that guided sampling may use; the remaining DDIM steps run unguided (UNet
only), so that closure keeps time where the guidance FEM is slow (3D rubbery fields: 6–15 s per step)."""

GRID = {2: 64, 3: 32}
"""The design cell's voxels per axis without a model (physics search): the shipped models' grids."""


def design(
    target: float | None = None,
    *,
    property: str = "K",  # noqa: A002 - the public name of the option
    target_K: float | None = None,
    dim: int = 2,
    samples: int | None = None,
    steps: int | None = None,
    materials: str | Path | MaterialTable | None = None,
    density_weight: float = 0.0,
    objective: str | None = None,
    refine: bool = True,
    tolerance: float = 0.01,
    rank: str = "robust",
    verify_n: int = 10,
    model: str | Path | None = None,
    device: str = "cpu",
    seed: int = 0,
    grad_scale: tuple[float, float, float] | None = None,
    step_clip: float = DEFAULT_STEP_CLIP,
    definition: str = DEFAULT_DEFINITION,
    closure: bool = True,
    search: str = "both",
    top: int = 5,
    time_limit: float | None = None,
    progress: bool = True,
) -> DesignResult:
    """Designs whose verified ``property`` matches ``target``: "K" bulk modulus (default), "G" shear
    modulus, "E" Young's modulus [GPa] or "nu" Poisson ratio (isotropic estimates from the effective
    stiffness; 2D: plane stress). Give the target once: ``design(120)`` or ``design(target_K=120)``
    for K* = 120 GPa, ``design(80, property="G")`` for G* = 80 GPa.

    samples, steps: guided samples and DDIM steps (None: :data:`DEFAULT_SAMPLES`, :data:`DEFAULT_STEPS`);
    objective: "absolute" ((X − X*)², the paper's J₁ for K: measured better, docs/results.md) or
    "relative" (X_ref²·(X/X* − 1)², equal to J₁ at X* = 168.5 GPa; for ν X_ref²·(ν − ν*)²);
    default None: "absolute" for the moduli, "relative" for ν (the relative ν loss is 168.5² ≈ 2.8·10⁴
    times the absolute one, which puts ν on the moduli's scale; docs/objectives.md); density_weight: λ of
    the paper's J₂; refine: tune each design's volume fraction to the target (beyond the paper; K, G, E
    only: for ν it is skipped with a warning and ``settings["refine_note"]``); rank: "robust"
    (probability that an arrangement is within ``tolerance`` of the target) or "error"; tolerance and
    errors are relative to the target for the moduli and absolute for ν; verify_n: fresh arrangements
    per verification; materials: a CSV path or MaterialTable restricting the designs (default: the
    built-in table; also the table the sampler's "project" mode uses); model: a model folder or
    .safetensors file (default: the shipped model of ``dim``); step_clip: the guidance trust region C
    (each sample's guidance step RMS ≤ C·√(1−ᾱ_t); beyond the paper; default
    :data:`~matdesign.pipeline.sampling.DEFAULT_STEP_CLIP`; inf → the paper's unclipped step); grad_scale:
    the guidance's per-channel scales (E, ν, ρ; default the paper's); definition: the property that
    verification, refinement, tolerance and ranking use — "composite" (default: the bulk composite,
    periodic RVEs), "cell" (the paper's walled cell with affine boundary conditions) or "paper" (that
    cell under the official release's uniaxial load, K only); unless "cell", every design also carries
    its paper-cell value (``Candidate.cell``); closure (K with
    refinement only): after refining each sample's own pair, try other material pairs near the
    sample's phases ("model"), pairs from the whole table ("physics") or both (``search``, default
    "both": the two sources take turns), screened by a mean-field estimate, refined by FEM and verified on fresh
    arrangements (:mod:`matdesign.pipeline.closure`), until ``top`` distinct valid designs are within
    ``tolerance`` or ``time_limit`` seconds (default :data:`DEFAULT_TIME_LIMIT`) have passed; without
    closure every sample's own pair is refined (the behaviour before 2026-12-07). device: "cpu" or
    "cuda[:N]"; seed: same seed, same result; progress: progress bars on stderr.
    """
    target = choose_target(target, target_K, property)
    prop = check_property(property)
    definition = get_definition(definition).name
    objective = objective or ("relative" if prop == "nu" else "absolute")
    dim = check_dim(dim)
    samples = DEFAULT_SAMPLES[dim] if samples is None else samples
    steps = DEFAULT_STEPS[dim] if steps is None else steps
    check_integers(samples=samples, steps=steps, verify_n=verify_n, top=top)
    if objective not in ("relative", "absolute"):
        raise InputError(f"objective={objective!r}: must be 'relative' or 'absolute'")
    check_ranking(tolerance, rank)
    if search not in SEARCHES:
        raise InputError(f"search={search!r}: must be one of {', '.join(SEARCHES)}")
    if time_limit is not None and not (float(time_limit) > 0):
        raise InputError(f"time_limit={time_limit!r}: must be a positive number of seconds")
    check_device(device)
    table = resolve_table(materials)
    target = check_target(target, table, dim, prop)
    step_clip = resolve_step_clip(step_clip)  # validated before the model loads
    refine_note = ""
    if refine and prop not in REFINABLE:
        refine, refine_note = False, (f"refinement skipped: the {PROPERTIES[prop][1]} is not monotone in the "
                                      "volume fraction")
        warnings.warn(refine_note, stacklevel=2)
    seconds: dict[str, float] = {}
    start = tic = time.perf_counter()
    budget = DEFAULT_TIME_LIMIT[dim] if time_limit is None else float(time_limit)
    deadline = start + budget
    closure = closure and refine and prop == "K"
    candidates, fields, config, size, normalization = [], np.zeros((0, 3)), None, GRID[dim], None
    if search in ("model", "both") or not closure:
        net = load_model(model, dim, device)
        size, normalization = net.grid[0], net.normalization
        config = guidance_config(steps=steps, step_clip=step_clip, grad_scale=grad_scale,
                                 guidance_seconds=GUIDANCE_SHARE * budget)
        fields, res = guided_fields(net, target_objective(prop, target, objective=objective,
                                                          density_weight=density_weight),
                                    config, samples=samples, seed=seed, device=device, progress=progress,
                                    materials=table)
        seconds["sampling"] = time.perf_counter() - tic
        seconds["sampling_fem"] = res.fem_seconds

        tic = time.perf_counter()
        candidates = verified_candidates(fields, table, normalization, size=size, n=verify_n, seed=seed, prop=prop,
                                         definition=definition, progress=progress)
        seconds["verify"] = time.perf_counter() - tic

    tic = time.perf_counter()
    if closure:
        queue = closure_queue(candidates, table, target, dim, search, normalization)
        candidates = close(candidates, queue, table, target, dim=dim, size=size, verify_n=verify_n, seed=seed,
                           definition=definition, tolerance=tolerance, top=top, deadline=deadline,
                           progress=progress)
        seconds["closure"] = time.perf_counter() - tic
    elif refine:
        for c in tqdm(candidates, desc="refine", disable=not progress, leave=False):
            if c.verification.ok:
                c.refinement = refine_volume_fraction(c.design, target, size=size, dim=dim, n=verify_n,
                                                      seed=search_seed(seed, c.sample), prop=prop,
                                                      definition=definition,
                                                      fresh_seed=arrangement_seed(seed, c.sample, "refined"))
        seconds["refine"] = time.perf_counter() - tic
    result = rank_candidates(DesignResult(target, dim, size, candidates, fields, seconds=seconds, prop=prop, settings={
        f"target_{prop}": target, "property": prop, "dim": dim, "samples": int(samples), "steps": int(steps),
        "objective": objective, "density_weight": density_weight, "refine": refine,
        **({"refine_note": refine_note} if refine_note else {}), "tolerance": tolerance, "rank": rank,
        "verify_n": verify_n, "definition": definition, "closure": closure, "search": search, "top": int(top),
        "time_limit": deadline - start, "model": str(model or shipped_model_path(dim)), "device": device,
        "seed": int(seed), "grad_scale": list(config.grad_scale) if config else None,
        "step_clip": config.step_clip if config else None, "materials": str(materials or "builtin"),
        "guided_steps": res.guided_steps if config else None,
        "material_sha256": table.sha256(), "reachable": list(reachable_range(table, dim, prop))}), tolerance, rank)
    if definition != "cell":  # the paper-cell value of every shown candidate (it does not enter the ranking)
        tic = time.perf_counter()
        add_cell_values(shown_candidates(result, top), size=size, dim=dim, n=verify_n, seed=seed, prop=prop,
                        deadline=deadline, needed=result.found, progress=progress)
        seconds["cell"] = time.perf_counter() - tic
    return result
