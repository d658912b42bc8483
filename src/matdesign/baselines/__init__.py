"""The paper's baselines: Bayesian optimisation over the design parameters (:mod:`~matdesign.baselines.bo`)
and classifier-free guidance of a K-conditional diffusion model (:mod:`~matdesign.baselines.cfg`); both
return a :class:`~matdesign.pipeline.DesignResult` ranked like ``matdesign design``."""

from matdesign.baselines.bo import bayesian_optimization
from matdesign.baselines.cfg import classifier_free_guidance

__all__ = ["bayesian_optimization", "classifier_free_guidance"]
