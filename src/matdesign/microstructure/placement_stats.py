"""Statistics of particle arrangements: near contacts, wall contacts and percolating clusters.

Lengths are in any one unit (e.g. design cells) shared by ``centers``, ``radius``, ``box`` and ``gap``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree


def contact_stats(centers: np.ndarray, radius: float, box: float, gap: float, periodic: bool) -> dict:
    """Pairs whose surfaces are closer than ``gap`` (centre distance < 2·radius + gap), with
    minimum-image distances when ``periodic`` (centres in [0, box)^dim).

    Returns {"pair_fraction": near pairs / all n(n-1)/2 pairs, "per_particle": mean number of
    near neighbours, "particle_fraction": fraction of particles with at least one}.
    """
    x = np.asarray(centers, dtype=np.float64)
    n = len(x)
    if n < 2:
        return {"pair_fraction": 0.0, "per_particle": 0.0, "particle_fraction": 0.0}
    tree = cKDTree(np.mod(x, box), boxsize=box) if periodic else cKDTree(x)
    pairs = tree.query_pairs(2.0 * radius + gap, output_type="ndarray")
    touched = np.zeros(n, dtype=bool)
    touched[pairs.ravel()] = True
    return {
        "pair_fraction": len(pairs) / (n * (n - 1) / 2),
        "per_particle": 2.0 * len(pairs) / n,
        "particle_fraction": float(touched.mean()),
    }


def wall_fraction(centers: np.ndarray, radius: float, box: float, gap: float) -> float:
    """Fraction of particles whose surface is closer than ``gap`` to a face of [0, box]^dim."""
    x = np.asarray(centers, dtype=np.float64)
    if len(x) == 0:
        return 0.0
    clearance = np.minimum(x, box - x).min(axis=1) - radius
    return float(np.mean(clearance < gap))


def spans(mask: np.ndarray) -> bool:
    """True if one face-connected cluster of True voxels touches two opposite faces of the grid."""
    labels, _ = ndimage.label(mask)
    for axis in range(mask.ndim):
        low = np.unique(np.take(labels, 0, axis=axis))
        high = np.unique(np.take(labels, -1, axis=axis))
        if np.intersect1d(low[low > 0], high[high > 0]).size:
            return True
    return False


def wraps(mask: np.ndarray) -> bool:
    """True if a face-connected cluster of the periodic grid wraps around the torus, i.e. joins
    its own periodic image: the infinite cluster of the tiled composite (wrapped percolation)."""
    labels, count = ndimage.label(mask)
    parent = np.arange(count + 1)
    offset = np.zeros((count + 1, mask.ndim), dtype=np.int64)  # position of a label relative to its root

    def find(a):
        path = []
        while parent[a] != a:
            path.append(a)
            a = parent[a]
        for p in reversed(path):  # compress, accumulating offsets towards the root
            offset[p] += offset[parent[p]] if parent[p] != a else 0
            parent[p] = a
        return a

    for axis in range(mask.ndim):
        high, low = np.take(labels, -1, axis=axis).ravel(), np.take(labels, 0, axis=axis).ravel()
        step = np.zeros(mask.ndim, dtype=np.int64)
        step[axis] = 1  # crossing from the last layer to the first moves one cell up along axis
        for a, b in np.unique(np.stack([high, low], 1)[(high > 0) & (low > 0)], axis=0):
            ra, rb = find(a), find(b)
            if ra == rb:
                if np.any(offset[a] + step != offset[b]):
                    return True
            else:  # attach rb under ra so that pos(b) = pos(a) + step
                parent[rb] = ra
                offset[rb] = offset[a] + step - offset[b]
    return False
