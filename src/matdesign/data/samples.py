"""One block of samples: balanced design sampling, microstructure generation and FEM labels."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from matdesign.data.seeding import sample_seed


def make_sample(table, seed: int, index: int, *, dim: int, size: int):
    """``(design, microstructure)`` of sample ``index``; depends only on its arguments."""
    from matdesign.microstructure import generate, sample_design

    rng = np.random.default_rng(sample_seed(seed, index))
    design = sample_design(table, rng, dim)
    ms = generate(design.matrix, design.particle, diameter=design.diameter,
                  volume_fraction=design.volume_fraction, size=size, dim=dim, rng=rng)
    return design, ms


LABEL_MODES = ("stiffness", "bulk", "none")
"""What the FEM labels: the full stiffness tensor (``K`` read off it), ``K`` alone (one load case, 1/3 of
the 2D and 1/6 of the 3D solves; ``C`` stored as NaN), or nothing (fields only, ``K``/``C`` NaN)."""


def label(fields: np.ndarray, dim: int, device: str | None = None, mode: str = "stiffness") -> dict[str, np.ndarray]:
    """FEM labels of fields (B, 3, *grid): ``K`` (B,) and ``C`` (B, 3, 3 | 6, 6) [GPa], ``rho_mean`` (B,).

    ``mode`` (:data:`LABEL_MODES`): "stiffness" reads ``K`` off ``C`` (one set of solves): by linearity the
    ``ε = I`` solution is the sum of the unit normal-strain solutions, so ``K = Σ_{i,j<dim} C_ij / dim²`` —
    what ``bulk_modulus`` returns; "bulk" solves the hydrostatic case only (``C`` NaN); "none" skips the FEM.
    ``device``: None solves with numpy (the solver's CPU default, in small chunks); a torch device
    ("cuda", "cuda:1", "cpu") solves the whole block as one batch there (equal to solver tolerance, not
    bit for bit).
    """
    import torch

    from matdesign.fem import bulk_modulus, effective_density, effective_stiffness

    n, v = len(fields), 3 if dim == 2 else 6
    E, nu = fields[:, 0].astype(np.float64), fields[:, 1].astype(np.float64)
    if mode != "none" and device is not None:
        E, nu = (torch.from_numpy(a).to(device) for a in (E, nu))
    C = np.full((n, v, v), np.nan)
    if mode == "stiffness":
        C = np.asarray(torch.as_tensor(effective_stiffness(E, nu, dim=dim)).cpu(), dtype=np.float64)
        K = C[:, :dim, :dim].sum((1, 2)) / dim**2
    elif mode == "bulk":
        K = np.asarray(torch.as_tensor(bulk_modulus(E, nu, dim=dim)).cpu(), dtype=np.float64).reshape(n)
    else:
        K = np.full(n, np.nan)
    return {"K": K, "C": C, "rho_mean": effective_density(fields[:, 2].astype(np.float64), dim=dim)}


def make_block(indices: Sequence[int], *, table, seed: int, dim: int, size: int,
               labels: str = "stiffness", device: str | None = None) -> dict[str, np.ndarray]:
    """All per-sample arrays of the store (see :mod:`.store`) for the samples ``indices``.

    ``labels`` is the ``mode`` of :func:`label`: "none" stores fields only (``K``/``C`` NaN) for training an
    unconditional model where labelling costs too much (3D on a small machine); ``device`` as in :func:`label`.
    """
    designs, structures = zip(*(make_sample(table, seed, i, dim=dim, size=size) for i in indices))
    fields = np.stack([ms.fields for ms in structures]).astype(np.float32)
    return {
        "fields": fields,
        **label(fields, dim, device, labels),
        "matrix_index": np.array([d.diagnostics["matrix_index"] for d in designs], dtype=np.int32),
        "particle_index": np.array([d.diagnostics["particle_index"] for d in designs], dtype=np.int32),
        "matrix_name": np.array([d.matrix.name for d in designs], dtype=object),
        "particle_name": np.array([d.particle.name for d in designs], dtype=object),
        "diameter": np.array([d.diameter for d in designs], dtype=np.float64),
        "volume_fraction": np.array([d.volume_fraction for d in designs], dtype=np.float64),
        "voxel_fraction": np.array([ms.volume_fraction for ms in structures], dtype=np.float64),
        "n_particles": np.array([len(ms.centers) for ms in structures], dtype=np.int32),
        "seed": np.array([sample_seed(seed, i) for i in indices], dtype=np.uint64),
    }
