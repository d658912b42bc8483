"""The autograd rule of every effective quantity of the FEM: the energy-form gradient from the same solve."""

from __future__ import annotations

import torch


class EnergyForm(torch.autograd.Function):
    """An effective quantity Q(E, ν) — K (B,) or the Voigt stiffness C (B, R, R) — whose energy-form
    gradient (``dK/dθ = ½ uᵀ(∂K_h/∂θ)u``, ``dC_ij/dθ = u_iᵀ(∂K_h/∂θ)u_j``) comes from the same solve.

    ``solve(E, nu) -> (Q, dQ/dE, dQ/dν)`` with the derivatives shaped ``(*Q.shape, *grid)``.
    """

    @staticmethod
    def forward(ctx, E, nu, solve, dim: int):
        Q, dQ_dE, dQ_dnu = solve(E, nu)
        ctx.save_for_backward(dQ_dE.to(E.dtype), dQ_dnu.to(nu.dtype))
        ctx.dim = dim
        ctx.q_axes = tuple(range(E.ndim - dim, Q.ndim))  # Q's own axes beyond the batch (C: the Voigt pair)
        return Q.to(device=E.device, dtype=E.dtype)

    @staticmethod
    def backward(ctx, grad_Q):
        dQ_dE, dQ_dnu = ctx.saved_tensors
        g = grad_Q.reshape(*grad_Q.shape, *(1,) * ctx.dim).to(dQ_dE)
        if not ctx.q_axes:
            return g * dQ_dE, g * dQ_dnu, None, None
        return (g * dQ_dE).sum(ctx.q_axes), (g * dQ_dnu).sum(ctx.q_axes), None, None
