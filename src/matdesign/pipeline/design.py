"""The end-to-end design pipeline behind ``matdesign design``.

target K* (or G*, E*, ν*) → guided sampling with a trained model → backprojection to two real
materials → verification on fresh random arrangements → (optional) volume-fraction refinement →
robust ranking.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from importlib import resources
from itertools import zip_longest
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from tqdm.auto import tqdm

from matdesign.backproject import backproject_batch
from matdesign.errors import InputError
from matdesign.verification import PROPERTIES, Verification, check_property, density, sample_property, verify
from matdesign.verification.definition import DEFAULT_DEFINITION, get_definition
from matdesign.fem import bulk_from_young
from matdesign.fem.moduli import young_poisson
from matdesign.guidance import (
    DensityPenalty,
    GuidanceConfig,
    TargetBulkModulus,
    TargetPoissonRatio,
    TargetShearModulus,
    TargetYoungsModulus,
    guided_sample,
)
from matdesign.materials import MaterialTable
from matdesign.microstructure import Design
from matdesign.pipeline.closure import PairCandidate, neighbour_pairs, physics_pairs, window
from matdesign.pipeline.refine import REFINABLE, Refinement, refine_volume_fraction
from matdesign.pipeline.validity import validity_flags

OBJECTIVES = {"K": TargetBulkModulus, "G": TargetShearModulus, "E": TargetYoungsModulus, "nu": TargetPoissonRatio}
"""The guidance objective of each target property (:data:`matdesign.evaluate.PROPERTIES`)."""

DEFAULT_STEP_CLIP = 0.01
"""Default guidance trust region C of ``design`` and ``evaluate`` (each sample's guidance step RMS
≤ C·√(1−ᾱ_t), :class:`GuidanceConfig`); measured in 2D and 3D, docs/results.md, "Guidance step clip"."""

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
WINDOW = {2: 0.3, 3: 0.6}
"""Relative half-width of closure's vf search around the estimate: the 3D composite at 32 voxels per cell
is up to ~25 % stiffer than the estimate at high contrast (docs/physics.md), 2D within ~3 %."""
SEARCHES = ("both", "model", "physics")
"""Where closure takes its material pairs from: the samples' neighbourhoods, the whole table, or both."""
GRID = {2: 64, 3: 32}
"""The design cell's voxels per axis without a model (physics search): the shipped models' grids."""

POISSON_RANGE = (-1.0, 0.5)
"""Open interval of an isotropic Poisson ratio (K, G > 0; 3D) that a ν target must lie in."""


def default_model_path(dim: int) -> Path:
    """The model shipped inside the package for ``dim`` (2 or 3)."""
    return Path(str(resources.files("matdesign") / "models" / f"{dim}d"))


def load_model(model: str | Path | None, dim: int, device: str):
    """Load ``model`` (a folder or .safetensors path; None → the shipped default for ``dim``)."""
    from matdesign.diffusion import DiffusionModel

    path = default_model_path(dim) if model is None else Path(model)
    if model is None and not (path / "model.safetensors").exists():
        raise InputError(f"no shipped {dim}D model in this installation ({path}); pass --model")
    return DiffusionModel.load(path, device, dim=dim).eval()


def sample_with_model(net, objective, *, samples: int, config: GuidanceConfig, seed: int = 0,
                      device: str = "cpu", progress: bool = True, materials: MaterialTable | None = None):
    """Guided samples (normalized, (samples, 3, *grid)) of a loaded model; the sampler's one warm-started
    batched FEM serves K and the stiffness. ``materials``: the table the "project" mode projects onto
    (default: the built-in one)."""
    from matdesign.diffusion import make_sampling_scheduler

    if config.mode == "project" and materials is None:
        materials = MaterialTable.builtin()
    return guided_sample(net, make_sampling_scheduler(net.config), net.normalization, objective,
                         shape=(int(samples), 3, *net.grid), config=config,
                         generator=torch.Generator().manual_seed(int(seed)), device=device,
                         progress=progress, materials=materials)


def guided_fields(net, target: float, *, samples: int, steps: int, seed: int = 0, objective: str = "absolute",
                  density_weight: float = 0.0, grad_scale: tuple[float, float, float] | None = None,
                  step_clip: float | None = DEFAULT_STEP_CLIP, device: str = "cpu", progress: bool = True,
                  mode: str = "guided", prop: str = "K", guidance_seconds: float | None = None):
    """Guided samples for ``prop`` = ``target`` (default K* [GPa]; :data:`OBJECTIVES`) in physical units:
    (fields (samples, 3, *grid) float64 numpy, the guided-sampling result, the GuidanceConfig used).
    ``mode``: guided, unguided or project (the paper's Table 3 variants,
    :class:`~matdesign.guidance.GuidanceConfig`); ``step_clip``: the sampler's trust region C, already
    resolved (:func:`resolve_step_clip`; None: off); ``guidance_seconds``: wall time after which the
    remaining steps run unguided (None: unbounded)."""
    J = OBJECTIVES[prop](target, relative=objective == "relative")
    if density_weight:
        J = J + DensityPenalty(density_weight)
    config = GuidanceConfig(steps=steps, mode=mode, step_clip=step_clip, guidance_seconds=guidance_seconds,
                            **({"grad_scale": tuple(grad_scale)} if grad_scale else {}))
    res = sample_with_model(net, J, samples=samples, config=config, seed=seed, device=device, progress=progress)
    return net.normalization.denormalize(res.x0.double().cpu(), axis=1).numpy(), res, config


def resolve_step_clip(step_clip: float | None) -> float | None:
    """The guidance step clip C of a run: None → :data:`DEFAULT_STEP_CLIP`; inf → no clip (the paper's
    sampler); otherwise a positive number."""
    if step_clip is None:
        return DEFAULT_STEP_CLIP
    value = float(step_clip)
    if not value > 0:  # also catches NaN
        raise InputError(f"step_clip={step_clip!r}: must be a positive number (inf: no clip)")
    return None if math.isinf(value) else value


def resolve_table(materials: str | Path | MaterialTable | None) -> MaterialTable:
    """The material table of a run: a CSV path (validated), a MaterialTable, or None → the built-in table."""
    if isinstance(materials, (str, Path)):
        return MaterialTable.from_csv(materials)
    return materials if materials is not None else MaterialTable.builtin()


def reachable_range(table: MaterialTable, dim: int, prop: str = "K") -> tuple[float, float]:
    """[min, max] of ``prop`` over the two-phase composites of the table (GPa; ν dimensionless).

    K, G: the phases' extremes (the effective K and isotropic G lie between the Reuss and Voigt
    bounds, which lie between the phase moduli); E, increasing in K and G: [E(K_min, G_min),
    E(K_max, G_max)]; ν: the phases' extremes — a documented rule, not a bound (a pair's ν can fall
    slightly outside the pair's own range; docs/objectives.md).
    """
    E, nu = np.asarray(table.E, dtype=np.float64), np.asarray(table.nu, dtype=np.float64)
    if prop == "nu":
        return float(nu.min()), float(nu.max())
    K, G = bulk_from_young(E, nu, dim), E / (2.0 * (1.0 + nu))
    if prop == "E":
        return float(young_poisson(K.min(), G.min(), dim)[0]), float(young_poisson(K.max(), G.max(), dim)[0])
    x = K if prop == "K" else G
    return float(np.min(x)), float(np.max(x))


def choose_target(target: float | None, target_K: float | None, prop: str, *,
                  names: tuple[str, str] = ("target", "target_K")) -> float:
    """The one target given: ``target`` (of ``prop``) or ``target_K`` (a K target, only with ``prop`` K);
    ``names`` are how the caller spells the two options in its error messages."""
    name, name_K = names
    if (target is None) == (target_K is None):
        raise InputError(f"give the target once: {name_K} K* or {name} X* (with the property)")
    if target_K is not None and prop != "K":
        raise InputError(f"{name_K} is a bulk-modulus target; for property {prop} use {name}")
    return target if target is not None else target_K


def check_target(target: float, table: MaterialTable, dim: int, prop: str = "K") -> float:
    """Validate a target of ``prop`` (default K* [GPa]) before any compute is spent."""
    check_property(prop)
    symbol, _, unit = PROPERTIES[prop]
    try:
        value = float(target)
    except (TypeError, ValueError):
        raise InputError(f"target {symbol}={target!r}: not a number") from None
    if prop == "nu" and not (math.isfinite(value) and POISSON_RANGE[0] < value < POISSON_RANGE[1]):
        raise InputError(f"target ν={target}: must lie in ({POISSON_RANGE[0]:g}, {POISSON_RANGE[1]:g})")
    if prop != "nu" and (not math.isfinite(value) or value <= 0):
        raise InputError(f"target {symbol}={target}: must be a positive number of GPa")
    lo, hi = reachable_range(table, dim, prop)
    if not lo <= value <= hi:
        unit = f" {unit}" if unit else ""
        raise InputError(f"target {symbol}={value:g}{unit} is outside the range the material table can reach "
                         f"in {dim}D: {lo:.3g}–{hi:.3g}{unit}")
    return value


SEM_SHARE = 0.25
"""Closure verifies a chosen design on fresh arrangements until the standard error is below this share of
the tolerance (at most 4·verify_n arrangements), so that "found" rarely rests on noise."""


def within_tolerance(verification: Verification, target: float, tolerance: float, scale: float | None = None) -> bool:
    """The verified mean lies within ``tolerance``·scale of ``target`` by at least one standard error:
    |mean − X*| + sem ≤ tol·scale (``scale`` defaults to X*, a relative tolerance)."""
    half = tolerance * (target if scale is None else scale)
    sem = verification.sem if math.isfinite(verification.sem) else 0.0
    return verification.ok and abs(verification.mean - target) + sem <= half


def probability_within(verification: Verification, target: float, tolerance: float,
                       scale: float | None = None) -> float:
    """P(|X − X*| ≤ tol·scale) for one random arrangement, X ~ Normal(mean, spread) over arrangements;
    ``scale`` defaults to X* (a relative tolerance)."""
    mean, std = verification.mean, verification.std
    if not math.isfinite(mean):
        return 0.0
    half = tolerance * (target if scale is None else scale)
    lo, hi = target - half, target + half
    if not math.isfinite(std) or std <= 0:
        return float(lo <= mean <= hi)
    return float(stats.norm.cdf((hi - mean) / std) - stats.norm.cdf((lo - mean) / std))


@dataclass
class Candidate:
    """One candidate design: the raw design (a generated sample's backprojection, or a material pair
    proposed by closure: ``source`` "sample", "neighbour" or "physics"), its verification, the target
    property of the generated sample itself (``value_s``; K_s for K; nan without a sample), the
    refinement, ``cell``: the final design's property in the paper's cell definition (None when the
    run already uses it), and ``flags``: the validity rules the final design breaks or "duplicate"
    (:mod:`matdesign.pipeline.validity`; empty: a valid, distinct design)."""

    sample: int
    design: Design
    verification: Verification
    value_s: float
    refinement: Refinement | None = None
    p_within: float = 0.0
    cell: Verification | None = None
    source: str = "sample"
    flags: list[str] = field(default_factory=list)

    @property
    def final_design(self) -> Design:
        return self.refinement.design if self.refinement else self.design

    @property
    def final_verification(self) -> Verification:
        return self.refinement.verification if self.refinement else self.verification


@dataclass
class DesignResult:
    """Ranked candidates for one target of ``prop`` (default K), the fields they came from, settings, timings."""

    target: float
    dim: int
    size: int
    candidates: list[Candidate]
    fields: np.ndarray  # (samples, 3, *grid) physical units, indexed by Candidate.sample
    settings: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    prop: str = "K"

    @property
    def target_K(self) -> float:
        """The target bulk modulus K* [GPa] (a K design only)."""
        if self.prop != "K":
            raise AttributeError(f"this result targets {self.prop}, not K")
        return self.target

    @property
    def scale(self) -> float:
        """What errors and tolerances are fractions of: the target for a modulus, 1 for ν (absolute)."""
        return 1.0 if self.prop == "nu" else self.target

    def error(self, c: Candidate, refined: bool = True) -> float:
        """|X − X*| / :attr:`scale` of the candidate's verified mean (nan if the verification failed)."""
        v = c.final_verification if refined else c.verification
        return abs(v.mean - self.target) / self.scale if v.ok else math.nan

    @property
    def total_seconds(self) -> float:
        """Wall time of all stages (``sampling_fem`` is a part of ``sampling``, not added again)."""
        return sum(v for k, v in self.seconds.items() if k != "sampling_fem")

    def top(self, n: int = 5) -> list[Candidate]:
        return self.candidates[:n]

    def found(self, c: Candidate) -> bool:
        """A valid, distinct design whose verified value lies within the run's tolerance of the target by at
        least one standard error (:func:`within_tolerance`)."""
        return not c.flags and within_tolerance(c.final_verification, self.target,
                                                self.settings.get("tolerance", 0.01), self.scale)

    @property
    def found_candidates(self) -> list[Candidate]:
        return [c for c in self.candidates if self.found(c)]


def _rank_key(result: DesignResult, c: Candidate, by: str):
    err = result.error(c)
    err = math.inf if math.isnan(err) else err
    rho = density(c.final_design)
    return (not result.found(c), bool(c.flags)) + ((-c.p_within, err, rho) if by == "robust" else (err, rho))


def check_ranking(tolerance: float, rank: str) -> None:
    """InputError unless ``rank`` is "robust" or "error" and ``tolerance`` a fraction in (0, 1)."""
    if rank not in ("robust", "error"):
        raise InputError(f"rank={rank!r}: must be 'robust' or 'error'")
    if not 0 < tolerance < 1:
        raise InputError(f"tolerance={tolerance!r}: must be a fraction in (0, 1), e.g. 0.01")


def rank_candidates(result: DesignResult, tolerance: float, rank: str) -> DesignResult:
    """Set each candidate's P(one arrangement within ±``tolerance``·scale of the target) and validity
    flags, and sort the candidates in place: found designs (valid, distinct, within tolerance) first,
    then valid misses, then invalid ones; inside each group ``rank="robust"`` by that probability, then
    error, then density, ``"error"`` by error, density. Of several candidates with one material pair
    only the best counts; the others are flagged "duplicate"."""
    result.settings.setdefault("tolerance", tolerance)
    for c in result.candidates:
        c.p_within = probability_within(c.final_verification, result.target, tolerance, result.scale)
        c.flags = validity_flags(c.final_design, result.dim, c.final_verification)
    result.candidates.sort(key=lambda c: _rank_key(result, c, rank))
    seen = set()
    for c in result.candidates:
        pair = (c.final_design.matrix.name, c.final_design.particle.name)
        if pair in seen and "duplicate" not in c.flags:
            c.flags.append("duplicate")
        seen.add(pair)
    result.candidates.sort(key=lambda c: _rank_key(result, c, rank))
    return result


def shown_candidates(result: DesignResult, top: int) -> list[Candidate]:
    """The candidates a run shows (and gives paper-cell values): up to ``top`` found designs and the
    closest misses, at least 3 (:func:`matdesign.pipeline.output.shown`)."""
    found = result.found_candidates[:top]
    misses = [c for c in result.candidates if not result.found(c) and "duplicate" not in c.flags]
    return found + misses[: max(3, top - len(found))]


def _closure_queue(candidates: list[Candidate], table: MaterialTable, target: float, dim: int, search: str,
                   normalization) -> list[tuple[PairCandidate, Candidate | None]]:
    """Pairs for closure in the order they are tried: the model's pairs round-robin over the samples (each
    sample's own pair first, then pairs near its phases, nearest first) alternating with the table's pairs
    (physics search), so that neither source can spend the whole budget (docs/closure.md)."""
    per_sample = []
    if search in ("model", "both"):
        for c in candidates:
            pairs = neighbour_pairs(c.design, table, target, dim, c.sample, normalization=normalization)
            per_sample.append([(p, c if p.source == "sample" else None) for p in pairs])
    model = [item for level in range(max(map(len, per_sample), default=0))
             for pairs in per_sample if level < len(pairs) for item in [pairs[level]]]
    physics = [(p, None) for p in physics_pairs(table, target, dim)] if search in ("physics", "both") else []
    return [item for pair in zip_longest(model, physics) for item in pair if item is not None]


def _close(candidates: list[Candidate], queue, table: MaterialTable, target: float, *, dim: int, size: int,
           verify_n: int, seed: int, definition: str, tolerance: float, top: int, deadline: float,
           progress: bool) -> list[Candidate]:
    """Refine the queued pairs (vf searched around the estimate, then verified on fresh arrangements)
    until ``top`` distinct valid designs are within ``tolerance`` or the deadline passes; returns the
    candidates tried (samples' own pairs keep their raw verification) plus the samples never reached."""
    tried, found, seen, durations = [], set(), set(), []
    bar = tqdm(total=top, desc="closure (designs found)", disable=not progress, leave=False)
    for k, (pair, own) in enumerate(queue):
        # no candidate that would, at the mean pace so far, end after the deadline
        if len(found) >= top or time.perf_counter() + (np.mean(durations) if durations else 0.0) > deadline:
            break
        key = (pair.matrix, pair.particle)
        if key in seen:
            continue
        seen.add(key)
        tic = time.perf_counter()
        start = pair.design(table)
        lo, hi = window(pair.volume_fraction, dim, WINDOW[dim])
        r = refine_volume_fraction(start, target, size=size, dim=dim, n=verify_n, seed=seed * 1000 + 7919 * k,
                                   vf_min=lo, vf_max=hi, definition=definition, fresh_seed=[seed, k, 3],
                                   fresh_sem_tol=SEM_SHARE * tolerance, deadline=deadline)
        c = own if own is not None else Candidate(pair.sample, start, r.verification, math.nan, source=pair.source)
        c.refinement = r
        tried.append(c)
        durations.append(time.perf_counter() - tic)
        if within_tolerance(r.verification, target, tolerance) and not validity_flags(r.design, dim, r.verification):
            found.add((r.design.matrix.name, r.design.particle.name))
            bar.update(len(found) - bar.n)
    bar.close()
    return tried + [c for c in candidates if all(c is not t for t in tried)]


def design(
    target: float,
    *,
    property: str = "K",  # noqa: A002 - the public name of the option
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
    step_clip: float | None = None,
    definition: str = DEFAULT_DEFINITION,
    closure: bool = True,
    search: str = "both",
    top: int = 5,
    time_limit: float | None = None,
    progress: bool = True,
) -> DesignResult:
    """Designs whose verified ``property`` matches ``target``: "K" bulk modulus (default), "G" shear
    modulus, "E" Young's modulus [GPa] or "nu" Poisson ratio (isotropic estimates from the effective
    stiffness; 2D: plane stress).

    samples, steps: guided samples and DDIM steps (None: :data:`DEFAULT_SAMPLES`, :data:`DEFAULT_STEPS`);
    objective: "absolute" ((X − X*)², the paper's J₁ for K: measured better, docs/results.md) or
    "relative" (X_ref²·(X/X* − 1)², equal to J₁ at X* = 168.5 GPa; for ν X_ref²·(ν − ν*)²);
    default None: "absolute" for the moduli, "relative" for ν (the relative ν loss is 168.5² ≈ 2.8·10⁴
    times the absolute one, which puts ν on the moduli's scale; docs/objectives.md); density_weight: λ of
    the paper's J₂; refine: tune each design's volume fraction to the target (beyond the paper; K, G, E
    only: for ν it is skipped with a warning and ``settings["refine_note"]``); rank: "robust"
    (probability that an arrangement is within ``tolerance`` of the target) or "error"; tolerance and
    errors are relative to the target for the moduli and absolute for ν; materials: a CSV path or
    MaterialTable restricting the designs (default: the built-in table); step_clip: the guidance trust
    region C (each sample's guidance step RMS ≤ C·√(1−ᾱ_t); beyond the paper); None → the default
    (:data:`DEFAULT_STEP_CLIP`), inf → the paper's unclipped step; definition: the property that
    verification, refinement, tolerance and ranking use — "composite" (default: the bulk composite,
    periodic RVEs), "cell" (the paper's walled cell with affine boundary conditions) or "paper" (that
    cell under the official release's uniaxial load, K only); unless "cell", every design also carries
    its paper-cell value (``Candidate.cell``); closure (K with
    refinement only): after refining each sample's own pair, try other material pairs near the
    sample's phases ("model"), pairs from the whole table ("physics") or both (``search``, default
    "both": the two sources take turns), screened by a mean-field estimate, refined by FEM and verified on fresh
    arrangements (:mod:`matdesign.pipeline.closure`), until ``top`` distinct valid designs are within
    ``tolerance`` or ``time_limit`` seconds (default :data:`DEFAULT_TIME_LIMIT`) have passed; without
    closure every sample's own pair is refined (the behaviour before 2026-12-07).
    """
    prop = check_property(property)
    definition = get_definition(definition).name
    objective = objective or ("relative" if prop == "nu" else "absolute")
    if dim not in (2, 3):
        raise InputError(f"dim={dim!r}: must be 2 or 3")
    samples = DEFAULT_SAMPLES[dim] if samples is None else samples
    steps = DEFAULT_STEPS[dim] if steps is None else steps
    if objective not in ("relative", "absolute"):
        raise InputError(f"objective={objective!r}: must be 'relative' or 'absolute'")
    check_ranking(tolerance, rank)
    if search not in SEARCHES:
        raise InputError(f"search={search!r}: must be one of {', '.join(SEARCHES)}")
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise InputError(f"top={top!r}: must be an integer >= 1")
    if time_limit is not None and not (float(time_limit) > 0):
        raise InputError(f"time_limit={time_limit!r}: must be a positive number of seconds")
    if int(samples) < 1:
        raise InputError(f"samples={samples!r}: must be ≥ 1")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device={device!r}: no CUDA GPU is available on this machine")
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
    candidates, fields, config, size = [], np.zeros((0, 3)), None, GRID[dim]
    if search in ("model", "both") or not closure:
        net = load_model(model, dim, device)
        size = net.grid[0]
        fields, res, config = guided_fields(net, target, samples=samples, steps=steps, seed=seed,
                                            objective=objective, density_weight=density_weight,
                                            grad_scale=grad_scale, step_clip=step_clip, device=device,
                                            progress=progress, prop=prop, guidance_seconds=GUIDANCE_SHARE * budget)
        seconds["sampling"] = time.perf_counter() - tic
        seconds["sampling_fem"] = res.fem_seconds

        tic = time.perf_counter()
        value_s = np.atleast_1d(sample_property(fields, prop, dim=dim))
        designs = backproject_batch(fields, table, net.normalization, seed=seed, progress=progress)
        candidates = [Candidate(i, d, verify(d, size=size, dim=dim, n=verify_n, rng=np.random.default_rng([seed, i]),
                                             prop=prop, definition=definition), float(value_s[i]))
                      for i, d in enumerate(tqdm(designs, desc="verify", disable=not progress, leave=False))]
        seconds["verify"] = time.perf_counter() - tic

    tic = time.perf_counter()
    if closure:
        queue = _closure_queue(candidates, table, target, dim, search, net.normalization if candidates else None)
        candidates = _close(candidates, queue, table, target, dim=dim, size=size, verify_n=verify_n, seed=seed,
                            definition=definition, tolerance=tolerance, top=top, deadline=deadline,
                            progress=progress)
        seconds["closure"] = time.perf_counter() - tic
    elif refine:
        for c in tqdm(candidates, desc="refine", disable=not progress, leave=False):
            if c.verification.ok:
                c.refinement = refine_volume_fraction(c.design, target, size=size, dim=dim, n=verify_n,
                                                      seed=seed * 1000 + c.sample, prop=prop, definition=definition,
                                                      fresh_seed=[seed, c.sample, 1])
        seconds["refine"] = time.perf_counter() - tic
    result = rank_candidates(DesignResult(target, dim, size, candidates, fields, seconds=seconds, prop=prop, settings={
        f"target_{prop}": target, "property": prop, "dim": dim, "samples": int(samples), "steps": int(steps),
        "objective": objective, "density_weight": density_weight, "refine": refine,
        **({"refine_note": refine_note} if refine_note else {}), "tolerance": tolerance, "rank": rank,
        "verify_n": verify_n, "definition": definition, "closure": closure, "search": search, "top": int(top),
        "time_limit": deadline - start, "model": str(model or default_model_path(dim)), "device": device,
        "seed": int(seed), "grad_scale": list(config.grad_scale) if config else None,
        "step_clip": config.step_clip if config else None, "materials": str(materials or "builtin"),
        "guided_steps": res.guided_steps if config else None,
        "material_sha256": table.sha256(), "reachable": list(reachable_range(table, dim, prop))}), tolerance, rank)
    if definition != "cell":  # the paper-cell value of every shown candidate (it does not enter the ranking)
        tic = time.perf_counter()
        for k, c in enumerate(tqdm(shown_candidates(result, top), desc="cell", disable=not progress, leave=False)):
            if not result.found(c) and time.perf_counter() > deadline:
                continue  # a miss's cell value only within the time budget
            c.cell = verify(c.final_design, size=size, dim=dim, n=verify_n,
                            rng=np.random.default_rng([seed, c.sample if c.source == "sample" else 10_000 + k, 2]),
                            prop=prop, definition="cell")
        seconds["cell"] = time.perf_counter() - tic
    return result
