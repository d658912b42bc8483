"""Per-property min–max map of (E, ν, ρ) to [−1, 1] and back."""

from __future__ import annotations

import sys

import numpy as np

from matdesign.errors import InputError
from matdesign.materials.validation import MATERIAL_COLUMNS


class Normalization:
    """Affine map of each property (E [GPa], ν, ρ [g/cm³]) from [min, max] to [−1, 1].

    ``bounds``: (3, 2) = [[E_min, E_max], [nu_min, nu_max], [rho_min, rho_max]], min < max.
    ``normalize``/``denormalize`` take numpy arrays or torch tensors (returned as the same kind,
    torch on the input's device and floating dtype) whose ``axis`` has length 3 (E, ν, ρ).
    """

    def __init__(self, bounds) -> None:
        b = np.array(bounds, dtype=np.float64)
        if b.shape != (3, 2):
            raise InputError(f"normalization bounds must have shape (3, 2), got {b.shape}")
        if not np.isfinite(b).all():
            raise InputError(f"normalization bounds must be finite, got {b.tolist()}")
        for prop, (lo, hi) in zip(MATERIAL_COLUMNS, b):
            if not lo < hi:
                raise InputError(f"normalization bounds for {prop}: need min < max, got [{lo:g}, {hi:g}]")
        b.setflags(write=False)
        self._bounds = b

    @property
    def bounds(self) -> np.ndarray:
        """Read-only float64 (3, 2) array of [min, max] per property."""
        return self._bounds

    def normalize(self, x, axis: int = -1):
        """Physical values → [−1, 1] (values outside the bounds map outside [−1, 1])."""
        x = _as_array(x)
        lo, hi = self._broadcast_bounds(x, axis)
        return 2.0 * (x - lo) / (hi - lo) - 1.0

    def denormalize(self, y, axis: int = -1):
        """Inverse of :meth:`normalize`."""
        y = _as_array(y)
        lo, hi = self._broadcast_bounds(y, axis)
        return (y + 1.0) * 0.5 * (hi - lo) + lo

    def _broadcast_bounds(self, x, axis: int):
        """(lo, hi) shaped to broadcast against ``x`` along ``axis``, in x's array kind."""
        ndim = x.ndim
        if not -ndim <= axis < ndim or x.shape[axis] != 3:
            raise InputError(f"normalization: property axis {axis} of an array of shape {tuple(x.shape)} "
                             "must have length 3 (E, nu, rho)")
        shape = [1] * ndim
        shape[axis] = 3
        lo, hi = self._bounds[:, 0].reshape(shape), self._bounds[:, 1].reshape(shape)
        if _is_tensor(x):
            import torch

            dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
            return (torch.tensor(lo.tolist(), dtype=dtype, device=x.device),
                    torch.tensor(hi.tolist(), dtype=dtype, device=x.device))
        return lo, hi

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready ``{"E": [min, max], "nu": [...], "rho": [...]}``."""
        return {prop: [float(lo), float(hi)] for prop, (lo, hi) in zip(MATERIAL_COLUMNS, self._bounds)}

    @classmethod
    def from_dict(cls, d: dict) -> "Normalization":
        """Inverse of :meth:`to_dict`."""
        missing = [p for p in MATERIAL_COLUMNS if p not in d]
        if missing:
            raise InputError(f"normalization dict lacks {', '.join(missing)} (has {sorted(d)})")
        return cls([d[p] for p in MATERIAL_COLUMNS])

    def __eq__(self, other) -> bool:
        return isinstance(other, Normalization) and np.array_equal(self._bounds, other._bounds)

    def __hash__(self) -> int:
        return hash(self._bounds.tobytes())

    def __repr__(self) -> str:
        return "Normalization(" + ", ".join(f"{p}=[{lo:g}, {hi:g}]" for p, (lo, hi) in self.to_dict().items()) + ")"


def _as_array(x):
    """Torch tensors pass through; anything else becomes a float64 numpy array."""
    return x if _is_tensor(x) else np.asarray(x, dtype=np.float64)


def _is_tensor(x) -> bool:
    """Whether ``x`` is a torch tensor, without importing torch (no tensor exists before torch is imported)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)
