"""Input checks and numpy/torch conversion for the public FEM functions."""

from __future__ import annotations

import numpy as np
import torch

from matdesign.errors import InputError
from matdesign.validate import check_dim


def as_fields(E, nu, dim: int, size: int | None = None) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Validate E, ν of shape (..., *grid) and return them as broadcast torch tensors.

    Returns ``(E, nu, was_numpy)``. Numpy (or Python) input becomes float64 CPU tensors; torch input
    keeps its device, dtype and autograd graph. Raises :class:`InputError` naming the problem.
    """
    check_dim(dim)
    was_numpy = not (isinstance(E, torch.Tensor) or isinstance(nu, torch.Tensor))
    ref = E if isinstance(E, torch.Tensor) else nu if isinstance(nu, torch.Tensor) else None
    E, nu = (_to_tensor(x, name, ref) for x, name in ((E, "E"), (nu, "nu")))
    try:
        E, nu = torch.broadcast_tensors(E, nu)
    except RuntimeError:
        raise InputError(f"E shape {tuple(E.shape)} and nu shape {tuple(nu.shape)} do not broadcast") from None
    grid = tuple(E.shape[E.ndim - dim :]) if E.ndim >= dim else ()
    if len(grid) != dim or len(set(grid)) != 1:
        raise InputError(f"E/nu shape {tuple(E.shape)}: the last {dim} axes must be a square/cube grid (..., "
                         + ", ".join(["n"] * dim) + ")")
    if grid[0] < 2:
        raise InputError(f"grid size {grid[0]}: must be at least 2 voxels per axis")
    if size is not None and grid[0] != size:
        raise InputError(f"grid size {grid[0]} does not match the solver's size={size}")
    with torch.no_grad():
        for name, x in (("E", E), ("nu", nu)):
            if not bool(torch.isfinite(x).all()):
                raise InputError(f"{name} contains NaN or inf")
        if bool((E <= 0).any()):
            raise InputError(f"E must be > 0 GPa everywhere (min {float(E.min()):.4g})")
        if bool(((nu <= -1) | (nu >= 0.5)).any()):
            raise InputError(f"nu must lie in (-1, 0.5) everywhere (range {float(nu.min()):.4g}..{float(nu.max()):.4g})")
    return E, nu, was_numpy


def _to_tensor(x, name: str, ref: torch.Tensor | None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            x = x.to(torch.float64)
        return x
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected a numeric array, got {type(x).__name__}") from None
    if ref is not None:
        return torch.as_tensor(arr, dtype=ref.dtype, device=ref.device)
    return torch.from_numpy(arr)


def to_output(x: torch.Tensor, was_numpy: bool, like: torch.Tensor):
    """Return ``x`` as float64 numpy (numpy input) or as a tensor with ``like``'s dtype/device."""
    if was_numpy:
        return x.detach().to("cpu", torch.float64).numpy()
    return x.to(dtype=like.dtype, device=like.device)
