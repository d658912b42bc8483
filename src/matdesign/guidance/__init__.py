"""FEM-guided sampling (DPS) with objectives on effective properties."""

from matdesign.guidance.objectives import (
    DensityBound,
    DensityPenalty,
    EffectiveProperties,
    Objective,
    TargetBulkModulus,
    TargetPoissonRatio,
    TargetShearModulus,
    TargetYoungsModulus,
    WeightedSum,
)
from matdesign.guidance.sampler import GuidanceConfig, SampleResult, guided_sample

__all__ = [
    "DensityBound",
    "DensityPenalty",
    "EffectiveProperties",
    "GuidanceConfig",
    "Objective",
    "SampleResult",
    "TargetBulkModulus",
    "TargetPoissonRatio",
    "TargetShearModulus",
    "TargetYoungsModulus",
    "WeightedSum",
    "guided_sample",
]
