"""Objectives for guided sampling: small composable objects over effective properties.

An objective maps the effective properties of a batch of physical fields to a loss per sample,
shape (B,). Objectives add (``J1 + J2``) and scale (``0.5 * J``), so the paper's
J₂ = J₁ + λ·mean density is ``TargetBulkModulus(K) + DensityPenalty(λ)``. Beyond the paper:
targets on the isotropic shear modulus, Young's modulus and Poisson ratio (from the differentiable
effective stiffness) and density bounds. docs/objectives.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import torch

from matdesign import fem
from matdesign.errors import InputError
from matdesign.validate import check_dim


class EffectiveProperties:
    """Lazily computed effective properties of physical fields (B, 3, *grid): E [GPa], ν, ρ [g/cm³].

    Each property is computed at most once. ``solver`` is None (the stateless ``matdesign.fem``
    functions), a :class:`~matdesign.fem.Homogenizer` (its warm-started ``bulk_modulus`` and
    ``effective_stiffness``), or a callable ``solver(E, nu) -> K`` of shape (B,) (used for K only;
    the stiffness then comes from ``fem.effective_stiffness``). All are differentiable in torch.
    Once the stiffness is known, K follows from it (``Σ_{i,j≤d} C_ij / d²``) without another solve.
    """

    def __init__(self, fields: torch.Tensor, dim: int, solver=None):
        if fields.ndim != dim + 2 or fields.shape[1] != 3:
            raise InputError(f"fields must have shape (B, 3, *grid) with {dim} grid axes, got {tuple(fields.shape)}")
        self.fields = fields
        self.dim = dim
        self._solver = solver

    @cached_property
    def bulk_modulus(self) -> torch.Tensor:
        """Effective bulk modulus K [GPa], shape (B,) (plane-stress 2D bulk modulus in 2D)."""
        if "stiffness" in self.__dict__:
            return self.isotropic["K"]
        E, nu = self.fields[:, 0], self.fields[:, 1]
        if self._solver is None:
            return fem.bulk_modulus(E, nu, dim=self.dim)
        if isinstance(self._solver, fem.Homogenizer):
            return self._solver.bulk_modulus(E, nu)
        return self._solver(E, nu)

    @cached_property
    def paper_bulk_modulus(self) -> torch.Tensor:
        """The official release's "bulk modulus" ``tr⟨σ⟩/(3 tr⟨ε⟩)`` under its uniaxial load [GPa], (B,)
        (:func:`matdesign.fem.release_modulus`; 2D: the one-element hex plate; ``definition="paper"``).
        Differentiable with its true gradient; computed in float64 on CPU whatever ``solver`` is."""
        return fem.release_modulus(self.fields[:, 0], self.fields[:, 1], dim=self.dim)

    @cached_property
    def stiffness(self) -> torch.Tensor:
        """Effective Voigt stiffness C [GPa], (B, 3, 3) (2D plane stress) or (B, 6, 6); one solve."""
        E, nu = self.fields[:, 0], self.fields[:, 1]
        if isinstance(self._solver, fem.Homogenizer):
            return self._solver.effective_stiffness(E, nu)
        return fem.effective_stiffness(E, nu, dim=self.dim)

    @cached_property
    def isotropic(self) -> dict:
        """Isotropic projection of :attr:`stiffness`: dict of K, G, E [GPa] and ν, each (B,)."""
        return fem.isotropic_projection(self.stiffness, self.dim)

    @property
    def shear_modulus(self) -> torch.Tensor:
        """Isotropic effective shear modulus G [GPa], shape (B,) (from the stiffness)."""
        return self.isotropic["G"]

    @property
    def youngs_modulus(self) -> torch.Tensor:
        """Isotropic effective Young's modulus E [GPa], shape (B,) (2D: in-plane, plane stress)."""
        return self.isotropic["E"]

    @property
    def poisson_ratio(self) -> torch.Tensor:
        """Isotropic effective Poisson ratio ν, shape (B,) (2D: in-plane ``(K−G)/(K+G)``)."""
        return self.isotropic["nu"]

    @cached_property
    def density(self) -> torch.Tensor:
        """Effective (volume-averaged) density [g/cm³], shape (B,)."""
        return self.fields[:, 2].flatten(1).mean(dim=1)


class Objective:
    """Base class: ``obj(props) -> loss (B,)``; supports ``+`` and scalar ``*``.

    ``uses_stiffness``: whether the objective reads the stiffness tensor (a sum then computes it
    first, so that K comes from the same solve).
    """

    uses_stiffness: ClassVar[bool] = False

    def __call__(self, props: EffectiveProperties) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __add__(self, other: Objective) -> Objective:
        return WeightedSum([(1.0, self), (1.0, other)])

    def __mul__(self, weight: float) -> Objective:
        return WeightedSum([(float(weight), self)])

    __rmul__ = __mul__


@dataclass(frozen=True)
class WeightedSum(Objective):
    """Σ wᵢ·Jᵢ over (weight, objective) pairs."""

    terms: list

    @property
    def uses_stiffness(self) -> bool:
        return any(obj.uses_stiffness for _, obj in self.terms)

    def __call__(self, props: EffectiveProperties) -> torch.Tensor:
        if self.uses_stiffness:
            props.stiffness  # noqa: B018 - one solve for all load cases; K then follows from it
        return sum(w * obj(props) for w, obj in self.terms)

    def __add__(self, other: Objective) -> Objective:
        extra = other.terms if isinstance(other, WeightedSum) else [(1.0, other)]
        return WeightedSum(list(self.terms) + list(extra))

    def __mul__(self, weight: float) -> Objective:
        return WeightedSum([(float(weight) * w, o) for w, o in self.terms])

    __rmul__ = __mul__


def _check_target(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a finite positive number, got {value!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a finite positive number, got {value}")
    return value


PAPER_MIDPOINT_K = 168.5
"""The paper's 2D midpoint target [GPa], at which its gradient scales were tuned."""


@dataclass(frozen=True)
class _TargetModulus(Objective):
    """Squared error of an effective modulus [GPa] to ``target`` (absolute or relative, see subclasses)."""

    target: float
    relative: bool = False
    reference: float = PAPER_MIDPOINT_K

    label: ClassVar[str] = "modulus"
    attribute: ClassVar[str] = ""

    def __post_init__(self):
        _check_target(f"target {self.label}", self.target)
        _check_target(f"reference {self.label}", self.reference)

    def __call__(self, props: EffectiveProperties) -> torch.Tensor:
        x = getattr(props, self.attribute)
        if self.relative:
            return (self.reference * (x / self.target - 1.0)) ** 2
        return (x - self.target) ** 2


@dataclass(frozen=True)
class TargetBulkModulus(_TargetModulus):
    """Squared error of the effective bulk modulus to ``target`` [GPa].

    ``relative=False`` is the paper's J₁ = (K − K*)² [GPa²]. ``relative=True`` is
    K_ref²·(K/K* − 1)²: scale-free in the target, and equal to J₁ at K* = K_ref (``reference``,
    default the paper's tuning midpoint 168.5 GPa), so the paper's gradient scales carry over
    while one step size serves targets from 1 to 300 GPa.
    """

    label: ClassVar[str] = "bulk modulus"
    attribute: ClassVar[str] = "bulk_modulus"


@dataclass(frozen=True)
class TargetPaperBulkModulus(_TargetModulus):
    """Squared error of the official release's K (``definition="paper"``, a uniaxial quantity that is not
    the composite's bulk modulus; docs/official_release.md) to ``target`` [GPa].

    Absolute (K_paper − K*)², the release's own J (its solver's ``(AveK − DesignK)²``), or relative as in
    :class:`TargetBulkModulus`. Its gradient is the true one; the release's adjoint holds tr⟨ε⟩ fixed.
    """

    label: ClassVar[str] = "bulk modulus (paper definition)"
    attribute: ClassVar[str] = "paper_bulk_modulus"


GUIDE_DEFINITIONS = {"cell": TargetBulkModulus, "paper": TargetPaperBulkModulus}
"""The K a guidance objective measures → its objective class: "cell" (our affine-cell K of the sampled
field, what the shipped models were trained on) or "paper" (the official release's quantity)."""


@dataclass(frozen=True)
class TargetShearModulus(_TargetModulus):
    """Squared error of the isotropic effective shear modulus G to ``target`` [GPa].

    Absolute (G − G*)² [GPa²] or relative G_ref²·(G/G* − 1)² as in :class:`TargetBulkModulus`
    (same default reference 168.5 GPa: a voxel's E moves G about as much as it moves K, so the
    paper's gradient scales give the same step for the same relative error).
    """

    label: ClassVar[str] = "shear modulus"
    attribute: ClassVar[str] = "shear_modulus"
    uses_stiffness: ClassVar[bool] = True


@dataclass(frozen=True)
class TargetYoungsModulus(_TargetModulus):
    """Squared error of the isotropic effective Young's modulus E to ``target`` [GPa].

    Absolute (E − E*)² [GPa²] or relative E_ref²·(E/E* − 1)² as in :class:`TargetBulkModulus`.
    2D: the in-plane (plane-stress) Young's modulus ``4KG/(K+G)``.
    """

    label: ClassVar[str] = "Young's modulus"
    attribute: ClassVar[str] = "youngs_modulus"
    uses_stiffness: ClassVar[bool] = True


POISSON_RANGE = {2: (-1.0, 1.0), 3: (-1.0, 0.5)}
"""Open interval of the isotropic Poisson ratio with K, G > 0: 3D ``(3K−2G)/(2(3K+G))`` ∈ (−1, ½);
2D plane stress ``(K−G)/(K+G)`` ∈ (−1, 1)."""


def _check_poisson(target: float, dim: int | None) -> None:
    lo, hi = POISSON_RANGE[3 if dim == 3 else 2]
    where = f" in {dim}D" if dim else ""
    if not lo < target < hi:
        raise InputError(f"target Poisson ratio {target}: must lie in ({lo:g}, {hi:g}){where}")


@dataclass(frozen=True)
class TargetPoissonRatio(Objective):
    """Squared error of the isotropic effective Poisson ratio ν to ``target`` (dimensionless).

    ``relative=False``: (ν − ν*)². ν is dimensionless and may be 0, so its absolute error is already
    the scale-free one; ``relative=True`` only puts it on the moduli's scale, ν_ref²·(ν − ν*)² with
    ``reference`` 168.5 (an error of 0.01 in ν weighs like a 1 % error of K at the paper's
    midpoint), so the paper's gradient scales apply. ``dim`` (2 or 3, optional) checks the target
    at construction: (−1, 0.5) in 3D, (−1, 1) for the 2D plane-stress ν; without it the 3D range is
    checked when the objective is first evaluated (before any FEM solve).
    """

    target: float
    relative: bool = False
    reference: float = PAPER_MIDPOINT_K
    dim: int | None = None

    uses_stiffness: ClassVar[bool] = True

    def __post_init__(self):
        if self.dim is not None:
            check_dim(self.dim)
        try:
            target = float(self.target)
        except (TypeError, ValueError):
            raise InputError(f"target Poisson ratio must be a number, got {self.target!r}") from None
        _check_poisson(target, self.dim)
        _check_target("reference for the Poisson ratio", self.reference)

    def __call__(self, props: EffectiveProperties) -> torch.Tensor:
        _check_poisson(float(self.target), props.dim)
        err = props.poisson_ratio - self.target
        return (self.reference * err) ** 2 if self.relative else err**2


@dataclass(frozen=True)
class DensityPenalty(Objective):
    """λ · mean density [g/cm³] (the paper's J₂ term; λ from 1e-4 to 1e-2 there)."""

    weight: float

    def __post_init__(self):
        if not math.isfinite(self.weight) or self.weight < 0:
            raise InputError(f"density weight must be ≥ 0, got {self.weight}")

    def __call__(self, props: EffectiveProperties) -> torch.Tensor:
        return self.weight * props.density


@dataclass(frozen=True)
class DensityBound(Objective):
    """Quadratic penalty (relu(ρ̄ − max))² + (relu(min − ρ̄))² keeping the mean density in [min, max]."""

    minimum: float = 0.0
    maximum: float = math.inf

    def __post_init__(self):
        if not self.minimum <= self.maximum:
            raise InputError(f"density bounds must satisfy min ≤ max, got {self.minimum} > {self.maximum}")

    def __call__(self, props: EffectiveProperties) -> torch.Tensor:
        rho = props.density
        return torch.relu(rho - self.maximum) ** 2 + torch.relu(self.minimum - rho) ** 2
