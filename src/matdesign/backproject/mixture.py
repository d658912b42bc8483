"""Two-material fit of a relaxed field: a 2-component spherical Gaussian mixture (sec. 5.3)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

#: Ashman's D = √2·|μ0 − μ1| / √(σ0² + σ1²) below this means one material plus noise: a single
#: isotropic Gaussian split in two gives D ≈ 1.8, two materials of a clean sample give D ≫ 100.
MIN_SEPARATION = 2.5


@dataclass(frozen=True)
class Mixture:
    """``means`` (2, 3) and spherical ``variances`` (2,) in normalized space, voxel ``labels`` (N,)
    = index of the nearer mean, ``one_phase`` (the two means describe one material),
    ``converged`` (EM converged)."""

    means: np.ndarray
    variances: np.ndarray
    labels: np.ndarray
    one_phase: bool
    converged: bool


def fit_mixture(x: np.ndarray, random_state: int) -> Mixture:
    """Fit the mixture to ``x`` (N, 3) normalized (E, ν, ρ) voxel values; a constant ``x`` gives
    two equal means with zero variance (one phase) without fitting."""
    x = np.asarray(x, dtype=np.float64)
    if np.ptp(x, axis=0).max() == 0:
        means = np.repeat(x[:1], 2, axis=0)
        return Mixture(means, np.zeros(2), np.zeros(len(x), int), True, True)
    gmm = GaussianMixture(n_components=2, covariance_type="spherical", random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(x)
    means, variances = gmm.means_, gmm.covariances_
    labels = np.argmin(((x[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    separation = np.sqrt(2.0) * np.linalg.norm(means[0] - means[1]) / np.sqrt(variances.sum())
    one_phase = bool(separation < MIN_SEPARATION or np.bincount(labels, minlength=2).min() == 0)
    return Mixture(means, variances, labels, one_phase, bool(gmm.converged_))
