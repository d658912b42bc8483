"""Ranking of a run's candidates: found designs first, then valid misses, then invalid ones."""

from __future__ import annotations

import math

from matdesign.errors import InputError
from matdesign.pipeline.results import Candidate, DesignResult, probability_within
from matdesign.pipeline.validity import validity_flags
from matdesign.verification import density


def _rank_key(result: DesignResult, c: Candidate, by: str):
    err = result.error(c)
    err = math.inf if math.isnan(err) else err
    rho = density(c.final_design)
    return (not result.found(c), bool(c.flags)) + ((-c.p_within, err, rho) if by == "robust" else (err, rho))


def check_ranking(tolerance: float, rank: str) -> None:
    """InputError unless ``rank`` is "robust" or "error" and ``tolerance`` a fraction in (0, 1)."""
    if rank not in ("robust", "error"):
        raise InputError(f"rank={rank!r}: must be 'robust' or 'error'")
    if not 0 < tolerance < 1:
        raise InputError(f"tolerance={tolerance!r}: must be a fraction in (0, 1), e.g. 0.01")


def rank_candidates(result: DesignResult, tolerance: float, rank: str) -> DesignResult:
    """Set each candidate's P(one arrangement within ±``tolerance``·scale of the target) and validity
    flags, and sort the candidates in place: found designs (valid, distinct, within tolerance) first,
    then valid misses, then invalid ones; inside each group ``rank="robust"`` by that probability, then
    error, then density, ``"error"`` by error, density. Of several candidates with one material pair
    only the best counts; the others are flagged "duplicate"."""
    result.settings.setdefault("tolerance", tolerance)
    for c in result.candidates:
        c.p_within = probability_within(c.final_verification, result.target, tolerance, result.scale)
        c.flags = validity_flags(c.final_design, result.dim, c.final_verification)
    result.candidates.sort(key=lambda c: _rank_key(result, c, rank))
    seen = set()
    for c in result.candidates:
        pair = (c.final_design.matrix.name, c.final_design.particle.name)
        if pair in seen and "duplicate" not in c.flags:
            c.flags.append("duplicate")
        seen.add(pair)
    result.candidates.sort(key=lambda c: _rank_key(result, c, rank))
    return result


def shown_candidates(result: DesignResult, top: int) -> list[Candidate]:
    """The candidates a run shows (and gives paper-cell values): up to ``top`` found designs and the
    closest misses, at least 3 (:func:`matdesign.pipeline.output.shown`)."""
    found = result.found_candidates[:top]
    misses = [c for c in result.candidates if not result.found(c) and "duplicate" not in c.flags]
    return found + misses[: max(3, top - len(found))]
