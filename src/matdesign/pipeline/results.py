"""What a design run returns: candidates (a design, its verification, refinement, validity flags) and
the ranked result of one target, with the rule that decides whether a candidate is found."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from matdesign.microstructure import Design
from matdesign.pipeline.refine import Refinement
from matdesign.verification import Verification


def within_tolerance(verification: Verification, target: float, tolerance: float, scale: float | None = None) -> bool:
    """The verified mean lies within ``tolerance``·scale of ``target`` by at least one standard error:
    |mean − X*| + sem ≤ tol·scale (``scale`` defaults to X*, a relative tolerance)."""
    half = tolerance * (target if scale is None else scale)
    sem = verification.sem if math.isfinite(verification.sem) else 0.0
    return verification.ok and abs(verification.mean - target) + sem <= half


def probability_within(verification: Verification, target: float, tolerance: float,
                       scale: float | None = None) -> float:
    """P(|X − X*| ≤ tol·scale) for one random arrangement, X ~ Normal(mean, spread) over arrangements;
    ``scale`` defaults to X* (a relative tolerance)."""
    mean, std = verification.mean, verification.std
    if not math.isfinite(mean):
        return 0.0
    half = tolerance * (target if scale is None else scale)
    lo, hi = target - half, target + half
    if not math.isfinite(std) or std <= 0:
        return float(lo <= mean <= hi)
    return float(stats.norm.cdf((hi - mean) / std) - stats.norm.cdf((lo - mean) / std))


@dataclass
class Candidate:
    """One candidate design: the raw design (a generated sample's backprojection, or a material pair
    proposed by closure: ``source`` "sample", "neighbour" or "physics"), its verification, the target
    property of the generated sample itself (``value_s``; K_s for K; nan without a sample), the
    refinement, ``cell``: the final design's property in the paper's cell definition (None when the
    run already uses it), and ``flags``: the validity rules the final design breaks or "duplicate"
    (:mod:`matdesign.pipeline.validity`; empty: a valid, distinct design). ``verification`` is None only
    between backprojection and verification (:mod:`matdesign.pipeline.candidates`)."""

    sample: int
    design: Design
    verification: Verification | None
    value_s: float = math.nan
    refinement: Refinement | None = None
    p_within: float = 0.0
    cell: Verification | None = None
    source: str = "sample"
    flags: list[str] = field(default_factory=list)

    @property
    def final_design(self) -> Design:
        return self.refinement.design if self.refinement else self.design

    @property
    def final_verification(self) -> Verification:
        return self.refinement.verification if self.refinement else self.verification


@dataclass
class DesignResult:
    """Ranked candidates for one target of ``prop`` (default K), the fields they came from, settings, timings."""

    target: float
    dim: int
    size: int
    candidates: list[Candidate]
    fields: np.ndarray  # (samples, 3, *grid) physical units, indexed by Candidate.sample
    settings: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    prop: str = "K"

    @property
    def target_K(self) -> float:
        """The target bulk modulus K* [GPa] (a K design only)."""
        if self.prop != "K":
            raise AttributeError(f"this result targets {self.prop}, not K")
        return self.target

    @property
    def scale(self) -> float:
        """What errors and tolerances are fractions of: the target for a modulus, 1 for ν (absolute)."""
        return 1.0 if self.prop == "nu" else self.target

    def error(self, c: Candidate, refined: bool = True) -> float:
        """|X − X*| / :attr:`scale` of the candidate's verified mean (nan if the verification failed)."""
        v = c.final_verification if refined else c.verification
        return abs(v.mean - self.target) / self.scale if v.ok else math.nan

    @property
    def total_seconds(self) -> float:
        """Wall time of all stages (``sampling_fem`` is a part of ``sampling``, not added again)."""
        return sum(v for k, v in self.seconds.items() if k != "sampling_fem")

    def top(self, n: int = 5) -> list[Candidate]:
        return self.candidates[:n]

    def found(self, c: Candidate) -> bool:
        """A valid, distinct design whose verified value lies within the run's tolerance of the target by at
        least one standard error (:func:`within_tolerance`)."""
        return not c.flags and within_tolerance(c.final_verification, self.target,
                                                self.settings.get("tolerance", 0.01), self.scale)

    @property
    def found_candidates(self) -> list[Candidate]:
        return [c for c in self.candidates if self.found(c)]
