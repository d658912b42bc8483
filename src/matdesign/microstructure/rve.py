"""Periodic representative volume elements (RVEs): L×…×L design cells, periodic placement and voxels."""

from __future__ import annotations

import math

import numpy as np

from matdesign.errors import InputError
from matdesign.validate import check_integers
from matdesign.materials import Material
from matdesign.microstructure.generate import _check, generate
from matdesign.microstructure.periodic import METHODS, place_periodic, rounded_count
from matdesign.microstructure.structure import Microstructure
from matdesign.microstructure.voxelize import voxelize

PLACEMENTS = METHODS + ("paper",)


def voxelize_periodic(centers: np.ndarray, radius: float, size: int) -> np.ndarray:
    """Boolean mask (size,)*dim of the periodic unit cell (:func:`voxelize` with wrapping indices)."""
    return voxelize(centers, radius, size, periodic=True)


def generate_rve(
    matrix: Material,
    particle: Material,
    *,
    diameter: float,
    volume_fraction: float,
    cells: int = 1,
    size_per_cell: int = 64,
    dim: int = 2,
    rng: np.random.Generator | None = None,
    placement: str = "equilibrated",
    n_particles: int | None = None,
    min_gap: float = 0.0,
) -> Microstructure:
    """Random periodic RVE of ``cells`` (L) design cells per axis on (size_per_cell·L)^dim voxels.

    ``diameter`` is relative to ONE design cell, so particle and voxel sizes do not depend on L.
    The count is round-half-up(volume_fraction · L^dim / particle area|volume) unless
    ``n_particles`` is given. ``placement``: ``"equilibrated"`` (default) or ``"rsa"`` (periodic,
    minimum-image distances >= diameter, voxels wrap around), or ``"paper"`` (the push-apart inside
    walls of :func:`generate`, L = 1 only). The returned Microstructure describes the whole RVE as
    its unit cell: ``centers`` in [0, 1)^dim and ``radius`` are relative to the RVE side (multiply by
    L for design-cell units). ``min_gap``: smallest matrix gap between two particle surfaces, in design-cell
    units (periodic placements; e.g. one voxel, 1/size_per_cell, so that no two particles merge on the
    voxel grid). Raises InputError for invalid or impossible requests.
    """
    if placement not in PLACEMENTS:
        raise InputError(f"placement={placement!r}: must be one of {PLACEMENTS}")
    check_integers(cells=cells)
    rng = np.random.default_rng() if rng is None else rng
    if placement == "paper":
        if cells != 1:
            raise InputError(f"placement='paper' has walls and needs cells=1, got cells={cells}")
        return generate(matrix, particle, diameter=diameter, volume_fraction=volume_fraction,
                        size=size_per_cell, dim=dim, rng=rng, n_particles=n_particles)
    _check(matrix, particle, diameter, volume_fraction, size_per_cell, dim, n_particles)
    radius = float(diameter) / 2.0
    if n_particles is None:
        if volume_fraction > 0 and radius == 0:
            raise InputError(f"diameter=0 with volume_fraction={volume_fraction}: particles need a diameter")
        n_particles = 0 if volume_fraction == 0 else rounded_count(volume_fraction, radius, dim, cells)
    elif n_particles > 0 and radius == 0:
        raise InputError(f"diameter=0 with n_particles={n_particles}: particles need a diameter")
    if not (math.isfinite(min_gap) and min_gap >= 0):
        raise InputError(f"min_gap={min_gap!r}: must be a finite number >= 0")
    hard = radius + 0.5 * min_gap if radius > 0 else 0.0  # the particles keep their hard cores apart
    centers = place_periodic(int(n_particles), hard, dim, float(cells), rng, placement) / cells
    mask = voxelize_periodic(centers, radius / cells, size_per_cell * cells)
    fields = np.stack(
        [np.where(mask, getattr(particle, p), getattr(matrix, p)) for p in ("E", "nu", "rho")]
    ).astype(np.float32)
    return Microstructure(fields, mask, centers, radius / cells, float(mask.mean()), matrix, particle)
