"""One isotropic linear-elastic material."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Material:
    """A real material: Young's modulus ``E`` [GPa], Poisson ratio ``nu`` [-], density ``rho`` [g/cm³]."""

    name: str
    E: float
    nu: float
    rho: float
    category: str = ""
    source: str = ""
