"""Random non-overlapping placement of equal circles/spheres in the unit square/cube.

The paper's scheme (supp. mat., "Dataset sampling"): draw all centres uniformly so that no particle
crosses the boundary, then repeatedly push every overlapping pair apart along the line between
their centres (plus a small random vector), each particle by half the penetration times 1.5, apply
all pushes at once and check again; after 10,000 unsuccessful iterations start from new positions.
Every iteration is vectorised over all pairs.

Choices the paper leaves open: pushed centres are clipped back into [r, 1 - r]; the random vector
has standard deviation ``NOISE``·r; pairs are pushed towards a distance slightly beyond 2r (without
that, overlaps of particles pinned at a wall shrink geometrically below float resolution and 3D
placements at vf ≥ 0.3 never finish). Provably impossible requests are rejected before iterating.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.distance import pdist

from matdesign.errors import InputError

PUSH_FACTOR = 1.5
MAX_ITERATIONS = 10_000
MAX_ATTEMPTS = 5
NOISE = 0.05
"""Standard deviation of the random vector added to each pair's direction, relative to the radius."""

_CHECK_MARGIN = 1e-9
"""Relative margin on the contact distance 2r so that accepted pairs satisfy ``dist >= 2r`` robustly."""
_PUSH_MARGIN = 1e-6
"""Pairs are pushed towards 2r·(1 + this): a target beyond the check keeps the last, tiny overlaps
(e.g. of a particle pinned at a wall) from shrinking geometrically below float resolution."""

_MAX_DENSITY = {2: math.pi / math.sqrt(12.0), 3: math.pi / math.sqrt(18.0)}
"""Densest packing of equal circles (Thue) and spheres (Kepler/Hales)."""


def particle_volume(radius: float, dim: int) -> float:
    """Area (2D) or volume (3D) of one particle of ``radius``, relative to the unit cell."""
    return math.pi * radius**2 if dim == 2 else 4.0 / 3.0 * math.pi * radius**3


def check_packing(n: int, radius: float, dim: int) -> None:
    """Raise :class:`InputError` when ``n`` particles of ``radius`` provably cannot fit in the cell.

    Checks (any n, so a zero-count design with a wider-than-cell diameter is rejected too):
    one particle wider than the cell; two centres farther apart than the centre box's
    diagonal allows; the density of the densest packing; in 2D Oler's bound
    n <= 2/√3·A + P/2 + 1 for points at mutual distance >= 1 in the centre square scaled by 1/(2r).
    """
    side = 1.0 - 2.0 * radius
    if side < 0:
        raise InputError(f"diameter={2 * radius:.4g}: a single particle is larger than the unit cell")
    what = f"{n} particles of diameter {2 * radius:.4g} in the unit {'square' if dim == 2 else 'cube'}"
    if n >= 2 and 2.0 * radius > math.sqrt(dim) * side:
        raise InputError(f"cannot place {what}: two such particles do not fit without overlap")
    density = n * particle_volume(radius, dim)
    if density > _MAX_DENSITY[dim]:
        raise InputError(
            f"cannot place {what}: volume fraction {density:.3f} exceeds the densest packing "
            f"{_MAX_DENSITY[dim]:.3f}"
        )
    if dim == 2 and n >= 2:
        s = side / (2.0 * radius)
        if n > 2.0 / math.sqrt(3.0) * s * s + 2.0 * s + 1.0:
            raise InputError(f"cannot place {what}: more than fit in the square (Oler's bound)")


def place_particles(
    n: int,
    radius: float,
    dim: int,
    rng: np.random.Generator,
    *,
    max_iterations: int = MAX_ITERATIONS,
    max_attempts: int = MAX_ATTEMPTS,
) -> np.ndarray:
    """Centres (n, dim) in [radius, 1 - radius] with all pairwise distances >= 2·radius.

    Raises :class:`InputError` when the request is geometrically impossible or when
    ``max_attempts`` starts of ``max_iterations`` push-apart iterations each all fail.
    """
    check_packing(n, radius, dim)
    lo, hi = radius, 1.0 - radius
    if n <= 1:
        return rng.uniform(lo, hi, size=(n, dim))
    contact = 2.0 * radius * (1.0 + _CHECK_MARGIN)
    target = 2.0 * radius * (1.0 + _PUSH_MARGIN)
    first, second = np.triu_indices(n, 1)  # the pair order of scipy's condensed pdist
    for _ in range(max_attempts):
        x = rng.uniform(lo, hi, size=(n, dim))
        for _ in range(max_iterations):
            dist = pdist(x)
            hit = np.flatnonzero(dist < contact)
            if hit.size == 0:
                return x
            delta = _push(x, first[hit], second[hit], target - dist[hit], radius, rng)
            x = np.clip(x + delta, lo, hi)
    raise InputError(
        f"could not place {n} non-overlapping particles of diameter {2 * radius:.4g} "
        f"(volume fraction {n * particle_volume(radius, dim):.3f}) in {max_attempts} attempts of "
        f"{max_iterations} iterations: too dense for random placement; lower volume_fraction or diameter"
    )


def _push(x, a, b, depth, radius, rng) -> np.ndarray:
    """Total displacement (n, dim) resolving the overlaps of pairs (a, b) with penetration ``depth``."""
    n, dim = x.shape
    direction = x[a] - x[b] + rng.normal(scale=NOISE * radius, size=(a.size, dim))
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-300)
    step = direction * (0.5 * PUSH_FACTOR * depth)[:, None]
    return np.stack(
        [np.bincount(a, step[:, k], n) - np.bincount(b, step[:, k], n) for k in range(dim)], axis=1
    )
