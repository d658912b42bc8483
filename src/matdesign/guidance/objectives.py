"""Objectives for guided sampling: small composable objects over effective properties.

An objective maps the effective properties of a batch of physical fields to a loss per sample,
shape (B,). Objectives add (``J1 + J2``) and scale (``0.5 * J``), so the paper's
J₂ = J₁ + λ·mean density is ``TargetBulkModulus(K) + DensityPenalty(λ)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import torch

from matdesign.errors import InputError


class EffectiveProperties:
    """Lazily computed effective properties of physical fields (B, 3, *grid): E [GPa], ν, ρ [g/cm³].

    Each property is computed at most once, by the FEM ``solver`` (a callable
    ``solver(E, nu) -> K`` of shape (B,), differentiable in torch), or from the fields directly.
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
        if self._solver is None:
            from matdesign.fem import bulk_modulus

            return bulk_modulus(self.fields[:, 0], self.fields[:, 1], dim=self.dim)
        return self._solver(self.fields[:, 0], self.fields[:, 1])

    @cached_property
    def density(self) -> torch.Tensor:
        """Effective (volume-averaged) density [g/cm³], shape (B,)."""
        return self.fields[:, 2].flatten(1).mean(dim=1)


class Objective:
    """Base class: ``obj(props) -> loss (B,)``; supports ``+`` and scalar ``*``."""

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

    def __call__(self, props: EffectiveProperties) -> torch.Tensor:
        return sum(w * obj(props) for w, obj in self.terms)

    def __add__(self, other: Objective) -> Objective:
        extra = other.terms if isinstance(other, WeightedSum) else [(1.0, other)]
        return WeightedSum(list(self.terms) + list(extra))

    def __mul__(self, weight: float) -> Objective:
        return WeightedSum([(float(weight) * w, o) for w, o in self.terms])

    __rmul__ = __mul__


def _check_target(name: str, value: float, *, positive: bool = True) -> float:
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        raise InputError(f"{name} must be a finite positive number, got {value}")
    return value


PAPER_MIDPOINT_K = 168.5
"""The paper's 2D midpoint target [GPa], at which its gradient scales were tuned."""


@dataclass(frozen=True)
class TargetBulkModulus(Objective):
    """Squared error of the effective bulk modulus to ``target`` [GPa].

    ``relative=False`` is the paper's J₁ = (K − K*)² [GPa²]. ``relative=True`` is
    K_ref²·(K/K* − 1)²: scale-free in the target, and equal to J₁ at K* = K_ref (``reference``,
    default the paper's tuning midpoint 168.5 GPa), so the paper's gradient scales carry over
    while one step size serves targets from 1 to 300 GPa.
    """

    target: float
    relative: bool = False
    reference: float = PAPER_MIDPOINT_K

    def __post_init__(self):
        _check_target("target bulk modulus", self.target)
        _check_target("reference bulk modulus", self.reference)

    def __call__(self, props: EffectiveProperties) -> torch.Tensor:
        K = props.bulk_modulus
        if self.relative:
            return (self.reference * (K / self.target - 1.0)) ** 2
        return (K - self.target) ** 2


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
