"""Sample quality of a diffusion model: how many samples backproject to a valid two-phase
design, and how far their bulk-modulus distribution lies from the training data's.

A backprojected design is a **valid two-phase design** when none of these holds (first one wins,
see :func:`degeneracy`):

* ``no_particles`` / ``all_particle``: backprojection flags that make ``diagnostics["valid"]``
  false (no usable particle phase; particle phase above the densest packing);
* ``one_phase``: the mixture found one material only (a homogeneous design, vf = 0);
* ``same_material``: two phases were found but both map to the same table material.

The other flags (``touching_particles``, ``touching_boundary``, ``gmm_not_converged``) keep a
design valid, as in :func:`matdesign.backproject.backproject`.

Distances are 1-D Wasserstein-1 distances (``scipy.stats.wasserstein_distance``) between two samples
of K, in GPa, or of log₁₀ K, in decades (K spans 1e-3 … 300 GPa, so the log scale weighs soft and
stiff composites alike).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy.stats import wasserstein_distance

from matdesign.errors import InputError
from matdesign.microstructure import Design
from matdesign.pipeline.candidates import backprojected_candidates, verify_candidates

DEGENERATE = ("no_particles", "all_particle", "one_phase", "same_material")
"""Reasons a design is not a valid two-phase design, in the order :func:`degeneracy` checks them."""


def degeneracy(design: Design) -> str:
    """Why a backprojected ``design`` is not a valid two-phase design (one of :data:`DEGENERATE`),
    or ``""`` if it is one."""
    flags = design.diagnostics.get("flags", [])
    for flag in DEGENERATE[:3]:
        if flag in flags:
            return flag
    return "same_material" if design.matrix == design.particle else ""


def valid_fraction(designs: list[Design]) -> float:
    """Fraction of ``designs`` that are valid two-phase designs."""
    if not designs:
        raise InputError("valid_fraction: no designs")
    return float(np.mean([degeneracy(d) == "" for d in designs]))


def _checked_K(K, name: str, log: bool) -> np.ndarray:
    K = np.asarray(K, dtype=np.float64).ravel()
    if K.size == 0:
        raise InputError(f"{name}: no K values")
    if not np.isfinite(K).all():
        raise InputError(f"{name}: K values must be finite (drop failed samples first)")
    if log:
        if (K <= 0).any():
            raise InputError(f"{name}: log10 K needs K > 0, got min {K.min():g}")
        return np.log10(K)
    return K


def k_distance(a, b, *, log: bool = False) -> float:
    """Wasserstein-1 distance between the K samples ``a`` and ``b`` [GPa]: in GPa, or with
    ``log=True`` between their log₁₀ K, in decades. Values must be finite (and > 0 for ``log``)."""
    return float(wasserstein_distance(_checked_K(a, "a", log), _checked_K(b, "b", log)))


def noise_floor(reference, fresh, n: int, *, draws: int = 200, rng: np.random.Generator,
                log: bool = False) -> np.ndarray:
    """(draws,) distances :func:`k_distance` between ``reference`` and random size-``n`` subsets
    (without replacement) of ``fresh``, an independent sample of the same distribution: what a
    perfect model with ``n`` samples would score."""
    fresh = np.asarray(fresh, dtype=np.float64).ravel()
    if not 1 <= n <= fresh.size:
        raise InputError(f"noise_floor: n={n} must be in [1, {fresh.size}] (the fresh sample's size)")
    return np.array([k_distance(reference, rng.choice(fresh, n, replace=False), log=log)
                     for _ in range(int(draws))])


@dataclass
class SampleEvaluation:
    """Backprojection and FEM of a batch of samples.

    ``designs`` (B,) backprojected designs; ``reasons`` (B,) :func:`degeneracy` of each;
    ``K_sample`` (B,) FEM K of each field itself [GPa]; ``K_design`` (B,) K of each valid two-phase
    design on one fresh random arrangement of the paper's cell, the training data's definition [GPa]
    (nan for the others and for designs whose particles cannot be placed).
    """

    designs: list[Design]
    reasons: list[str]
    K_sample: np.ndarray
    K_design: np.ndarray

    @property
    def valid_fraction(self) -> float:
        return float(np.mean([r == "" for r in self.reasons]))

    def counts(self) -> dict[str, int]:
        """Number of designs per reason of :data:`DEGENERATE`, ``valid`` and ``unplaceable``
        (valid designs whose verification failed)."""
        c = Counter(self.reasons)
        out = {"valid": c[""], **{r: c[r] for r in DEGENERATE}}
        out["unplaceable"] = int(sum(r == "" and not np.isfinite(k) for r, k in zip(self.reasons, self.K_design)))
        return out


def evaluate_samples(fields, table, normalization, *, seed: int = 0, progress: bool = False) -> SampleEvaluation:
    """Backproject every sample of ``fields`` (B, 3, *grid), physical units (E [GPa], ν, ρ [g/cm³]),
    onto ``table`` in the model's ``normalization``, and compute both Ks (see :class:`SampleEvaluation`).

    Mixture fits draw from ``default_rng(seed)`` (as the design pipeline does); the arrangement of
    sample i from ``default_rng([seed, i])``.
    """
    x = fields.detach().cpu().numpy() if hasattr(fields, "detach") else np.asarray(fields)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim not in (4, 5) or x.shape[1] != 3:
        raise InputError(f"fields: expected (B, 3, *grid) with a 2D or 3D grid, got {x.shape}")
    dim, size = x.ndim - 2, x.shape[-1]
    candidates = backprojected_candidates(x, table, normalization, seed=seed, batch=16, progress=progress)
    reasons = [degeneracy(c.design) for c in candidates]
    verify_candidates(candidates, size=size, dim=dim, n=1, seed=seed, definition="cell",
                      skip=lambda c: degeneracy(c.design) != "", progress=progress)
    K_design = np.array([c.verification.K if c.verification is not None else np.nan for c in candidates])
    K_sample = np.array([c.value_s for c in candidates])
    return SampleEvaluation([c.design for c in candidates], reasons, K_sample, K_design)
