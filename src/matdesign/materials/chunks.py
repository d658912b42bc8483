"""The paper's property box and its grid of 10×10×10 equidistant chunks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matdesign.errors import InputError


@dataclass(frozen=True)
class PropertyFilter:
    """Keeps E_min < E ≤ E_max [GPa], nu_min < ν < nu_max, rho_min < ρ < rho_max [g/cm³].

    The defaults are the paper's selection (0 < E ≤ 500, 0 < ν < 0.5, 0 < ρ < 10).
    """

    E_min: float = 0.0
    E_max: float = 500.0
    nu_min: float = 0.0
    nu_max: float = 0.5
    rho_min: float = 0.0
    rho_max: float = 10.0

    def __post_init__(self) -> None:
        for prop, (lo, hi) in zip(("E", "nu", "rho"), self.bounds):
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                raise InputError(f"filter bounds for {prop}: need finite min < max, got ({lo:g}, {hi:g})")

    @property
    def bounds(self) -> np.ndarray:
        """(3, 2) float64 [[E_min, E_max], [nu_min, nu_max], [rho_min, rho_max]]."""
        return np.array([[self.E_min, self.E_max], [self.nu_min, self.nu_max], [self.rho_min, self.rho_max]])

    def mask(self, E, nu, rho) -> np.ndarray:
        """Boolean array: True where (E, ν, ρ) lies inside the box."""
        E, nu, rho = (np.asarray(a, dtype=np.float64) for a in (E, nu, rho))
        return ((self.E_min < E) & (E <= self.E_max) & (self.nu_min < nu) & (nu < self.nu_max)
                & (self.rho_min < rho) & (rho < self.rho_max))

    def describe(self) -> str:
        """Human-readable form, e.g. '0 < E ≤ 500 GPa, 0 < ν < 0.5, 0 < ρ < 10 g/cm³'."""
        return (f"{self.E_min:g} < E ≤ {self.E_max:g} GPa, {self.nu_min:g} < ν < {self.nu_max:g}, "
                f"{self.rho_min:g} < ρ < {self.rho_max:g} g/cm³")


PAPER_FILTER = PropertyFilter()

#: Segments per property axis; chunks are numbered 0 … N_SEGMENTS³ − 1.
N_SEGMENTS = 10


def chunk_index(E, nu, rho, box: PropertyFilter = PAPER_FILTER, n: int = N_SEGMENTS) -> np.ndarray:
    """Chunk number ``(i_E · n + i_ν) · n + i_ρ`` of each (E, ν, ρ), int64, broadcast shape.

    Each property range of ``box`` is cut into ``n`` equal segments; segment k holds
    [min + k·w, min + (k+1)·w), the top edge joins the last segment, and values outside the
    box fall into the nearest edge segment.
    """
    idx = np.zeros(np.broadcast_shapes(*(np.shape(a) for a in (E, nu, rho))), dtype=np.int64)
    for values, (lo, hi) in zip((E, nu, rho), box.bounds):
        seg = np.floor((np.asarray(values, dtype=np.float64) - lo) * n / (hi - lo))
        idx = idx * n + np.clip(seg, 0, n - 1).astype(np.int64)
    return idx


def chunk_segments(index, n: int = N_SEGMENTS) -> np.ndarray:
    """Inverse of the numbering: (..., 3) int segment indices (i_E, i_ν, i_ρ) of chunk numbers."""
    index = np.asarray(index, dtype=np.int64)
    return np.stack([index // (n * n), (index // n) % n, index % n], axis=-1)
