"""The end-to-end design pipeline behind ``matdesign design``.

target K* → guided sampling with a trained model → backprojection to two real materials →
verification on fresh random arrangements → (optional) volume-fraction refinement → robust ranking.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from tqdm.auto import tqdm

from matdesign.backproject import backproject_batch
from matdesign.errors import InputError
from matdesign.evaluate import Verification, density, sample_K, verify
from matdesign.fem import Homogenizer, bulk_from_young
from matdesign.guidance import DensityPenalty, GuidanceConfig, TargetBulkModulus, guided_sample
from matdesign.materials import MaterialTable
from matdesign.microstructure import Design
from matdesign.pipeline.refine import Refinement, refine_volume_fraction


def default_model_path(dim: int) -> Path:
    """The model shipped inside the package for ``dim`` (2 or 3)."""
    return Path(str(resources.files("matdesign") / "models" / f"{dim}d"))


def load_model(model: str | Path | None, dim: int, device: str):
    """Load ``model`` (a folder or .safetensors path; None → the shipped default for ``dim``)."""
    from matdesign.diffusion import DiffusionModel

    path = default_model_path(dim) if model is None else Path(model)
    if model is None and not (path / "model.safetensors").exists():
        raise InputError(f"no shipped {dim}D model in this installation ({path}); pass --model")
    net = DiffusionModel.load(path, device, dim=dim).eval()
    if model is None and dim == 3:
        warnings.warn(f"the shipped 3D model is an early checkpoint ({net.step} training steps): its unguided "
                      "samples do not yet backproject to two-phase designs (docs/diffusion.md); expect poor 3D "
                      "designs", stacklevel=2)
    return net


def sample_with_model(net, objective, *, samples: int, config: GuidanceConfig, seed: int = 0,
                      device: str = "cpu", progress: bool = True):
    """Guided samples (normalized, (samples, 3, *grid)) of a loaded model with a warm-started batched FEM."""
    from matdesign.diffusion import make_sampling_scheduler

    hom = Homogenizer(net.dim, net.grid[0], device=device)
    return guided_sample(net, make_sampling_scheduler(net.config), net.normalization, objective,
                         shape=(int(samples), 3, *net.grid), config=config,
                         generator=torch.Generator().manual_seed(int(seed)), device=device,
                         solver=hom.bulk_modulus, progress=progress)


def guided_fields(net, target: float, *, samples: int, steps: int, seed: int = 0, objective: str = "absolute",
                  density_weight: float = 0.0, grad_scale: tuple[float, float, float] | None = None,
                  device: str = "cpu", progress: bool = True):
    """Guided samples for K* = ``target`` [GPa] in physical units: (fields (samples, 3, *grid) float64
    numpy, the guided-sampling result, the GuidanceConfig used)."""
    J = TargetBulkModulus(target, relative=objective == "relative")
    if density_weight:
        J = J + DensityPenalty(density_weight)
    config = GuidanceConfig(steps=steps, **({"grad_scale": tuple(grad_scale)} if grad_scale else {}))
    res = sample_with_model(net, J, samples=samples, config=config, seed=seed, device=device, progress=progress)
    return net.normalization.denormalize(res.x0.double().cpu(), axis=1).numpy(), res, config


def resolve_table(materials: str | Path | MaterialTable | None) -> MaterialTable:
    """The material table of a run: a CSV path (validated), a MaterialTable, or None → the built-in table."""
    if isinstance(materials, (str, Path)):
        return MaterialTable.from_csv(materials)
    return materials if materials is not None else MaterialTable.builtin()


def reachable_range(table: MaterialTable, dim: int) -> tuple[float, float]:
    """[min, max] of the phases' bulk moduli [GPa]: every two-phase composite of the table lies inside
    (its K is between the Reuss and Voigt bounds, which lie between the phase moduli)."""
    K = bulk_from_young(np.asarray(table.E), np.asarray(table.nu), dim)
    return float(np.min(K)), float(np.max(K))


def check_target(target_K: float, table: MaterialTable, dim: int) -> float:
    """Validate K* [GPa] before any compute is spent."""
    try:
        target = float(target_K)
    except (TypeError, ValueError):
        raise InputError(f"target K={target_K!r}: not a number") from None
    lo, hi = reachable_range(table, dim)
    if not math.isfinite(target) or target <= 0:
        raise InputError(f"target K={target_K}: must be a positive number of GPa")
    if not lo <= target <= hi:
        raise InputError(f"target K={target:g} GPa is outside the range the material table can reach "
                         f"in {dim}D: {lo:.3g}–{hi:.3g} GPa")
    return target


def probability_within(verification: Verification, target: float, tolerance: float) -> float:
    """P(|K − K*| ≤ tol·K*) for one random arrangement, K ~ Normal(mean, spread) over arrangements."""
    mean, std = verification.K, verification.std
    if not math.isfinite(mean):
        return 0.0
    lo, hi = target * (1 - tolerance), target * (1 + tolerance)
    if not math.isfinite(std) or std <= 0:
        return float(lo <= mean <= hi)
    return float(stats.norm.cdf((hi - mean) / std) - stats.norm.cdf((lo - mean) / std))


@dataclass
class Candidate:
    """One generated sample: raw backprojected design, its verification, K_s, and the refinement."""

    sample: int
    design: Design
    verification: Verification
    K_s: float
    refinement: Refinement | None = None
    p_within: float = 0.0

    @property
    def final_design(self) -> Design:
        return self.refinement.design if self.refinement else self.design

    @property
    def final_verification(self) -> Verification:
        return self.refinement.verification if self.refinement else self.verification


@dataclass
class DesignResult:
    """Ranked candidates for one target, the fields they came from, settings and timings."""

    target_K: float
    dim: int
    size: int
    candidates: list[Candidate]
    fields: np.ndarray  # (samples, 3, *grid) physical units, indexed by Candidate.sample
    settings: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)

    def error(self, c: Candidate, refined: bool = True) -> float:
        v = c.final_verification if refined else c.verification
        return abs(v.K - self.target_K) / self.target_K if v.ok else math.nan

    @property
    def total_seconds(self) -> float:
        """Wall time of all stages (``sampling_fem`` is a part of ``sampling``, not added again)."""
        return sum(v for k, v in self.seconds.items() if k != "sampling_fem")

    def top(self, n: int = 5) -> list[Candidate]:
        return self.candidates[:n]


def _rank_key(result: DesignResult, c: Candidate, by: str):
    err = result.error(c)
    err = math.inf if math.isnan(err) else err
    rho = density(c.final_design)
    return (-c.p_within, err, rho) if by == "robust" else (err, rho)


def check_ranking(tolerance: float, rank: str) -> None:
    """InputError unless ``rank`` is "robust" or "error" and ``tolerance`` a fraction in (0, 1)."""
    if rank not in ("robust", "error"):
        raise InputError(f"rank={rank!r}: must be 'robust' or 'error'")
    if not 0 < tolerance < 1:
        raise InputError(f"tolerance={tolerance!r}: must be a fraction in (0, 1), e.g. 0.01")


def rank_candidates(result: DesignResult, tolerance: float, rank: str) -> DesignResult:
    """Set each candidate's P(one arrangement within ±``tolerance`` of K*) and sort the candidates in
    place: ``rank="robust"`` by that probability, then error, then density; ``"error"`` by error, density."""
    for c in result.candidates:
        c.p_within = probability_within(c.final_verification, result.target_K, tolerance)
    result.candidates.sort(key=lambda c: _rank_key(result, c, rank))
    return result


def design(
    target_K: float,
    *,
    dim: int = 2,
    samples: int = 16,
    steps: int = 100,
    materials: str | Path | MaterialTable | None = None,
    density_weight: float = 0.0,
    objective: str = "absolute",
    refine: bool = True,
    tolerance: float = 0.01,
    rank: str = "robust",
    verify_n: int = 10,
    model: str | Path | None = None,
    device: str = "cpu",
    seed: int = 0,
    grad_scale: tuple[float, float, float] | None = None,
    progress: bool = True,
) -> DesignResult:
    """Designs whose verified bulk modulus matches ``target_K`` [GPa].

    objective: "absolute" (the paper's J₁, default: measured better, docs/results.md) or "relative"
    (K_ref²·(K/K* − 1)², equal to J₁ at K* = 168.5 GPa); density_weight: λ of
    the paper's J₂; refine: tune each design's volume fraction to the target (beyond the paper);
    rank: "robust" (probability that an arrangement is within ``tolerance`` of K*) or "error";
    materials: a CSV path or MaterialTable restricting the designs (default: the model's table).
    """
    if dim not in (2, 3):
        raise InputError(f"dim={dim!r}: must be 2 or 3")
    if objective not in ("relative", "absolute"):
        raise InputError(f"objective={objective!r}: must be 'relative' or 'absolute'")
    check_ranking(tolerance, rank)
    if int(samples) < 1:
        raise InputError(f"samples={samples!r}: must be ≥ 1")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device={device!r}: no CUDA GPU is available on this machine")
    table = resolve_table(materials)
    target = check_target(target_K, table, dim)
    seconds: dict[str, float] = {}
    tic = time.perf_counter()
    net = load_model(model, dim, device)
    size = net.grid[0]

    fields, res, config = guided_fields(net, target, samples=samples, steps=steps, seed=seed, objective=objective,
                                        density_weight=density_weight, grad_scale=grad_scale, device=device,
                                        progress=progress)
    seconds["sampling"] = time.perf_counter() - tic
    seconds["sampling_fem"] = res.fem_seconds

    tic = time.perf_counter()
    K_s = np.atleast_1d(sample_K(fields, dim=dim))
    designs = backproject_batch(fields, table, net.normalization, seed=seed, progress=progress)
    candidates = [Candidate(i, d, verify(d, size=size, dim=dim, n=verify_n, rng=np.random.default_rng([seed, i])),
                            float(K_s[i]))
                  for i, d in enumerate(tqdm(designs, desc="verify", disable=not progress, leave=False))]
    seconds["verify"] = time.perf_counter() - tic

    if refine:
        tic = time.perf_counter()
        for c in tqdm(candidates, desc="refine", disable=not progress, leave=False):
            if c.verification.ok:
                c.refinement = refine_volume_fraction(c.design, target, size=size, dim=dim, n=verify_n,
                                                      seed=seed * 1000 + c.sample)
        seconds["refine"] = time.perf_counter() - tic
    result = DesignResult(target, dim, size, candidates, fields, seconds=seconds, settings=dict(
        target_K=target, dim=dim, samples=int(samples), steps=int(steps), objective=objective,
        density_weight=density_weight, refine=refine, tolerance=tolerance, rank=rank, verify_n=verify_n,
        model=str(model or default_model_path(dim)), device=device, seed=int(seed),
        grad_scale=list(config.grad_scale), materials=str(materials or "builtin"), material_sha256=table.sha256()))
    return rank_candidates(result, tolerance, rank)
