"""Batched preconditioned conjugate gradients on nodal tensors (torch, any device)."""

from __future__ import annotations

from typing import Callable

import torch


def pcg(apply_A: Callable, b: torch.Tensor, precond: Callable, x0: torch.Tensor | None = None, *,
        tol: float = 1e-10, maxiter: int = 500, field_dims: int = 3,
        shrink: Callable | None = None) -> tuple[torch.Tensor, dict]:
    """Solve ``A x = b`` for every leading index of ``b`` independently.

    ``b``: (..., *field) with ``field_dims`` trailing axes per system. Stops a system once
    ``‖r‖₂ ≤ tol ‖b‖₂``; all stop when every system has (or at ``maxiter``). Returns ``x`` and
    ``info`` with ``iterations`` (int tensor (...)), ``residual`` (relative, (...)), ``converged``.
    ``shrink``: if given, finished samples (indices of axis 0 whose systems have all converged) are
    dropped from the iteration, so that a batch costs the sum of its samples' iterations rather
    than its slowest sample's times the batch size; ``shrink(keep)`` (indices into the current
    axis 0) is called first and must make ``apply_A`` and ``precond`` act on the kept samples.
    """
    dims = tuple(range(-field_dims, 0))

    def dot(u, v):
        return (u * v).sum(dims)

    def expand(s):
        return s.reshape(*s.shape, *(1,) * field_dims)

    x = torch.zeros_like(b) if x0 is None else x0.clone()
    r = b - apply_A(x) if x0 is not None else b.clone()
    bnorm = torch.sqrt(dot(b, b))
    target = tol * torch.where(bnorm > 0, bnorm, torch.ones_like(bnorm))
    rnorm = torch.sqrt(dot(r, r))
    active = rnorm > target
    iters = torch.zeros(rnorm.shape, dtype=torch.int64, device=b.device)
    out = (x, rnorm, iters, target)  # full-batch results (rows filled in as samples finish when shrinking)
    rows = torch.arange(b.shape[0], device=b.device) if shrink is not None and b.ndim > field_dims else None
    z = precond(r)
    p = z
    rz = dot(r, z)
    it = 0
    while it < maxiter and bool(active.any()):
        Ap = apply_A(p)
        pAp = dot(p, Ap)
        alpha = torch.where(active, rz / torch.where(pAp != 0, pAp, torch.ones_like(pAp)), torch.zeros_like(rz))
        x = x + expand(alpha) * p
        r = r - expand(alpha) * Ap
        iters += active.to(torch.int64)
        it += 1
        rnorm = torch.sqrt(dot(r, r))
        active = active & (rnorm > target)
        if rows is not None:
            busy = active.reshape(active.shape[0], -1).any(1)
            if not bool(busy.all()):
                for o, v in zip(out, (x, rnorm, iters, target)):
                    o[rows[~busy]] = v[~busy]
                keep = torch.nonzero(busy).squeeze(1)
                rows = rows[keep]
                x, r, p, rnorm, iters, target, active, rz = (
                    v[keep] for v in (x, r, p, rnorm, iters, target, active, rz))
                if len(keep):
                    shrink(keep)
        if not bool(active.any()):
            break
        z = precond(r)
        rz_new = dot(r, z)
        beta = torch.where(active, rz_new / torch.where(rz != 0, rz, torch.ones_like(rz)), torch.zeros_like(rz))
        p = z + expand(beta) * p
        rz = rz_new
    if rows is not None:
        for o, v in zip(out, (x, rnorm, iters, target)):
            if o is not v:
                o[rows] = v
        x, rnorm, iters, target = out
    rel = rnorm / torch.where(bnorm > 0, bnorm, torch.ones_like(bnorm))
    return x, {"iterations": iters, "residual": rel, "converged": bool((rnorm <= target).all())}
