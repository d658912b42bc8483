"""Design closure: from a generated sample (or from the material table alone) to a design that is
verified within tolerance of a bulk-modulus target.

A sample's phases snap to the nearest real materials, and that one pair often cannot reach the target
at any volume fraction. Closure therefore proposes **material pairs** — the pairs of the nearest
materials to each of the sample's two phases (``neighbour_pairs``), or, without a model, every pair of
the table (``physics_pairs``) — screens them with a mean-field estimate (the Hashin–Shtrikman bound
with the matrix as the continuous phase, exact for coated inclusions, docs/closure.md) that gives
the volume fraction at which the pair should reach K*, and hands the promising ones to FEM refinement
and a verification on fresh arrangements (:func:`matdesign.pipeline.refine.refine_volume_fraction`).
:func:`closure_queue` orders the pairs of both sources, :func:`close` works through them within a time budget.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from itertools import zip_longest

import numpy as np
from tqdm.auto import tqdm

from matdesign.fem import bulk_from_young
from matdesign.materials import MaterialTable
from matdesign.microstructure import Design
from matdesign.microstructure.sampling import DIAMETER_RANGE, VOLUME_FRACTION_RANGE
from matdesign.pipeline.candidates import arrangement_seed, search_seed
from matdesign.pipeline.refine import refine_volume_fraction
from matdesign.pipeline.results import Candidate, within_tolerance
from matdesign.pipeline.validity import largest_diameter, validity_flags


MARGIN = 0.02
"""Estimated volume fractions must lie this far inside the training range (the estimate is ~3 % off)."""


def _moduli(E, nu, dim: int):
    """(K, G) [GPa] of isotropic phases (2D: plane-stress area bulk modulus and in-plane shear)."""
    E, nu = np.asarray(E, dtype=np.float64), np.asarray(nu, dtype=np.float64)
    return bulk_from_young(E, nu, dim), E / (2.0 * (1.0 + nu))


def _matrix_term(K_m, G_m, dim: int):
    """The matrix's term of the Hashin–Shtrikman bound: ``1/(K_m + G_m)`` in 2D, ``3/(3K_m + 4G_m)`` in 3D."""
    return 1.0 / (K_m + G_m) if dim == 2 else 3.0 / (3.0 * K_m + 4.0 * G_m)


def matrix_bound(K_m, G_m, K_p, f, dim: int):
    """Hashin–Shtrikman estimate of K [GPa] with the matrix (K_m, G_m) as the continuous phase and particle
    volume fraction ``f``: ``K_m + f / (1/(K_p − K_m) + (1 − f)/(K_m + G_m))`` in 2D, ``(1−f)·3/(3K_m + 4G_m)``
    in 3D (the lower bound for stiffer particles, the upper for softer ones)."""
    return K_m + f / (1.0 / (K_p - K_m) + (1.0 - f) * _matrix_term(K_m, G_m, dim))


def volume_fraction_estimate(target: float, K_m, G_m, K_p, dim: int):
    """The ``f`` at which :func:`matrix_bound` equals ``target`` (arrays broadcast; nan where K_p = K_m)."""
    c = _matrix_term(K_m, G_m, dim)
    a = target - K_m
    with np.errstate(divide="ignore", invalid="ignore"):
        return a * (1.0 / (K_p - K_m) + c) / (1.0 + a * c)


@dataclass(frozen=True)
class PairCandidate:
    """A material pair (table rows) with its estimated volume fraction and the diameter to try."""

    matrix: int
    particle: int
    volume_fraction: float
    diameter: float
    source: str  # "sample" (the sample's own pair), "neighbour" (near the sample's phases) or "physics"
    sample: int = -1

    def design(self, table: MaterialTable) -> Design:
        return Design(table[self.matrix], table[self.particle], self.diameter, self.volume_fraction,
                      {"source": self.source})


def _in_range(f: np.ndarray, dim: int) -> np.ndarray:
    lo, hi = VOLUME_FRACTION_RANGE[dim]
    return np.isfinite(f) & (f >= lo + MARGIN) & (f <= hi - MARGIN)


def design_diameter(diameter: float, volume_fraction: float, dim: int) -> float:
    """``diameter`` clipped to the training range and to at most the largest one that keeps two
    particles per design cell at ``volume_fraction``."""
    lo, hi = DIAMETER_RANGE[dim]
    d = min(max(diameter, lo), hi) if math.isfinite(diameter) and diameter > 0 else 0.5 * (lo + hi)
    return max(lo, min(d, largest_diameter(volume_fraction, dim)))


def neighbour_pairs(design: Design, table: MaterialTable, target: float, dim: int, sample: int, *, k: int = 4,
                    normalization=None) -> list[PairCandidate]:
    """Pairs of the ``k`` materials nearest to each of the sample's two phases (its mixture means, in
    normalized (E, ν, ρ)) whose estimated volume fraction for ``target`` lies in the training range,
    nearest first; the sample's own pair first if it qualifies."""
    norm = table.normalization if normalization is None else normalization
    means = design.diagnostics.get("gmm_means")
    if not means or len(means) < 2:
        return []
    props = norm.normalize(np.stack([table.E, table.nu, table.rho], -1))
    dist = [np.linalg.norm(props - norm.normalize(np.asarray(m, dtype=np.float64)), axis=1) for m in means[:2]]
    near = [np.argsort(d, kind="stable")[:k] for d in dist]
    K, G = _moduli(table.E, table.nu, dim)
    out = []
    for i in near[0]:
        for j in near[1]:
            if i == j or (table.E[i] == table.E[j] and table.nu[i] == table.nu[j]):
                continue
            f = float(volume_fraction_estimate(target, K[i], G[i], K[j], dim))
            if _in_range(np.array(f), dim):
                own = table[int(i)].name == design.matrix.name and table[int(j)].name == design.particle.name
                out.append((not own, dist[0][i] + dist[1][j], PairCandidate(
                    int(i), int(j), f, design_diameter(design.diameter, f, dim), "sample" if own else "neighbour",
                    sample)))
    return [c for *_, c in sorted(out, key=lambda t: (t[0], t[1]))]


def physics_pairs(table: MaterialTable, target: float, dim: int, *, limit: int = 200) -> list[PairCandidate]:
    """Up to ``limit`` pairs of the whole table whose estimated volume fraction for ``target`` lies in the
    training range, those nearest the middle of the range first (the estimate's error matters least
    there), at most two per matrix material (distinct designs); the diameter is the middle of its range."""
    K, G = _moduli(table.E, table.nu, dim)
    f = volume_fraction_estimate(target, K[:, None], G[:, None], K[None, :], dim)
    same = (table.E[:, None] == table.E[None, :]) & (table.nu[:, None] == table.nu[None, :])
    ok = _in_range(f, dim) & ~same
    mid = 0.5 * sum(VOLUME_FRACTION_RANGE[dim])
    rows, cols = np.nonzero(ok)
    order = np.lexsort((table.rho[rows] + table.rho[cols], np.abs(f[rows, cols] - mid)))
    per_matrix: dict[int, int] = {}
    out = []
    d_mid = 0.5 * sum(DIAMETER_RANGE[dim])
    for i, j in zip(rows[order], cols[order]):
        if per_matrix.get(int(i), 0) >= 2:
            continue
        per_matrix[int(i)] = per_matrix.get(int(i), 0) + 1
        vf = float(f[i, j])
        out.append(PairCandidate(int(i), int(j), vf, design_diameter(d_mid, vf, dim), "physics"))
        if len(out) >= limit:
            break
    return out


def window(volume_fraction: float, dim: int, width: float = 0.3) -> tuple[float, float]:
    """The refinement's search interval around an estimated volume fraction (±``width`` relative),
    inside the training range."""
    lo, hi = VOLUME_FRACTION_RANGE[dim]
    return max(lo, volume_fraction * (1.0 - width)), min(hi, volume_fraction * (1.0 + width))


WINDOW = {2: 0.3, 3: 0.6}
"""Relative half-width of closure's vf search around the estimate: the 3D composite at 32 voxels per cell
is up to ~25 % stiffer than the estimate at high contrast (docs/physics.md), 2D within ~3 %."""

SEARCHES = ("both", "model", "physics")
"""Where closure takes its material pairs from: the samples' neighbourhoods, the whole table, or both."""


SEM_SHARE = 0.25
"""Closure verifies a chosen design on fresh arrangements until the standard error is below this share of
the tolerance (at most 4·verify_n arrangements), so that "found" rarely rests on noise."""


def closure_queue(candidates: list[Candidate], table: MaterialTable, target: float, dim: int, search: str,
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


def close(candidates: list[Candidate], queue, table: MaterialTable, target: float, *, dim: int, size: int,
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
        r = refine_volume_fraction(start, target, size=size, dim=dim, n=verify_n,
                                   seed=search_seed(seed, k, closure=True), vf_min=lo, vf_max=hi,
                                   definition=definition, fresh_seed=arrangement_seed(seed, k, "closure"),
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
