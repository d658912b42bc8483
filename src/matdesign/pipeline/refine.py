"""Refinement (beyond the paper): for a fixed material pair and diameter, tune the volume fraction
so that the verified property (K, G or E) hits the target. The search stays inside the training
range of vf (at least 5 % particles), so a refined design is always a composite, never the bare matrix.

For a fixed pair the mean K over random arrangements is monotone in the volume fraction (up from
K_matrix at vf = 0 when the particle is stiffer, down otherwise), and so are the isotropic G and E
(measured, docs/objectives.md), so a bracketed search (Illinois regula falsi) on vf converges in a
handful of FEM batches. Every evaluation uses the same seed (common random numbers), which makes the
noisy curve smooth enough to bracket. The Poisson ratio is not monotone in vf in general (it can dip
below both phases' ν), so it is not refined (:data:`REFINABLE`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from matdesign.errors import InputError
from matdesign.verification import Verification, verify
from matdesign.microstructure import Design
from matdesign.microstructure.sampling import VOLUME_FRACTION_RANGE

REFINABLE = ("K", "G", "E")
"""Properties whose mean over arrangements is monotone in the volume fraction (a bisection target)."""


@dataclass(frozen=True)
class Refinement:
    """The refined design, its verification, the vf evaluations [(vf, value)], whether the target was
    bracketed, and ``selection``: the search's own evaluation at the chosen vf (the same object as
    ``verification`` unless a fresh verification was asked for)."""

    design: Design
    verification: Verification
    trace: list[tuple[float, float]]
    bracketed: bool
    selection: Verification | None = None


def refine_volume_fraction(design: Design, target: float, *, size: int, dim: int, n: int = 10,
                           seed: int = 0, iterations: int = 6, rel_tol: float = 0.002,
                           vf_min: float | None = None, vf_max: float | None = None, fem_options: dict | None = None,
                           prop: str = "K", definition: str = "cell", fresh_seed=None,
                           fresh_sem_tol: float | None = None, deadline: float | None = None) -> Refinement:
    """Search vf ∈ [vf_min, vf_max] (default: the training range, ``VOLUME_FRACTION_RANGE``) for
    X_θ(vf) = ``target`` [GPa],
    X = ``prop`` (one of :data:`REFINABLE`, default the bulk modulus K).

    Stops after ``iterations`` interior evaluations or when |X/X* − 1| < ``rel_tol``. If the target
    lies outside [X(vf_min), X(vf_max)] the nearer end is returned (``bracketed=False``); a design whose
    particles cannot be placed at any vf in range (diameter 0) is returned unchanged. ``definition``:
    the property's definition (:func:`~matdesign.verification.verify`). ``fresh_seed``: if given, the
    returned verification is a new one on arrangements of that seed, which the search never saw (the
    search's own value at the chosen vf is selected for being close to the target, so it is optimistic);
    ``fresh_sem_tol``: that verification then adds ``n`` arrangements at a time until its standard error
    is below ``fresh_sem_tol``·|mean| or it holds 4·``n`` arrangements.
    """
    if prop not in REFINABLE:
        raise InputError(f"property={prop!r}: refinement needs one of {', '.join(REFINABLE)} (monotone in vf)")
    vf_min = VOLUME_FRACTION_RANGE[dim][0] if vf_min is None else vf_min
    vf_max = VOLUME_FRACTION_RANGE[dim][1] if vf_max is None else vf_max
    trace: list[tuple[float, float]] = []
    results: dict[float, Verification] = {}

    def evaluate(vf: float) -> float:
        candidate = replace(design, volume_fraction=float(vf), diagnostics={})
        res = verify(candidate, size=size, dim=dim, n=n, rng=np.random.default_rng(seed), fem_options=fem_options,
                     prop=prop, definition=definition)
        results[vf] = res
        trace.append((float(vf), res.mean))
        return res.mean - target

    lo, hi = float(vf_min), float(vf_max)
    f_lo = evaluate(lo)
    f_hi = evaluate(hi)
    while not math.isfinite(f_hi) and 0.8 * hi > lo:  # cannot place that many particles: shrink
        hi *= 0.8
        f_hi = evaluate(hi)
    bracketed = math.isfinite(f_hi) and f_lo * f_hi <= 0
    if bracketed:
        side = 0
        for _ in range(iterations):
            if deadline is not None and time.perf_counter() > deadline:
                break
            vf = (lo * f_hi - hi * f_lo) / (f_hi - f_lo) if f_hi != f_lo else 0.5 * (lo + hi)
            f = evaluate(vf)
            if not math.isfinite(f) or abs(f) < rel_tol * target:
                break
            if f * f_hi > 0:  # Illinois: halve the stale end's value to avoid one-sided stagnation
                hi, f_hi = vf, f
                f_lo = f_lo / 2 if side == -1 else f_lo
                side = -1
            else:
                lo, f_lo = vf, f
                f_hi = f_hi / 2 if side == 1 else f_hi
                side = 1
    finite = [(vf, x) for vf, x in trace if math.isfinite(x)]
    if not finite:  # no vf in range can be placed (e.g. diameter 0: no particles were found): keep the design
        evaluate(design.volume_fraction)
        finite = trace[-1:]
    best_vf = min(finite, key=lambda p: abs(p[1] - target))[0]
    best = replace(design, volume_fraction=best_vf,
                   diagnostics={**design.diagnostics, "refined_from_vf": design.volume_fraction})
    adaptive = {} if fresh_sem_tol is None else {"adaptive": True, "rel_sem_tol": fresh_sem_tol, "n_max": 4 * n,
                                                 "batch": n}
    checked = results[best_vf] if fresh_seed is None else verify(
        best, size=size, dim=dim, n=n, rng=np.random.default_rng(fresh_seed), fem_options=fem_options, prop=prop,
        **adaptive,
        definition=definition)
    return Refinement(best, checked, trace, bracketed, results[best_vf])
