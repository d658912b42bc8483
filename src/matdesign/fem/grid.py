"""Matrix-free element operators on a voxel grid (torch, any device).

Nodal vectors have shape ``(..., dim, *(n+1,)*dim)`` (component axis, then node axes; array axis i
is spatial axis i, node i sits at x = i/n). Element quantities are flattened over the ``n**dim``
voxels in C order. An element's dofs are gathered by slicing the node grid once per corner and
scattered back with slice-adds, so there are no index arrays and no Python loop over elements.
"""

from __future__ import annotations

import numpy as np
import torch

from matdesign.fem.elements import corner_offsets, lame_matrices


class VoxelGrid:
    """Gather/scatter and element operators of an ``n**dim`` voxel grid with Dirichlet boundary.

    ``K_lam``/``K_mu`` (ne, ne) and the stacked ``(2 ne, ne)`` matrix live on ``device`` in ``dtype``
    (ne = dim * 2**dim); ``interior`` is the (1, *(n+1,)*dim) mask of free nodes.
    """

    periodic = False

    def __init__(self, dim: int, n: int, device="cpu", dtype=torch.float64):
        self.dim, self.n = dim, n
        self.device, self.dtype = torch.device(device), dtype
        self.ne = dim * 2**dim
        self.n_el = n**dim
        self.node_shape = (n + 1,) * dim
        self.corners = [tuple(slice(o, o + n) for o in off) for off in corner_offsets(dim)]
        k_lam, k_mu = lame_matrices(dim, 1.0 / n)
        self.K_lam = torch.tensor(k_lam, device=self.device, dtype=dtype)
        self.K_mu = torch.tensor(k_mu, device=self.device, dtype=dtype)
        self.K_stack = torch.cat([self.K_lam, self.K_mu], 0)
        mask = np.zeros(self.node_shape, dtype=bool)
        mask[(slice(1, n),) * dim] = True
        self.interior = torch.tensor(mask, device=self.device).unsqueeze(0).to(dtype)

    def gather(self, u: torch.Tensor) -> torch.Tensor:
        """Nodal ``(..., dim, *nodes)`` → element dofs ``(..., ne, n_el)``."""
        lead = u.shape[: -self.dim - 1]
        parts = [u[(..., slice(None)) + sl] for sl in self.corners]
        return torch.stack(parts, -self.dim - 2).reshape(*lead, self.ne, self.n_el)

    def scatter(self, f: torch.Tensor) -> torch.Tensor:
        """Element dofs ``(..., ne, n_el)`` → summed nodal ``(..., dim, *nodes)``."""
        lead = f.shape[:-2]
        f = f.reshape(*lead, 2**self.dim, self.dim, *(self.n,) * self.dim)
        out = f.new_zeros(*lead, self.dim, *self.node_shape)
        for a, sl in enumerate(self.corners):
            out[(..., slice(None)) + sl] += f.select(-self.dim - 2, a)
        return out

    def element_products(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(u_e, [K_lam; K_mu] u_e)`` for nodal ``u``: shapes (..., ne, n_el) and (..., 2 ne, n_el)."""
        ue = self.gather(u)
        return ue, torch.matmul(self.K_stack, ue)

    def apply_lame(self, u: torch.Tensor, lam: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        """``A u`` with ``K_e = lam_e K_lam + mu_e K_mu``; lam, mu broadcast to (..., n_el)."""
        _, y = self.element_products(u)
        ne = self.ne
        return self.scatter((lam.unsqueeze(-2) * y[..., :ne, :]).addcmul_(mu.unsqueeze(-2), y[..., ne:, :]))

    def apply_dense(self, u: torch.Tensor, Ke: torch.Tensor) -> torch.Tensor:
        """``A u`` with per-element matrices ``Ke`` of shape (..., n_el, ne, ne)."""
        ue = self.gather(u).transpose(-1, -2).unsqueeze(-1)
        return self.scatter(torch.matmul(Ke, ue).squeeze(-1).transpose(-1, -2))

    def diag_lame(self, lam: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        """Diagonal of the assembled operator, nodal shape (..., dim, *nodes)."""
        d = torch.diagonal(self.K_lam)[:, None] * lam.unsqueeze(-2)
        return self.scatter(d + torch.diagonal(self.K_mu)[:, None] * mu.unsqueeze(-2))

    def diag_dense(self, Ke: torch.Tensor) -> torch.Tensor:
        """Diagonal of the operator assembled from ``Ke`` (..., n_el, ne, ne)."""
        return self.scatter(torch.diagonal(Ke, dim1=-2, dim2=-1).transpose(-1, -2))

    def affine(self, strain: torch.Tensor) -> torch.Tensor:
        """Nodal field ``u = ε x`` for strains ``strain`` (..., dim, dim) → (..., dim, *nodes)."""
        axes = [torch.linspace(0.0, 1.0, self.n + 1, device=self.device, dtype=self.dtype)] * self.dim
        x = torch.stack(torch.meshgrid(*axes, indexing="ij"), 0).reshape(self.dim, -1)
        u = torch.matmul(strain.to(device=self.device, dtype=self.dtype), x)
        return u.reshape(*u.shape[:-1], *self.node_shape)
