"""K_θ of a design: FEM bulk modulus averaged over fresh random arrangements (sec. 6.2)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from matdesign.errors import InputError
from matdesign.microstructure import Design, generate


@dataclass(frozen=True)
class Verification:
    """Bulk modulus of a design over ``n`` random arrangements [GPa].

    ``K`` mean, ``std`` sample standard deviation, ``sem`` standard error of the mean, ``ci95``
    95 % t-interval of the mean, ``samples`` (n,) the K of each arrangement, ``seeds`` and
    ``n_particles`` reproduce arrangement i as ``generate(..., rng=default_rng(seeds[i]),
    n_particles=n_particles[i])``; ``converged`` = sem/K < the tolerance; ``flags``/``message``
    say why a failed verification (K = nan) failed.
    """

    K: float
    std: float
    sem: float
    ci95: tuple[float, float]
    samples: np.ndarray
    seeds: list[int]
    n_particles: list[int]
    converged: bool
    flags: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def ok(self) -> bool:
        return math.isfinite(self.K)


def stochastic_round(x: float, rng: np.random.Generator) -> int:
    """floor(x) + Bernoulli(x − floor(x)): 3.2 → 3 with p = 0.8, 4 with p = 0.2."""
    low = math.floor(x)
    return int(low + (rng.random() < x - low))


def failed(flag: str, message: str) -> Verification:
    """A verification that could not run (K = nan)."""
    nan = float("nan")
    return Verification(nan, nan, nan, (nan, nan), np.zeros(0), [], [], False, [flag], message)


def verify(design: Design, *, size: int, dim: int, n: int = 10, rng: np.random.Generator,
           adaptive: bool = False, rel_sem_tol: float = 0.0025, n_max: int = 200, batch: int = 10,
           fem_options: dict | None = None) -> Verification:
    """Mean FEM bulk modulus of ``n`` fresh random microstructures of ``design`` (size^dim grid).

    Each arrangement's particle count is the stochastically rounded expected count; all ``n`` are
    solved as one batch. ``adaptive``: then add ``batch`` arrangements at a time until
    sem/K < ``rel_sem_tol`` or ``n_max`` arrangements. An invalid backprojection
    (``diagnostics["valid"]`` false) or a design that cannot be placed gives a failed result
    (K = nan, flags ``invalid_design`` / ``infeasible``) instead of an error.
    ``fem_options``: extra keyword arguments of :func:`matdesign.fem.bulk_modulus`.
    """
    for name, value in (("n", n), ("n_max", n_max), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{name}={value!r}: must be an integer >= 1")
    if not rel_sem_tol > 0:
        raise InputError(f"rel_sem_tol={rel_sem_tol!r}: must be > 0")
    if not design.diagnostics.get("valid", True):
        return failed("invalid_design", f"backprojection flags {design.diagnostics.get('flags')}")
    expected = design.expected_particle_count(dim)
    if not math.isfinite(expected):
        return failed("infeasible", f"volume_fraction={design.volume_fraction} with diameter={design.diameter}")
    K, seeds, counts = [], [], []
    todo = n
    while todo:
        try:
            k, s, c = _solve_batch(design, expected, todo, size, dim, rng, fem_options or {})
        except InputError as err:
            return failed("infeasible", str(err))
        K, seeds, counts = K + k, seeds + s, counts + c
        mean, sem = float(np.mean(K)), _sem(K)
        todo = min(batch, n_max - len(K)) if adaptive and not sem < rel_sem_tol * abs(mean) else 0
    return _summary(np.asarray(K), seeds, counts, rel_sem_tol)


def _solve_batch(design, expected, count, size, dim, rng, fem_options):
    """K (list) of ``count`` new arrangements solved as one FEM batch, their seeds and counts."""
    from matdesign.fem import bulk_modulus

    seeds = [int(s) for s in rng.integers(0, 2**63 - 1, size=count)]
    counts = [stochastic_round(expected, rng) for _ in range(count)]
    fields = np.stack([
        generate(design.matrix, design.particle, diameter=design.diameter,
                 volume_fraction=design.volume_fraction, size=size, dim=dim,
                 rng=np.random.default_rng(seed), n_particles=k).fields
        for seed, k in zip(seeds, counts)
    ]).astype(np.float64)
    K = np.asarray(bulk_modulus(fields[:, 0], fields[:, 1], dim=dim, **fem_options), dtype=np.float64)
    return K.tolist(), seeds, counts


def _sem(K) -> float:
    return float(np.std(K, ddof=1) / math.sqrt(len(K))) if len(K) > 1 else float("nan")


def _summary(K: np.ndarray, seeds, counts, rel_sem_tol) -> Verification:
    mean = float(K.mean())
    if len(K) > 1:
        std, sem = float(K.std(ddof=1)), _sem(K)
        half = float(stats.t.ppf(0.975, len(K) - 1)) * sem
    else:
        std = sem = half = float("nan")
    return Verification(mean, std, sem, (mean - half, mean + half), K, seeds, counts,
                        bool(sem < rel_sem_tol * abs(mean)))


def sample_K(fields, *, dim: int | None = None, fem_options: dict | None = None):
    """K_s: FEM bulk modulus [GPa] of a field itself (the relaxed, generated sample).

    ``fields``: (3, *grid) → float, or (B, 3, *grid) with ``dim`` given → (B,) array; numpy or torch.
    """
    from matdesign.fem import bulk_modulus

    x = fields.detach().cpu().numpy() if hasattr(fields, "detach") else np.asarray(fields)
    x = np.asarray(x, dtype=np.float64)
    single = dim is None or x.ndim == dim + 1
    dim = x.ndim - 1 if dim is None else dim
    if dim not in (2, 3) or x.ndim not in (dim + 1, dim + 2) or x.shape[-dim - 1] != 3:
        raise InputError(f"fields: expected (3, *grid) or (B, 3, *grid) with a 2D/3D grid, got {x.shape}")
    E, nu = np.take(x, 0, axis=-dim - 1), np.take(x, 1, axis=-dim - 1)
    K = np.asarray(bulk_modulus(E, nu, dim=dim, **(fem_options or {})), dtype=np.float64)
    return float(K) if single else K.astype(np.float64)
