"""The buildable design: two real materials, a particle diameter and a volume fraction."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from matdesign.materials import Material
from matdesign.microstructure.placement import particle_volume


@dataclass
class Design:
    """Matrix and particle materials, particle ``diameter`` and ``volume_fraction``, both relative
    to the unit square/cube; ``diagnostics`` holds free-form provenance (e.g. table indices)."""

    matrix: Material
    particle: Material
    diameter: float
    volume_fraction: float
    diagnostics: dict = field(default_factory=dict)

    def expected_particle_count(self, dim: int) -> float:
        """volume_fraction / (π r² in 2D, 4/3 π r³ in 3D), unrounded; inf for a zero diameter."""
        if self.volume_fraction == 0:
            return 0.0
        if self.diameter <= 0:
            return math.inf
        return self.volume_fraction / particle_volume(self.diameter / 2.0, dim)
