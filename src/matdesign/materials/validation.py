"""Physical validity of material properties (E [GPa], ν [-], ρ [g/cm³]).

One rule set serves the CSV reader (cell by cell, for row/column messages) and
:func:`validate_properties` (whole arrays, used by other packages).
"""

from __future__ import annotations

import math

import numpy as np

from matdesign.errors import InputError

#: Upper plausibility limits: stiffer/denser than any real solid means wrong units
#: (diamond E ≈ 1050–1220 GPa, osmium ρ ≈ 22.6 g/cm³).
E_MAX_PLAUSIBLE = 1500.0
RHO_MAX_PLAUSIBLE = 30.0

MATERIAL_COLUMNS = ("E", "nu", "rho")


def value_problem(prop: str, value: float) -> str | None:
    """Why ``value`` is not a valid ``prop`` ("E", "nu" or "rho"), or None when it is."""
    if not math.isfinite(value):
        return f"{value} is not a finite number"
    if prop == "E":
        if value <= 0:
            return f"Young's modulus must be > 0 GPa, got {value:g}"
        if value > E_MAX_PLAUSIBLE:
            return (f"Young's modulus {value:g} GPa exceeds any real material "
                    f"(limit {E_MAX_PLAUSIBLE:g} GPa); E must be given in GPa")
    elif prop == "nu":
        if not -1.0 < value < 0.5:
            return f"Poisson ratio must lie in (-1, 0.5), got {value:g}"
    elif prop == "rho":
        if value <= 0:
            return f"density must be > 0 g/cm³, got {value:g}"
        if value > RHO_MAX_PLAUSIBLE:
            return (f"density {value:g} g/cm³ exceeds any real material "
                    f"(limit {RHO_MAX_PLAUSIBLE:g} g/cm³); ρ must be given in g/cm³, not kg/m³")
    else:
        raise ValueError(f"unknown property {prop!r}")
    return None


def validate_properties(E, nu, rho, where: str = "materials") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check arrays of E [GPa], ν, ρ [g/cm³] and return them as broadcast float64 arrays.

    Accepts scalars, sequences, numpy arrays or torch tensors. Raises :class:`InputError`
    naming ``where``, the property, the first bad index and value, and how many are bad.
    """
    arrays = []
    for prop, values in zip(MATERIAL_COLUMNS, (E, nu, rho)):
        if hasattr(values, "detach"):  # torch tensor
            values = values.detach().cpu().numpy()
        try:
            arrays.append(np.asarray(values, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise InputError(f"{where}: {prop} is not numeric ({err})") from None
    try:
        arrays = np.broadcast_arrays(*arrays)
    except ValueError:
        shapes = ", ".join(f"{p} {a.shape}" for p, a in zip(MATERIAL_COLUMNS, arrays))
        raise InputError(f"{where}: E, nu, rho have incompatible shapes ({shapes})") from None
    for prop, values in zip(MATERIAL_COLUMNS, arrays):
        bad = _bad_mask(prop, values)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            label = f"{prop}[{', '.join(map(str, first))}]" if first else prop
            reason = value_problem(prop, float(values[first]))
            raise InputError(f"{where}: {label}: {reason} ({int(bad.sum())} bad value(s) in {prop})")
    return tuple(np.array(a) for a in arrays)


def _bad_mask(prop: str, values: np.ndarray) -> np.ndarray:
    """Vectorised twin of :func:`value_problem`: True where ``values`` are invalid."""
    with np.errstate(invalid="ignore"):
        if prop == "E":
            ok = (values > 0) & (values <= E_MAX_PLAUSIBLE)
        elif prop == "nu":
            ok = (values > -1.0) & (values < 0.5)
        else:
            ok = (values > 0) & (values <= RHO_MAX_PLAUSIBLE)
    return ~(ok & np.isfinite(values))
