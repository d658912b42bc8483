"""Find equal-sized circular/spherical particles in a binary mask (supplementary section B).

Voxel ``i`` covers ``[i, i + 1)`` in voxel units, its centre is ``i + 0.5``; the cell boundary
counts as background (the mask is padded with zeros before the Euclidean distance transform), so a
particle cut by the boundary gets a truncated distance and is flagged as touching it.

Two ways to find centres (``method``):

* ``"paper"``: Lee skeleton points, thinned by the paper's rule (visiting points by decreasing
  distance d_i, drop every other point within d_i); count = number of points left, radius = their
  median distance.
* ``"edt"`` (default, see docs/backprojection.md): local maxima of the distance transform, thinned
  the same way within 1.5·d_i, dropping maxima below half the largest distance (necks between
  touching particles, specks); count = maxima left; radius = equivalent radius of the particle
  volume per particle (exact up to voxelization for a centre-in voxelized ball, while the EDT
  maximum underestimates the radius by ~0.3 voxel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from skimage.morphology import skeletonize

#: A case whose foreground covers more than this fraction of the boundary voxels is skipped:
#: particles never cut the cell boundary, so such a phase must be the matrix.
MAX_BOUNDARY_FRACTION = 0.5
#: Candidate centres at most this far (voxels) from the background are spurs or specks.
MIN_CENTER_DISTANCE = 1.0
#: ``"edt"``: suppression radius factor and minimum distance relative to the largest one.
SUPPRESS_FACTOR = 1.5
MIN_RELATIVE_DISTANCE = 0.5
#: A case is skipped as "not particle-shaped" when its volume per particle exceeds this multiple of
#: a ball of radius (mean centre distance + 1 voxel); clean voxelized balls stay below 1.
MAX_SHAPE_RATIO = 2.0
METHODS = ("edt", "paper")


@dataclass(frozen=True)
class ParticleFit:
    """Particles found in one candidate particle mask (lengths in voxels).

    ``centers`` (k, dim) voxel coordinates, ``distances`` (k,) their distance to the background,
    ``radius`` the radius estimate of one particle, ``touching_each_other`` (some connected
    component holds several centres), ``touching_boundary`` (foreground on the cell boundary),
    ``skipped`` why the case is unusable (``""`` if usable).
    """

    centers: np.ndarray
    distances: np.ndarray
    radius: float
    touching_each_other: bool
    touching_boundary: bool
    skipped: str = ""

    @property
    def count(self) -> int:
        return len(self.distances)

    @property
    def radius_variance(self) -> float:
        """Variance of the centre distances [voxels²]: the paper's case-selection score."""
        return float(np.var(self.distances)) if self.count else float("nan")


def boundary_fraction(mask: np.ndarray) -> float:
    """Fraction of the boundary voxels (edges in 2D, faces in 3D) that are foreground."""
    edge = np.ones(mask.shape, bool)
    edge[(slice(1, -1),) * mask.ndim] = False
    return float(mask[edge].mean())


def suppress_non_maxima(points: np.ndarray, distances: np.ndarray, factor: float = 1.0) -> np.ndarray:
    """Indices of the points kept when, visiting points by decreasing distance d_i, each kept
    point removes every other point within ``factor``·d_i (ties: earlier index wins)."""
    order = np.argsort(-distances, kind="stable")
    tree = cKDTree(points)
    removed = np.zeros(len(points), bool)
    kept = []
    for i in order:
        if removed[i]:
            continue
        kept.append(i)
        removed[tree.query_ball_point(points[i], factor * distances[i])] = True
    return np.asarray(kept, dtype=int)


def find_particles(mask: np.ndarray, method: str = "edt") -> ParticleFit:
    """Treat ``mask`` (bool, 2D or 3D) as the particle phase and locate its particles."""
    mask = np.asarray(mask, bool)
    dim = mask.ndim
    none = (np.zeros((0, dim)), np.zeros(0), float("nan"), False)
    if not mask.any():
        return ParticleFit(*none, False, "empty")
    fraction = boundary_fraction(mask)
    if fraction > MAX_BOUNDARY_FRACTION:
        return ParticleFit(*none, True, "covers boundary")
    distance = ndi.distance_transform_edt(np.pad(mask, 1))[(slice(1, -1),) * dim]
    if method == "paper":
        candidates = skeletonize(mask, method="lee").astype(bool)
    else:
        candidates = mask & (distance == ndi.maximum_filter(distance, size=3))
    points = np.argwhere(candidates & (distance > MIN_CENTER_DISTANCE))
    if len(points) == 0:
        return ParticleFit(*none, fraction > 0, "no centres")
    d = distance[tuple(points.T)]
    kept = suppress_non_maxima(points.astype(float), d, 1.0 if method == "paper" else SUPPRESS_FACTOR)
    points, d = points[kept], d[kept]
    labels, _ = ndi.label(mask)
    owners = labels[tuple(points.T)]
    if method == "paper":
        radius = float(np.median(d))
    else:
        keep = d >= MIN_RELATIVE_DISTANCE * d.max()
        points, d, owners = points[keep], d[keep], owners[keep]
        volume = np.isin(labels, owners).sum() / len(d)
        radius = float(np.sqrt(volume / np.pi) if dim == 2 else np.cbrt(0.75 * volume / np.pi))
    touching = bool(np.bincount(owners).max() > 1)
    per_particle = np.isin(labels, owners).sum() / len(d)
    if per_particle > MAX_SHAPE_RATIO * _ball_volume(d.mean() + 1.0, dim):
        return ParticleFit(*none, fraction > 0, "not particle-shaped")
    return ParticleFit(points + 0.5, d, radius, touching, fraction > 0)


def _ball_volume(radius: float, dim: int) -> float:
    return math.pi * radius**2 if dim == 2 else 4.0 / 3.0 * math.pi * radius**3


def choose_particle_phase(labels: np.ndarray, method: str = "edt") -> tuple[int, dict[int, ParticleFit]]:
    """Try both labels of a 0/1 grid as the particle phase; return the chosen label (-1 if neither
    case is usable) and both fits. Among usable cases the lower variance of the centre distances
    wins (the paper's rule); a tie goes to the phase with fewer voxels."""
    if method not in METHODS:
        raise ValueError(f"method={method!r}: expected one of {METHODS}")
    fits = {k: find_particles(labels == k, method) for k in (0, 1)}
    usable = [k for k in (0, 1) if not fits[k].skipped]
    if not usable:
        return -1, fits
    return min(usable, key=lambda k: (fits[k].radius_variance, int((labels == k).sum()))), fits
