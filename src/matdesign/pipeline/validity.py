"""Rules a returned design must satisfy (docs/closure.md, "Validity rules").

A design is shown as a design only if it is a real two-phase composite the generator and the model
were built for: two different materials, a diameter and a volume fraction inside the ranges of the
training data, at least :data:`MIN_PARTICLES` particles per design cell on average (fewer make the
property of one cell bimodal: some arrangements hold one particle, some none), and arrangements that
can be placed. Anything else is reported as a miss with its reason.
"""

from __future__ import annotations

import math

from matdesign.verification import Verification
from matdesign.microstructure import Design
from matdesign.microstructure.sampling import DIAMETER_RANGE, VOLUME_FRACTION_RANGE

MIN_PARTICLES = 2.0
"""Smallest expected particle count per design cell of a returned design."""


def validity_flags(design: Design, dim: int, verification: Verification | None = None) -> list[str]:
    """Names of the rules ``design`` breaks (empty: valid): ``same_material``, ``diameter_out_of_range``,
    ``volume_fraction_out_of_range``, ``too_few_particles``, ``not_placeable`` (its verification could
    not place the particles)."""
    flags = []
    m, p = design.matrix, design.particle
    if m.name == p.name or (m.E == p.E and m.nu == p.nu):
        flags.append("same_material")
    lo, hi = DIAMETER_RANGE[dim]
    if not lo - 1e-9 <= design.diameter <= hi + 1e-9:
        flags.append("diameter_out_of_range")
    lo, hi = VOLUME_FRACTION_RANGE[dim]
    if not lo - 1e-9 <= design.volume_fraction <= hi + 1e-9:
        flags.append("volume_fraction_out_of_range")
    count = design.expected_particle_count(dim)
    if not (math.isfinite(count) and count >= MIN_PARTICLES):
        flags.append("too_few_particles")
    if verification is not None and not verification.ok:
        flags.append("not_placeable")
    return flags


def largest_diameter(volume_fraction: float, dim: int) -> float:
    """The largest diameter that keeps :data:`MIN_PARTICLES` particles per design cell at ``volume_fraction``."""
    if dim == 2:
        return 2.0 * math.sqrt(volume_fraction / (MIN_PARTICLES * math.pi))
    return 2.0 * (3.0 * volume_fraction / (4.0 * MIN_PARTICLES * math.pi)) ** (1.0 / 3.0)
