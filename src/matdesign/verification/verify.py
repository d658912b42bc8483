"""Verification of a design: FEM effective property (K_θ; or G, E, ν) averaged over fresh random
arrangements (sec. 6.2), in one of the definitions of :mod:`matdesign.verification.definition` (composite,
the paper's cell, the paper's release)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from matdesign.errors import InputError
from matdesign.validate import check_integers
from matdesign.verification.definition import Definition, get_definition
from matdesign.microstructure import Design, generate
from matdesign.microstructure.rve import generate_rve

PROPERTIES = {"K": ("K", "bulk modulus", "GPa"), "G": ("G", "shear modulus", "GPa"),
              "E": ("E", "Young's modulus", "GPa"), "nu": ("ν", "Poisson ratio", "")}
"""Verifiable effective properties: name → (symbol, label, unit). K from the hydrostatic solve; G, E, ν the
isotropic projection of the effective stiffness (:func:`matdesign.fem.isotropic_projection`; 2D: plane
stress, in-plane moduli). ν is dimensionless."""


def check_property(prop: str) -> str:
    """``prop`` if it names one of :data:`PROPERTIES`, else InputError."""
    if prop not in PROPERTIES:
        raise InputError(f"property={prop!r}: must be one of {', '.join(PROPERTIES)}")
    return prop


@dataclass(frozen=True)
class Verification:
    """Effective property ``prop`` (default the bulk modulus K [GPa]) of a design over ``n`` random arrangements.

    ``mean`` mean, ``std`` sample standard deviation, ``sem`` standard error of the mean, ``ci95``
    95 % t-interval of the mean, ``samples`` (n,) the value of each arrangement, ``seeds`` and
    ``n_particles`` reproduce arrangement i as ``generate(..., rng=default_rng(seeds[i]),
    n_particles=n_particles[i])`` (cell, paper) or ``generate_rve`` (composite); ``converged`` = sem/|mean| <
    the tolerance; ``flags``/``message`` say why a failed verification (mean = nan) failed;
    ``definition``: the name of its :class:`~matdesign.verification.definition.Definition`. Units: :data:`PROPERTIES`.
    """

    mean: float
    std: float
    sem: float
    ci95: tuple[float, float]
    samples: np.ndarray
    seeds: list[int]
    n_particles: list[int]
    converged: bool
    flags: list[str] = field(default_factory=list)
    message: str = ""
    prop: str = "K"
    definition: str = "cell"

    @property
    def K(self) -> float:
        """The mean bulk modulus K_θ [GPa] (a verification of K only)."""
        if self.prop != "K":
            raise AttributeError(f"this verification is of {self.prop}, not of K")
        return self.mean

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def ok(self) -> bool:
        return math.isfinite(self.mean)


def stochastic_round(x: float, rng: np.random.Generator) -> int:
    """floor(x) + Bernoulli(x − floor(x)): 3.2 → 3 with p = 0.8, 4 with p = 0.2."""
    low = math.floor(x)
    return int(low + (rng.random() < x - low))


def systematic_counts(x: float, count: int, rng: np.random.Generator) -> list[int]:
    """``count`` particle counts ``floor(x + (i + u)/count)``, i = 0 … count−1, one uniform u: each is
    floor(x) or floor(x) + 1, their mean is x to within 1/count and exactly x in expectation (stratified
    rounding: the RVEs' mean volume fraction is the design's, without stochastic rounding's jitter)."""
    u = rng.random()
    return [math.floor(x + (i + u) / count) for i in range(count)]


def failed(flag: str, message: str, prop: str = "K", definition: str = "cell") -> Verification:
    """A verification that could not run (mean = nan)."""
    nan = float("nan")
    return Verification(nan, nan, nan, (nan, nan), np.zeros(0), [], [], False, [flag], message, prop, definition)


def verify(design: Design, *, size: int, dim: int, n: int = 10, rng: np.random.Generator,
           adaptive: bool = False, rel_sem_tol: float = 0.0025, n_max: int = 200, batch: int = 10,
           fem_options: dict | None = None, prop: str = "K", definition: str | Definition = "cell") -> Verification:
    """Mean FEM property ``prop`` (:data:`PROPERTIES`, default the bulk modulus K) of ``n`` fresh random
    arrangements of ``design``: ``definition="cell"`` one walled size^dim cell with affine boundary
    conditions; ``"paper"`` the same cell with the official release's uniaxial load and K (K only);
    ``"composite"`` periodic RVEs (:data:`~matdesign.verification.definition.DEFINITIONS`).

    Each arrangement's particle count is the expected count of the RVE, rounded stochastically (cell, paper)
    or systematically over the batch (composite: :func:`systematic_counts`); all ``n`` are solved as
    one batch. ``adaptive``: then add ``batch`` arrangements at a time until
    sem/|mean| < ``rel_sem_tol`` or ``n_max`` arrangements. An invalid backprojection
    (``diagnostics["valid"]`` false) or a design that cannot be placed gives a failed result
    (mean = nan, flags ``invalid_design`` / ``infeasible``) instead of an error.
    ``fem_options``: extra keyword arguments of :func:`matdesign.fem.bulk_modulus` (K) or
    :func:`matdesign.fem.effective_stiffness` (G, E, ν).
    """
    check_property(prop)
    definition = get_definition(definition)
    if definition.fem != "bulk" and prop != "K":
        raise InputError(f"property={prop!r}: the {definition.name} definition defines only K")
    check_integers(n=n, n_max=n_max, batch=batch)
    if not rel_sem_tol > 0:
        raise InputError(f"rel_sem_tol={rel_sem_tol!r}: must be > 0")
    name = definition.name
    if not design.diagnostics.get("valid", True):
        return failed("invalid_design", f"backprojection flags {design.diagnostics.get('flags')}", prop, name)
    expected = design.expected_particle_count(dim) * definition.grid(dim, size)[0] ** dim
    if not math.isfinite(expected):
        return failed("infeasible", f"volume_fraction={design.volume_fraction} with diameter={design.diameter}",
                      prop, name)
    values, seeds, counts = [], [], []
    todo = n
    while todo:
        try:
            v, s, c = _solve_batch(design, expected, todo, size, dim, rng, fem_options or {}, prop, definition)
        except InputError as err:
            return failed("infeasible", str(err), prop, name)
        values, seeds, counts = values + v, seeds + s, counts + c
        mean, sem = float(np.mean(values)), _sem(values)
        todo = min(batch, n_max - len(values)) if adaptive and not sem < rel_sem_tol * abs(mean) else 0
    return _summary(np.asarray(values), seeds, counts, rel_sem_tol, prop, name)


def effective_property(E, nu, prop: str, *, dim: int, fem_options: dict | None = None) -> np.ndarray:
    """``prop`` of fields E [GPa], ν (numpy, (..., *grid)) → (...) float64: K from one hydrostatic solve,
    G, E, ν from the isotropic projection of the effective stiffness (one solve for all load cases)."""
    from matdesign.fem import bulk_modulus, effective_stiffness, isotropic_projection

    if prop == "K":
        return np.asarray(bulk_modulus(E, nu, dim=dim, **(fem_options or {})), dtype=np.float64)
    C = effective_stiffness(E, nu, dim=dim, **(fem_options or {}))
    return np.asarray(isotropic_projection(C, dim)[prop], dtype=np.float64)


def arrangement(design: Design, *, size: int, dim: int, seed: int, n_particles: int,
                definition: str | Definition = "cell"):
    """Arrangement ``seed`` of ``design`` as verified in ``definition`` (a :class:`Microstructure`):
    the paper's walled size^dim cell ("cell", "paper"), or the composite's periodic RVE."""
    definition = get_definition(definition)
    rng = np.random.default_rng(seed)
    common = dict(diameter=design.diameter, volume_fraction=design.volume_fraction, dim=dim, rng=rng,
                  n_particles=n_particles)
    if definition.placement == "paper":
        return generate(design.matrix, design.particle, size=size, **common)
    cells, voxels = definition.grid(dim, size)
    return generate_rve(design.matrix, design.particle, cells=cells, size_per_cell=voxels,
                        placement=definition.placement, min_gap=definition.gap[dim], **common)


def _solve_batch(design, expected, count, size, dim, rng, fem_options, prop, definition):
    """``prop`` (list) of ``count`` new arrangements solved as one FEM batch, their seeds and counts."""
    seeds = [int(s) for s in rng.integers(0, 2**63 - 1, size=count)]
    if definition.rounding == "systematic":
        counts = systematic_counts(expected, count, rng)
    else:
        counts = [stochastic_round(expected, rng) for _ in range(count)]
    fields = np.stack([arrangement(design, size=size, dim=dim, seed=seed, n_particles=k, definition=definition).fields
                       for seed, k in zip(seeds, counts)]).astype(np.float64)
    fem_options = {"bc": definition.bc, **({"definition": definition.fem} if definition.fem != "bulk" else {}),
                   **fem_options}
    values = effective_property(fields[:, 0], fields[:, 1], prop, dim=dim, fem_options=fem_options)
    return values.tolist(), seeds, counts


def _sem(x) -> float:
    return float(np.std(x, ddof=1) / math.sqrt(len(x))) if len(x) > 1 else float("nan")


def _summary(x: np.ndarray, seeds, counts, rel_sem_tol, prop, definition) -> Verification:
    mean = float(x.mean())
    if len(x) > 1:
        std, sem = float(x.std(ddof=1)), _sem(x)
        half = float(stats.t.ppf(0.975, len(x) - 1)) * sem
    else:
        std = sem = half = float("nan")
    return Verification(mean, std, sem, (mean - half, mean + half), x, seeds, counts,
                        bool(sem < rel_sem_tol * abs(mean)), prop=prop, definition=definition)


def density(design: Design) -> float:
    """Volume-fraction-weighted mean density [g/cm³] of a design."""
    vf = design.volume_fraction
    return (1.0 - vf) * design.matrix.rho + vf * design.particle.rho


def sample_K(fields, *, dim: int | None = None, fem_options: dict | None = None):
    """K_s: FEM bulk modulus [GPa] of a field itself (:func:`sample_property` of K)."""
    return sample_property(fields, "K", dim=dim, fem_options=fem_options)


def sample_property(fields, prop: str, *, dim: int | None = None, fem_options: dict | None = None):
    """FEM ``prop`` (:data:`PROPERTIES`) of a field itself (the relaxed, generated sample), e.g. K_s.

    ``fields``: (3, *grid) → float, or (B, 3, *grid) with ``dim`` given → (B,) array; numpy or torch.
    """
    check_property(prop)
    x = fields.detach().cpu().numpy() if hasattr(fields, "detach") else np.asarray(fields)
    x = np.asarray(x, dtype=np.float64)
    single = dim is None or x.ndim == dim + 1
    dim = x.ndim - 1 if dim is None else dim
    if dim not in (2, 3) or x.ndim not in (dim + 1, dim + 2) or x.shape[-dim - 1] != 3:
        raise InputError(f"fields: expected (3, *grid) or (B, 3, *grid) with a 2D/3D grid, got {x.shape}")
    E, nu = np.take(x, 0, axis=-dim - 1), np.take(x, 1, axis=-dim - 1)
    values = effective_property(E, nu, prop, dim=dim, fem_options=fem_options)
    return float(values) if single else values
