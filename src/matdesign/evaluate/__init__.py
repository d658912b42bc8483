"""matdesign.evaluate: the paper's evaluation protocol (:func:`~matdesign.evaluate.runner.run_evaluation`, its
store and report), its per-target metrics (frac, cov, V_m, d_m, ρ_avg) as a table, and the sample quality of
a model (valid two-phase designs, K-distribution distances)."""

from matdesign.evaluate.metrics import design_chunks, metrics, relative_error
from matdesign.evaluate.results import Evaluation, TargetResult
from matdesign.evaluate.table import MetricsTable

__all__ = ["Evaluation", "MetricsTable", "TargetResult", "design_chunks", "metrics", "relative_error"]
