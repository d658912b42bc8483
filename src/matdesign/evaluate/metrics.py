"""Per-target metrics of a batch of designs (sec. 6.2, Table 1, Table 3b, Table 4)."""

from __future__ import annotations

import math

import numpy as np

from matdesign.errors import InputError
from matdesign.verification.verify import density
from matdesign.materials import chunk_index
from matdesign.microstructure import Design
from matdesign.pipeline.results import Candidate

MARGINS = (0.01, 0.05)
"""Relative-error margins of the frac/cov metrics."""


def relative_error(K, target: float) -> np.ndarray:
    """ε_r = |K − K*| / K* (nan where K is nan)."""
    return np.abs(np.asarray(K, dtype=np.float64) - target) / target


def design_chunks(design: Design) -> set[int]:
    """Material chunks a design uses: the matrix's, and the particle's when vf > 0."""
    used = [design.matrix] + ([design.particle] if design.volume_fraction > 0 else [])
    return {int(chunk_index(m.E, m.nu, m.rho)) for m in used}


def metrics(records: list[Candidate], target: float, table) -> dict[str, float]:
    """Metrics of the ``records`` generated for one target K* [GPa] (``table``: MaterialTable).

    For each margin m in 1 %, 5 % (key suffix ``_1`` / ``_5``): ``frac`` = fraction of all records
    with ε_r(K_θ) < m (failed verifications count as misses); ``cov`` = number of distinct material
    chunks used by those records (matrix and particle chunks pooled) / number of non-empty chunks of
    ``table``; ``rho_avg`` = their mean density (nan if none); ``frac_sample`` the
    same fraction for K_s (each candidate's ``value_s``) when any record has it. Over all records: ``V_m``, ``d_m``
    (means of the backprojection diagnostics), ``rho_avg``, ``eps_median`` (nan-aware median ε_r),
    ``valid`` (fraction of valid backprojections), ``n``.
    """
    if not records:
        raise InputError(f"metrics: no records for target {target}")
    if not target > 0:
        raise InputError(f"target={target!r}: must be a bulk modulus > 0")
    eps = relative_error([r.verification.K for r in records], target)
    rho = np.array([density(r.design) for r in records])
    n_chunks = len(table.nonempty_chunks())
    out = {"target": float(target), "n": len(records)}
    for margin in MARGINS:
        key = f"_{round(margin * 100)}"
        hit = eps < margin  # nan compares False
        chunks = set().union(*(design_chunks(r.design) for r, h in zip(records, hit) if h))
        out["frac" + key] = float(hit.mean())
        out["cov" + key] = len(chunks) / n_chunks
        out["rho_avg" + key] = float(rho[hit].mean()) if hit.any() else math.nan
        values = np.array([r.value_s for r in records])
        if np.isfinite(values).any():
            out[f"frac_sample{key}"] = float((relative_error(values, target) < margin).mean())
    out["rho_avg"] = float(rho.mean())
    out["V_m"] = float(np.mean([r.design.diagnostics.get("V_m", math.nan) for r in records]))
    out["d_m"] = float(np.mean([r.design.diagnostics.get("d_m", math.nan) for r in records]))
    out["eps_median"] = float(np.nanmedian(eps)) if np.isfinite(eps).any() else math.nan
    out["valid"] = float(np.mean([bool(r.design.diagnostics.get("valid", True)) for r in records]))
    return out
