"""FEM-guided sampling (our DPS step or the official release's TFG step) with objectives on effective properties."""

from matdesign.guidance.objectives import (
    DensityBound,
    DensityPenalty,
    EffectiveProperties,
    Objective,
    TargetBulkModulus,
    TargetPaperBulkModulus,
    TargetPoissonRatio,
    TargetShearModulus,
    TargetYoungsModulus,
    WeightedSum,
)
from matdesign.guidance.sampler import SAMPLERS, GuidanceConfig, SampleResult, guided_sample, sampler_config

__all__ = [
    "DensityBound",
    "DensityPenalty",
    "EffectiveProperties",
    "GuidanceConfig",
    "Objective",
    "SampleResult",
    "SAMPLERS",
    "TargetBulkModulus",
    "TargetPaperBulkModulus",
    "TargetPoissonRatio",
    "TargetShearModulus",
    "TargetYoungsModulus",
    "WeightedSum",
    "guided_sample",
    "sampler_config",
]
