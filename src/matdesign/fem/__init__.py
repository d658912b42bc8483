"""matdesign.fem: voxel FEM homogenization (effective bulk modulus with gradients, stiffness tensor).

Public API: :func:`bulk_modulus` (``definition="paper"``: the official release's uniaxial quantity,
:func:`release_modulus`), :func:`effective_stiffness`, :func:`effective_density`,
:class:`Homogenizer` (stateful, warm-started, batched), moduli helpers (:func:`bulk_from_young`,
:func:`voigt_reuss_bounds`, :func:`isotropic_projection`, :func:`isotropic_stiffness`).
Physics and conventions: docs/physics.md.
"""

from matdesign.fem.homogenize import Homogenizer, bulk_modulus, effective_density, effective_stiffness
from matdesign.fem.moduli import (
    bulk_from_young,
    isotropic_projection,
    isotropic_stiffness,
    lame,
    voigt_reuss_bounds,
)
from matdesign.fem.release import release_modulus

__all__ = [
    "Homogenizer",
    "bulk_from_young",
    "bulk_modulus",
    "effective_density",
    "effective_stiffness",
    "isotropic_projection",
    "isotropic_stiffness",
    "lame",
    "release_modulus",
    "voigt_reuss_bounds",
]
