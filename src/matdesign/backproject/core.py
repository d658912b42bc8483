"""Backprojection of a relaxed field (3, *grid) onto a buildable :class:`Design` (sec. 5.3, suppl. B)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from matdesign.backproject.mixture import fit_mixture
from matdesign.backproject.particles import METHODS, choose_particle_phase
from matdesign.errors import InputError
from matdesign.materials import Material
from matdesign.microstructure import Design

#: Densest packing of equal discs / balls: a particle phase above it cannot be particles.
MAX_PACKING = {2: math.pi / math.sqrt(12.0), 3: math.pi / math.sqrt(18.0)}


def backproject(fields, table, *, normalization=None, rng=None, method: str = "edt") -> Design:
    """Design (two table materials, particle diameter, volume fraction) closest to ``fields``.

    ``fields``: (3, *grid) E [GPa], ν, ρ [g/cm³] on a square/cubic grid, numpy or torch.
    ``normalization``: the space of the mixture fit and of nearest-material search (a model's own;
    default the table's). ``rng``: numpy Generator seeding the mixture (default seed 0).
    ``method``: ``"edt"`` (default) or ``"paper"`` particle finder, see
    :mod:`matdesign.backproject.particles`. ``diagnostics`` holds ``valid`` and ``flags`` (see
    docs/backprojection.md) plus the mixture fit, ``V_m``, ``d_m`` and the particle statistics.
    """
    x = _as_fields(fields)
    if method not in METHODS:
        raise InputError(f"method={method!r}: expected one of {METHODS}")
    norm = table.normalization if normalization is None else normalization
    grid = x.shape[1:]
    dim, size = len(grid), grid[0]
    seed = 0 if rng is None else int(rng.integers(2**31 - 1))
    mix = fit_mixture(norm.normalize(x.reshape(3, -1).T), seed)
    flags = [] if mix.converged else ["gmm_not_converged"]
    diag = {"method": method, "V_m": float(mix.variances.sum()), "gmm_variances": mix.variances.tolist()}

    if mix.one_phase:
        mean = norm.normalize(x.reshape(3, -1).mean(axis=1))
        means = np.stack([mean, mean])
        flags.append("one_phase")
        particle, vf, diameter, count, variance = None, 0.0, 0.0, 0, float("nan")
    else:
        labels = mix.labels.reshape(grid)
        particle, fits = choose_particle_phase(labels, method)
        chosen = fits[particle] if particle >= 0 else None
        if chosen is None:
            flags.append("no_particles")
            particle = int(np.argmin(np.bincount(mix.labels, minlength=2)))
        means = mix.means[[1 - particle, particle]]
        vf = float((labels == particle).mean())
        if chosen is None:
            diameter, count, variance = 0.0, 0, float("nan")
        else:
            diameter, count = 2.0 * chosen.radius / size, chosen.count
            variance = chosen.radius_variance / size**2
            flags += [f for f, on in (("touching_particles", chosen.touching_each_other),
                                      ("touching_boundary", chosen.touching_boundary)) if on]
        if vf > MAX_PACKING[dim]:
            flags.append("all_particle")

    rows = table.nearest(*norm.denormalize(means).T, normalization=norm)
    props = np.stack([table.E[rows], table.nu[rows], table.rho[rows]], axis=-1)
    d_each = np.linalg.norm(norm.normalize(props) - means, axis=-1)
    if "one_phase" in flags:
        d_each = d_each[:1]
    diag.update(
        gmm_means=norm.denormalize(means).tolist(),
        gmm_means_normalized=means.tolist(),
        d_m_each=d_each.tolist(),
        d_m=float(d_each.sum()),
        matrix_index=int(rows[0]),
        particle_index=int(rows[1]),
        particle_count=int(count),
        radius_variance=float(variance),
        flags=flags,
        valid=not any(f in flags for f in ("no_particles", "all_particle")),
    )
    return Design(table[int(rows[0])], table[int(rows[1])], float(diameter), vf, diag)


def raw_design(design: Design) -> Design:
    """``design`` with its mixture means as materials, skipping the nearest-material lookup (the
    paper's "no closest material" evaluation, Table 4); names are "GMM matrix"/"GMM particle"."""
    (m, p) = design.diagnostics["gmm_means"]
    return replace(design, matrix=Material("GMM matrix", *m), particle=Material("GMM particle", *p))


def _as_fields(fields) -> np.ndarray:
    """float64 numpy copy of a (3, *grid) numpy array or torch tensor; InputError if malformed."""
    if hasattr(fields, "detach"):
        fields = fields.detach().cpu().numpy()
    x = np.asarray(fields, dtype=np.float64)
    if x.ndim not in (3, 4) or x.shape[0] != 3:
        raise InputError(f"fields: expected shape (3, *grid) with a 2D or 3D grid, got {x.shape}")
    if len(set(x.shape[1:])) != 1 or x.shape[1] < 2:
        raise InputError(f"fields: grid must be square/cubic with size >= 2, got {x.shape[1:]}")
    if not np.isfinite(x).all():
        raise InputError("fields: values must be finite")
    return x


def backproject_batch(fields, table, normalization, *, seed: int = 0, progress: bool = False) -> list[Design]:
    """Backproject every sample of ``fields`` (B, 3, *grid), physical units, in order; the mixture fits
    draw from one ``numpy.random.default_rng(seed)`` (so the designs depend only on the fields and seed)."""
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    return [backproject(f, table, normalization=normalization, rng=rng)
            for f in tqdm(fields, desc="backproject", disable=not progress, leave=False)]
