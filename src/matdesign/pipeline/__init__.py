"""The end-to-end design pipeline: guided sampling → backprojection → verification → design closure →
ranking → outputs.

Modules by job: :mod:`~matdesign.pipeline.inverse_design` (the orchestration, :func:`design`),
:mod:`~matdesign.pipeline.checks` (targets and inputs), :mod:`~matdesign.pipeline.models` (shipped
models), :mod:`~matdesign.pipeline.sampling` (guided sampling of a run), :mod:`~matdesign.pipeline.candidates`
(fields → verified candidates), :mod:`~matdesign.pipeline.refine` and :mod:`~matdesign.pipeline.closure`
(volume fraction and material pairs to the target), :mod:`~matdesign.pipeline.validity`,
:mod:`~matdesign.pipeline.ranking`, :mod:`~matdesign.pipeline.results` (what a run returns),
:mod:`~matdesign.pipeline.output` and :mod:`~matdesign.pipeline.report` (tables, files, HTML report).
"""

from matdesign.pipeline.inverse_design import design
from matdesign.pipeline.output import print_result, save_result
from matdesign.pipeline.results import Candidate, DesignResult

__all__ = ["Candidate", "DesignResult", "design", "print_result", "save_result"]
