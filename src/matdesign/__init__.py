"""matdesign: inverse design of particle-reinforced composites by FEM-guided diffusion.

The public API (imported on first use, so that ``import matdesign`` stays light):

- :func:`design` — designs for a target K, G, E [GPa] or ν (:func:`matdesign.pipeline.inverse_design.design`),
  returning a :class:`DesignResult` of ranked :class:`Candidate` s;
- :func:`run_evaluation` — the paper's Table-1 protocol over several targets (:mod:`matdesign.evaluate.runner`);
- :func:`bayesian_optimization`, :func:`classifier_free_guidance` — the paper's baselines (:mod:`matdesign.baselines`).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from matdesign.errors import InputError

if TYPE_CHECKING:
    from matdesign.baselines import bayesian_optimization, classifier_free_guidance
    from matdesign.evaluate.runner import run_evaluation
    from matdesign.pipeline import Candidate, DesignResult, design

__version__ = "0.1.0"

_LAZY = {
    "design": "matdesign.pipeline.inverse_design",
    "DesignResult": "matdesign.pipeline.results",
    "Candidate": "matdesign.pipeline.results",
    "run_evaluation": "matdesign.evaluate.runner",
    "bayesian_optimization": "matdesign.baselines.bo",
    "classifier_free_guidance": "matdesign.baselines.cfg",
}
__all__ = ["Candidate", "DesignResult", "InputError", "__version__", "bayesian_optimization",
           "classifier_free_guidance", "design", "run_evaluation"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'matdesign' has no attribute {name!r}")
