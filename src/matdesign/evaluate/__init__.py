"""matdesign.evaluate: verification of designs on fresh random microstructures (K_θ, or G, E, ν), the
sample's own K (K_s), and the paper's per-target metrics (frac, cov, V_m, d_m, ρ_avg) as a table."""

from matdesign.evaluate.metrics import Record, density, design_chunks, metrics, relative_error
from matdesign.evaluate.table import MetricsTable
from matdesign.evaluate.verify import (
    PROPERTIES,
    Verification,
    check_property,
    sample_K,
    sample_property,
    stochastic_round,
    verify,
)

__all__ = ["PROPERTIES", "MetricsTable", "Record", "Verification", "check_property", "density", "design_chunks",
           "metrics", "relative_error", "sample_K", "sample_property", "stochastic_round", "verify"]
