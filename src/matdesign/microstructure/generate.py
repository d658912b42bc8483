"""Build a voxelized microstructure from two materials, a particle diameter and a volume fraction."""

from __future__ import annotations

import math

import numpy as np

from matdesign.errors import InputError
from matdesign.validate import check_dim, check_integers
from matdesign.materials import Material
from matdesign.microstructure.placement import particle_volume, place_particles
from matdesign.microstructure.structure import Microstructure
from matdesign.microstructure.voxelize import voxelize


def generate(
    matrix: Material,
    particle: Material,
    *,
    diameter: float,
    volume_fraction: float,
    size: int = 64,
    dim: int = 2,
    rng: np.random.Generator | None = None,
    n_particles: int | None = None,
) -> Microstructure:
    """Random microstructure on a ``size``^``dim`` grid over the unit square/cube.

    The particle count is round(volume_fraction / particle area|volume) unless ``n_particles``
    is given (e.g. for stochastic rounding); particles do not overlap and stay inside the cell.
    ``rng=None`` draws fresh OS entropy. Raises InputError for invalid or infeasible requests.
    """
    _check(matrix, particle, diameter, volume_fraction, size, dim, n_particles)
    radius = float(diameter) / 2.0
    if n_particles is None:
        n_particles = 0 if volume_fraction == 0 else _rounded_count(volume_fraction, radius, dim)
    elif n_particles > 0 and radius == 0:
        raise InputError(f"diameter=0 with n_particles={n_particles}: particles need a diameter")
    rng = np.random.default_rng() if rng is None else rng
    centers = place_particles(int(n_particles), radius, dim, rng)
    mask = voxelize(centers, radius, size)
    fields = np.stack(
        [np.where(mask, getattr(particle, p), getattr(matrix, p)) for p in ("E", "nu", "rho")]
    ).astype(np.float32)
    return Microstructure(fields, mask, centers, radius, float(mask.mean()), matrix, particle)


def _rounded_count(volume_fraction: float, radius: float, dim: int) -> int:
    """The paper's particle count: the quotient volume fraction / particle size, rounded half up."""
    if radius == 0:
        raise InputError(
            f"diameter=0 with volume_fraction={volume_fraction}: particles need a diameter"
        )
    return math.floor(volume_fraction / particle_volume(radius, dim) + 0.5)


def _check(matrix, particle, diameter, volume_fraction, size, dim, n_particles) -> None:
    """Raise InputError naming the first invalid argument."""
    for name, value in (("matrix", matrix), ("particle", particle)):
        if not isinstance(value, Material):
            raise InputError(f"{name}={value!r}: expected a matdesign.materials.Material")
    check_dim(dim)
    check_integers(low=2, size=size)
    if not (isinstance(diameter, (int, float, np.number)) and math.isfinite(diameter) and diameter >= 0):
        raise InputError(f"diameter={diameter!r}: must be a finite number >= 0")
    if not (
        isinstance(volume_fraction, (int, float, np.number))
        and math.isfinite(volume_fraction)
        and 0 <= volume_fraction <= 1
    ):
        raise InputError(f"volume_fraction={volume_fraction!r}: must be in [0, 1]")
    if n_particles is not None:
        check_integers(low=0, n_particles=n_particles)
