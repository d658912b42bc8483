"""Targets and inputs of a design run, checked before any compute is spent: the material table, the
target's reachable range and the one-target rule of the public API."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from matdesign.errors import InputError
from matdesign.fem import bulk_from_young
from matdesign.fem.moduli import young_poisson
from matdesign.materials import MaterialTable
from matdesign.verification import PROPERTIES, check_property


POISSON_TARGET_RANGE = (-1.0, 0.5)
"""Open interval a ν target must lie in: the Poisson ratio of an isotropic 3D solid with K, G > 0 (the guidance
objective's own per-dimension range is :data:`matdesign.guidance.objectives.POISSON_RANGE`)."""


def resolve_table(materials: str | Path | MaterialTable | None) -> MaterialTable:
    """The material table of a run: a CSV path (validated), a MaterialTable, or None → the built-in table."""
    if isinstance(materials, (str, Path)):
        return MaterialTable.from_csv(materials)
    return materials if materials is not None else MaterialTable.builtin()


def reachable_range(table: MaterialTable, dim: int, prop: str = "K") -> tuple[float, float]:
    """[min, max] of ``prop`` over the two-phase composites of the table (GPa; ν dimensionless).

    K, G: the phases' extremes (the effective K and isotropic G lie between the Reuss and Voigt
    bounds, which lie between the phase moduli); E, increasing in K and G: [E(K_min, G_min),
    E(K_max, G_max)]; ν: the phases' extremes — a documented rule, not a bound (a pair's ν can fall
    slightly outside the pair's own range; docs/objectives.md).
    """
    E, nu = np.asarray(table.E, dtype=np.float64), np.asarray(table.nu, dtype=np.float64)
    if prop == "nu":
        return float(nu.min()), float(nu.max())
    K, G = bulk_from_young(E, nu, dim), E / (2.0 * (1.0 + nu))
    if prop == "E":
        return float(young_poisson(K.min(), G.min(), dim)[0]), float(young_poisson(K.max(), G.max(), dim)[0])
    x = K if prop == "K" else G
    return float(np.min(x)), float(np.max(x))


def choose_target(target: float | None, target_K: float | None, prop: str, *,
                  names: tuple[str, str] = ("target", "target_K")) -> float:
    """The one target given: ``target`` (of ``prop``) or ``target_K`` (a K target, only with ``prop`` K);
    ``names`` are how the caller spells the two options in its error messages."""
    name, name_K = names
    if (target is None) == (target_K is None):
        raise InputError(f"give the target once: {name_K} K* or {name} X* (with the property)")
    if target_K is not None and prop != "K":
        raise InputError(f"{name_K} is a bulk-modulus target; for property {prop} use {name}")
    return target if target is not None else target_K


def check_target(target: float, table: MaterialTable, dim: int, prop: str = "K") -> float:
    """Validate a target of ``prop`` (default K* [GPa]) before any compute is spent."""
    check_property(prop)
    symbol, _, unit = PROPERTIES[prop]
    try:
        value = float(target)
    except (TypeError, ValueError):
        raise InputError(f"target {symbol}={target!r}: not a number") from None
    if prop == "nu" and not (math.isfinite(value) and POISSON_TARGET_RANGE[0] < value < POISSON_TARGET_RANGE[1]):
        raise InputError(f"target ν={target}: must lie in ({POISSON_TARGET_RANGE[0]:g}, {POISSON_TARGET_RANGE[1]:g})")
    if prop != "nu" and (not math.isfinite(value) or value <= 0):
        raise InputError(f"target {symbol}={target}: must be a positive number of GPa")
    lo, hi = reachable_range(table, dim, prop)
    if not lo <= value <= hi:
        unit = f" {unit}" if unit else ""
        raise InputError(f"target {symbol}={value:g}{unit} is outside the range the material table can reach "
                         f"in {dim}D: {lo:.3g}–{hi:.3g}{unit}")
    return value
