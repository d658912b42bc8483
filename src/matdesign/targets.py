"""Target lists as users write them (``--targets 40,120,250``), parsed without heavy imports."""

from __future__ import annotations

from matdesign.errors import InputError


def parse_target_list(spec: str) -> list[float]:
    """The numbers of a comma-separated target list "K1,K2,…" [GPa]; InputError if one is not a number or
    none is given (ranges are checked by the caller)."""
    try:
        values = [float(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"--targets {spec!r}: expected dataset, paper or comma-separated numbers (GPa)") from None
    if not values:
        raise InputError("--targets: no target given")
    return values
