"""matdesign.evaluate: verification of designs on fresh random microstructures (K_θ), the sample's
own K (K_s), and the paper's per-target metrics (frac, cov, V_m, d_m, ρ_avg) as a table."""

from matdesign.evaluate.metrics import Record, density, design_chunks, metrics, relative_error
from matdesign.evaluate.table import MetricsTable
from matdesign.evaluate.verify import Verification, sample_K, stochastic_round, verify

__all__ = ["MetricsTable", "Record", "Verification", "density", "design_chunks", "metrics",
           "relative_error", "sample_K", "stochastic_round", "verify"]
