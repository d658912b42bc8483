"""Periodic placement of equal non-overlapping circles/spheres in the box [0, L)^dim (no walls).

Lengths are in units of ONE design cell: the box side is ``box`` = L (1, 2, 3, …) and pairs are
disjoint when their minimum-image distance is >= 2r (plus a relative margin of 1e-9). Methods:

- ``"rsa"``: random sequential addition (uniform proposals, each accepted iff it overlaps none of the
  particles already placed), batched and vectorised but exactly equivalent to one-at-a-time RSA.
  It jams at ≈ 0.547 (2D) / ≈ 0.38 (3D) and slows down well before.
- ``"equilibrated"``: the equilibrium hard-disk/sphere ensemble at the requested count: start from RSA
  where it completes within a proposal budget, else from a periodic push-apart of the partial RSA
  plus uniformly drawn remaining centres, then Metropolis displacement sweeps
  (:func:`matdesign.microstructure.hard_mc.hard_particle_mc`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from matdesign.errors import InputError
from matdesign.microstructure.hard_mc import hard_particle_mc
from matdesign.microstructure.placement import _MAX_DENSITY, PUSH_FACTOR, particle_volume

METHODS = ("equilibrated", "rsa")
MARGIN = 1e-9
"""Relative margin on the contact distance 2r."""
RSA_BUDGET = 2000
"""Proposals per particle before ``"rsa"`` gives up (jammed or too slow)."""
START_BUDGET = 50
"""Proposals per particle that ``"equilibrated"`` spends on an RSA start before pushing apart instead."""
SWEEPS = 100
"""Metropolis sweeps (trial moves per particle) of ``"equilibrated"``; see docs/placement.md."""
PUSH_ITERATIONS = 10_000


def check_periodic(n: int, radius: float, dim: int, box: float) -> None:
    """Raise :class:`InputError` when ``n`` particles of ``radius`` cannot be placed periodically in
    a box of side ``box``: a particle wider than the box (it would overlap its own image), two or
    more particles wider than box/2 (the minimum-image convention would miss overlaps), or a
    density above the densest packing."""
    d = 2.0 * radius
    what = f"{n} particles of diameter {d:.4g} in a periodic cell of side {box:g}"
    if d > box:
        raise InputError(f"diameter={d:.4g} exceeds the cell side {box:g}: a particle would overlap its own image")
    if n >= 2 and d > box / 2:
        raise InputError(f"cannot place {what}: periodic placement needs diameter <= cell side / 2")
    density = n * particle_volume(radius, dim) / box**dim
    if density > _MAX_DENSITY[dim]:
        raise InputError(
            f"cannot place {what}: volume fraction {density:.3f} exceeds the densest packing "
            f"{_MAX_DENSITY[dim]:.3f}"
        )


def place_periodic(
    n: int, radius: float, dim: int, box: float, rng: np.random.Generator, method: str = "equilibrated"
) -> np.ndarray:
    """Centres (n, dim) in [0, box)^dim with minimum-image distances >= 2·radius (design-cell units).

    Raises :class:`InputError` for impossible requests and when ``"rsa"`` exhausts its budget.
    """
    if method not in METHODS:
        raise InputError(f"method={method!r}: must be one of {METHODS}")
    check_periodic(n, radius, dim, box)
    if n == 0 or radius == 0:  # nothing to keep apart
        return rng.uniform(0.0, box, (n, dim))
    if method == "rsa":
        x = rsa(n, radius, dim, box, rng, RSA_BUDGET * max(n, 1))
        if len(x) < n:
            raise InputError(
                f"random sequential addition placed only {len(x)} of {n} particles of diameter "
                f"{2 * radius:.4g} (volume fraction {n * particle_volume(radius, dim) / box**dim:.3f}) in "
                f"{RSA_BUDGET} proposals per particle: too dense for RSA; use placement='equilibrated'"
            )
        return x
    x = rsa(n, radius, dim, box, rng, START_BUDGET * max(n, 1))
    if len(x) < n:
        x = push_apart(np.vstack([x, rng.uniform(0.0, box, (n - len(x), dim))]), radius, box, rng)
    return hard_particle_mc(x, radius, box, rng, SWEEPS)[0]


def rsa(n: int, radius: float, dim: int, box: float, rng: np.random.Generator, budget: int) -> np.ndarray:
    """Random sequential addition of up to ``n`` centres with at most ``budget`` proposals.

    Proposals are drawn in batches; a batch keeps those free of the placed particles, then accepts
    them in proposal order unless they overlap an earlier accepted one (the same result as one at a
    time). Returns (k, dim) with k <= n (k < n: the budget ran out).
    """
    contact = 2.0 * radius * (1.0 + MARGIN)
    placed = np.empty((0, dim))
    used, accept_rate = 0, 1.0
    while len(placed) < n and used < budget:
        remaining = n - len(placed)
        batch = int(min(budget - used, max(64, 2 * remaining / accept_rate), 20_000))
        cand = _wrap(rng.uniform(0.0, box, (batch, dim)), box)
        used += batch
        if len(placed):
            dist, _ = cKDTree(placed, boxsize=box).query(cand, distance_upper_bound=contact)
            cand = cand[~(dist < contact)]
        keep = _sequential_accept(cand, contact, box)[:remaining]
        placed = np.vstack([placed, keep])
        accept_rate = max(len(keep) / batch, 1e-4)
    return placed


def _sequential_accept(cand: np.ndarray, contact: float, box: float) -> np.ndarray:
    """Rows of ``cand`` accepted in order, each unless it overlaps an earlier accepted row."""
    if len(cand) < 2:
        return cand
    pairs = cKDTree(cand, boxsize=box).query_pairs(contact, output_type="ndarray")  # i < j
    accepted = np.ones(len(cand), dtype=bool)
    for i, j in pairs[np.argsort(pairs[:, 1], kind="stable")]:  # decisions on i are final before j
        if accepted[i]:
            accepted[j] = False
    return cand[accepted]


def push_apart(x: np.ndarray, radius: float, box: float, rng: np.random.Generator) -> np.ndarray:
    """The paper's push-apart (placement.py) on the torus: every overlapping pair is pushed apart
    along its minimum-image line, each particle by 0.75 × the penetration, until none overlap."""
    n, dim = x.shape
    contact = 2.0 * radius * (1.0 + MARGIN)
    target = 2.0 * radius * (1.0 + 1e-6)
    x = _wrap(x, box)
    for _ in range(PUSH_ITERATIONS):
        pairs = cKDTree(x, boxsize=box).query_pairs(contact, output_type="ndarray")
        if pairs.size == 0:
            return x
        a, b = pairs.T
        diff = x[a] - x[b]
        diff -= box * np.round(diff / box)
        dist = np.linalg.norm(diff, axis=1)
        direction = diff + rng.normal(scale=0.05 * radius, size=diff.shape)
        direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-300)
        step = direction * (0.5 * PUSH_FACTOR * (target - dist))[:, None]
        delta = np.stack([np.bincount(a, step[:, k], n) - np.bincount(b, step[:, k], n) for k in range(dim)], 1)
        x = _wrap(x + delta, box)
    raise InputError(
        f"could not place {n} particles of diameter {2 * radius:.4g} (volume fraction "
        f"{n * particle_volume(radius, dim) / box**dim:.3f}) periodically in {PUSH_ITERATIONS} "
        "push-apart iterations: too dense; lower volume_fraction"
    )


def _wrap(x: np.ndarray, box: float) -> np.ndarray:
    """``x`` modulo ``box``, strictly below ``box`` (cKDTree's periodic box is half-open)."""
    x = np.mod(x, box)
    x[x >= box] = 0.0
    return x


def rounded_count(volume_fraction: float, radius: float, dim: int, box: float) -> int:
    """round-half-up(volume_fraction · box^dim / particle volume): the count that matches the design
    volume fraction over the whole periodic cell."""
    return math.floor(volume_fraction * box**dim / particle_volume(radius, dim) + 0.5)
