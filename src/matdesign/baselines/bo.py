"""Bayesian-optimisation baseline (paper sec. 6.3 "Comparison to alternative methods", supp. mat. E).

A Gaussian process (bayes_opt, Matern 5/2) models the objective over the relaxed design
θ = (E_m, E_p, ν_m, ν_p, ρ_m, ρ_p, r_p, f_p) ∈ [−1, 1]⁸: the material properties min–max normalized
over the material table, the particle radius and volume fraction mapped linearly from the dataset's
ranges (DIAMETER_RANGE / 2, VOLUME_FRACTION_RANGE). UCB μ + κσ (κ = 1) picks the next θ. As in the
paper, a suggested θ is projected to the nearest real materials, evaluated on fresh random
arrangements exactly like :func:`matdesign.verification.verify` (K_θ, n arrangements) and the value is
registered at both the suggested and the projected θ. ``relaxed=True`` instead evaluates the
continuous materials themselves during the search (projection only for the final designs).
``definition`` ("composite" by default, "cell" or "paper": :mod:`matdesign.verification.definition`) is what K_θ
is, in the search and in the final verification; other designs also carry their paper-cell K
(``Candidate.cell``), as ``matdesign design`` does.

Designs come from the final surrogate: from a random θ, maximize the GP mean μ (no exploration
term), project to real materials, verify on fresh arrangements — one design per sample.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from tqdm.auto import tqdm

from matdesign.errors import InputError
from matdesign.validate import check_dim, check_integers
from matdesign.verification import verify
from matdesign.verification.definition import DEFAULT_DEFINITION, get_definition
from matdesign.verification.verify import arrangement
from matdesign.materials import Material, MaterialTable
from matdesign.microstructure import DIAMETER_RANGE, VOLUME_FRACTION_RANGE, Design
from matdesign.pipeline.candidates import add_cell_values, verify_candidates
from matdesign.pipeline.checks import check_target, reachable_range, resolve_table
from matdesign.pipeline.ranking import check_ranking, rank_candidates
from matdesign.pipeline.results import Candidate, DesignResult
from matdesign.provenance import version

PARAMS = ("E_m", "E_p", "nu_m", "nu_p", "rho_m", "rho_p", "r_p", "f_p")
"""Names of the eight θ coordinates, each in [−1, 1]."""


def _to_unit(x, lo, hi):
    return 2.0 * (x - lo) / (hi - lo) - 1.0


def _from_unit(y, lo, hi):
    return lo + (np.clip(y, -1.0, 1.0) + 1.0) * 0.5 * (hi - lo)


def theta_to_design(theta: np.ndarray, table: MaterialTable, dim: int, *, project: bool = True) -> Design:
    """The design of θ (8,) in [−1, 1]⁸ (order :data:`PARAMS`).

    ``project``: matrix and particle are the nearest table rows in the table's normalized space;
    otherwise two made-up materials with θ's continuous (E [GPa], ν, ρ [g/cm³]).
    """
    theta = np.asarray(theta, dtype=np.float64)
    props = table.normalization.denormalize(np.clip(theta[:6].reshape(3, 2).T, -1.0, 1.0))  # (2, 3): m, p
    r_lo, r_hi = (d / 2.0 for d in DIAMETER_RANGE[dim])
    diameter = 2.0 * float(_from_unit(theta[6], r_lo, r_hi))
    vf = float(_from_unit(theta[7], *VOLUME_FRACTION_RANGE[dim]))
    diag = {"theta": theta.tolist(), "valid": True}
    if project:
        rows = table.nearest(props[:, 0], props[:, 1], props[:, 2])
        diag.update(matrix_index=int(rows[0]), particle_index=int(rows[1]))
        phases = [table[int(i)] for i in rows]
    else:
        phases = [Material(f"relaxed {role} (E={E:.4g}, nu={nu:.3g}, rho={rho:.3g})", float(E), float(nu), float(rho))
                  for role, (E, nu, rho) in zip(("matrix", "particle"), props)]
    return Design(phases[0], phases[1], diameter=diameter, volume_fraction=vf, diagnostics=diag)


def design_to_theta(design: Design, table: MaterialTable, dim: int) -> np.ndarray:
    """θ (8,) of a design (inverse of :func:`theta_to_design` for its own materials)."""
    m, p = (np.array([x.E, x.nu, x.rho]) for x in (design.matrix, design.particle))
    props = table.normalization.normalize(np.stack([m, p]))  # (2, 3)
    r_lo, r_hi = (d / 2.0 for d in DIAMETER_RANGE[dim])
    return np.concatenate([props.T.reshape(6), [_to_unit(design.diameter / 2.0, r_lo, r_hi),
                                                _to_unit(design.volume_fraction, *VOLUME_FRACTION_RANGE[dim])]])


def objective_value(K: float, target: float, objective: str) -> float:
    """J = ((K − K*)/K*)² ("relative") or (K − K*)² [GPa²] ("absolute", the paper's J₁)."""
    return ((K - target) / target) ** 2 if objective == "relative" else (K - target) ** 2


@dataclass
class BORun:
    """One optimisation: ``trace`` lists every evaluation in order (kind "init" = random start,
    "ucb" = acquisition), with θ, the evaluated materials, K_θ [GPa] and J; ``seconds`` wall time."""

    run: int
    seed: int
    trace: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def best(self, kind: str | None = None) -> float:
        """Lowest J among the evaluations (of ``kind`` if given)."""
        return min(e["J"] for e in self.trace if kind is None or e["kind"] == kind)


@dataclass
class BOResult(DesignResult):
    """A :class:`DesignResult` of the BO designs (``fields``: the first verification arrangement of
    each design in the run's definition, physical units) plus the optimisation ``runs``."""

    runs: list[BORun] = field(default_factory=list)


def _check(iterations, init_points, samples, runs, kappa, objective, eval_n, verify_n, dim, size):
    check_integers(iterations=iterations, init_points=init_points, samples=samples, runs=runs, eval_n=eval_n,
                   verify_n=verify_n)
    check_integers(2, size=size)
    check_dim(dim)
    if not (math.isfinite(kappa) and kappa >= 0):
        raise InputError(f"kappa={kappa!r}: must be a number >= 0")
    if objective not in ("relative", "absolute"):
        raise InputError(f"objective={objective!r}: must be 'relative' or 'absolute'")


def _bayes_opt():
    """The bayes_opt module (a dependency of matdesign), or an InputError naming the missing package."""
    try:
        import bayes_opt
    except ImportError:
        raise InputError("the BO baseline needs the bayesian-optimization package: "
                         "pip install 'bayesian-optimization>=3.4' (it is a dependency of matdesign)") from None
    return bayes_opt


def _int_seed(*key: int) -> int:
    return int(np.random.SeedSequence(list(key)).generate_state(1)[0])


def optimize(target: float, table: MaterialTable, *, dim: int, size: int, iterations: int, init_points: int = 5,
             kappa: float = 1.0, objective: str = "relative", eval_n: int = 10, relaxed: bool = False,
             seed: int = 0, run: int = 0, definition: str = DEFAULT_DEFINITION, progress: bool = False):
    """One BO run: ``init_points`` random θ, then ``iterations`` UCB suggestions, each evaluated by
    K_θ in ``definition`` over ``eval_n`` arrangements (the paper's cell: a ``size``^``dim`` grid).
    Returns (optimizer, :class:`BORun`).

    A failed evaluation (placement impossible) scores the worst J reachable with the table.
    """
    bayes_opt = _bayes_opt()
    BayesianOptimization, acquisition = bayes_opt.BayesianOptimization, bayes_opt.acquisition
    tic = time.perf_counter()
    lo, hi = reachable_range(table, dim)
    worst = max(objective_value(lo, target, objective), objective_value(hi, target, objective))
    opt = BayesianOptimization(None, {k: (-1.0, 1.0) for k in PARAMS},
                               acquisition_function=acquisition.UpperConfidenceBound(kappa=kappa),
                               random_state=_int_seed(seed, run), verbose=0, allow_duplicate_points=True)
    record = BORun(run, int(seed))
    kinds = ["init"] * init_points + ["ucb"] * iterations
    for it, kind in enumerate(tqdm(kinds, desc=f"BO run {run}", disable=not progress, leave=False)):
        with warnings.catch_warnings():  # sklearn GP convergence / bayes_opt out-of-bounds chatter
            warnings.simplefilter("ignore")
            params = opt.random_sample(1)[0] if kind == "init" else opt.suggest()
        theta = opt.space.params_to_array(params)
        design = theta_to_design(theta, table, dim, project=not relaxed)
        ver = verify(design, size=size, dim=dim, n=eval_n, rng=np.random.default_rng([seed, run, 0, it]),
                     definition=definition)
        J = objective_value(ver.K, target, objective) if ver.ok else worst
        points = [theta] if relaxed else [theta, design_to_theta(design, table, dim)]
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # duplicate-point notices
            warnings.simplefilter("ignore")
            for p in points:
                opt.register(opt.space.array_to_params(p), -J)
        record.trace.append({"kind": kind, "theta": theta.tolist(), "theta_evaluated": points[-1].tolist(),
                             "matrix": design.matrix.name, "particle": design.particle.name,
                             "diameter": design.diameter, "volume_fraction": design.volume_fraction,
                             "K": ver.K, "J": J})
    record.seconds = time.perf_counter() - tic
    return opt, record


def surrogate_designs(opt, table: MaterialTable, *, dim: int, samples: int, seed: int, run: int) -> list[Design]:
    """``samples`` designs: from a random θ each, maximize the GP mean μ(θ) (L-BFGS-B in [−1, 1]⁸),
    then project to the nearest real materials (``diagnostics``: θ start/end, predicted J)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt.predict(opt.space.array_to_params(np.zeros(len(PARAMS))), fit_gp=True)  # fit once on all data

        def neg_mu(x):
            return -float(opt.predict(opt.space.array_to_params(x), fit_gp=False))

        designs = []
        for s in range(samples):
            start = np.random.default_rng([seed, run, 1, s]).uniform(-1.0, 1.0, len(PARAMS))
            res = minimize(neg_mu, start, bounds=[(-1.0, 1.0)] * len(PARAMS), method="L-BFGS-B")
            d = theta_to_design(res.x, table, dim)
            d.diagnostics.update(run=run, theta_start=start.tolist(), predicted_J=float(res.fun))
            designs.append(d)
    return designs


def bayesian_optimization(
    target_K: float,
    *,
    dim: int = 2,
    size: int | None = None,
    samples: int = 200,
    runs: int = 1,
    iterations: int = 1000,
    init_points: int = 5,
    kappa: float = 1.0,
    objective: str = "relative",
    eval_n: int = 10,
    verify_n: int = 10,
    relaxed: bool = False,
    materials: str | Path | MaterialTable | None = None,
    tolerance: float = 0.01,
    rank: str = "robust",
    seed: int = 0,
    definition: str = DEFAULT_DEFINITION,
    progress: bool = True,
) -> BOResult:
    """BO designs for ``target_K`` [GPa]: ``runs`` independent optimisations of ``iterations`` UCB
    steps each (after ``init_points`` random ones), ``samples`` designs drawn from each final surrogate,
    every design verified on ``verify_n`` fresh arrangements (size: the paper cell's grid, 64 in 2D, 32 in
    3D by default). ``definition``: K_θ of the search and of the verification, "composite" (default),
    "cell" or "paper"; unless "cell", each design also carries its paper-cell K (``Candidate.cell``, ``verify_n``
    arrangements).

    The paper: 1,000 iterations, κ = 1, 200 designs per target, 3 seeds (runs), objective J₁ = "absolute".
    Candidates are ranked like ``matdesign design`` (``rank``: "robust" or "error").
    """
    size = {2: 64, 3: 32}.get(dim, 0) if size is None else size
    _check(iterations, init_points, samples, runs, kappa, objective, eval_n, verify_n, dim, size)
    definition = get_definition(definition).name
    check_ranking(tolerance, rank)
    table = resolve_table(materials)
    target = check_target(target_K, table, dim)
    seconds = {"optimize": 0.0, "verify": 0.0, **({"cell": 0.0} if definition != "cell" else {})}
    candidates, fields, records = [], [], []
    for run in range(runs):
        tic = time.perf_counter()
        opt, record = optimize(target, table, dim=dim, size=size, iterations=iterations, init_points=init_points,
                               kappa=kappa, objective=objective, eval_n=eval_n, relaxed=relaxed, seed=seed, run=run,
                               definition=definition, progress=progress)
        designs = surrogate_designs(opt, table, dim=dim, samples=samples, seed=seed, run=run)
        seconds["optimize"] += time.perf_counter() - tic
        records.append(record)
        tic = time.perf_counter()
        new = [Candidate(len(candidates) + s, d, None) for s, d in enumerate(designs)]
        verify_candidates(new, size=size, dim=dim, n=verify_n, seed=seed, definition=definition, progress=False,
                          rngs=[np.random.default_rng([seed, run, 2, s]) for s in range(len(new))])
        candidates += new
        fields += [_first_arrangement(c.design, c.verification, size, dim) for c in new]
        seconds["verify"] += time.perf_counter() - tic
        if definition != "cell":
            tic = time.perf_counter()
            add_cell_values(new, size=size, dim=dim, n=verify_n, seed=seed, progress=False,
                            rngs=[np.random.default_rng([seed, run, 3, s]) for s in range(len(new))])
            seconds["cell"] += time.perf_counter() - tic
    result = BOResult(target, dim, size, candidates, np.stack(fields), runs=records, seconds=seconds, settings=dict(
        method="bo", target_K=target, dim=dim, size=size, samples=samples, runs=runs, iterations=iterations,
        init_points=init_points, kappa=kappa, objective=objective, eval_n=eval_n, verify_n=verify_n, relaxed=relaxed,
        definition=definition,
        bayes_opt=version("bayes_opt", "bayesian-optimization"), refine=False, tolerance=tolerance, rank=rank,
        seed=int(seed), materials=str(materials or "builtin"), material_sha256=table.sha256()))
    return rank_candidates(result, tolerance, rank)


def _first_arrangement(design: Design, ver, size: int, dim: int) -> np.ndarray:
    """Fields (3, *grid) of the design's first verification arrangement (the paper's size^dim cell or the
    composite's RVE), zeros if it failed."""
    if not ver.ok:
        cells, voxels = get_definition(ver.definition).grid(dim, size)
        return np.zeros((3,) + (cells * voxels,) * dim, dtype=np.float32)
    return arrangement(design, size=size, dim=dim, seed=ver.seeds[0], n_particles=ver.n_particles[0],
                       definition=ver.definition).fields
