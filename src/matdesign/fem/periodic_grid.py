"""Matrix-free element operators on a periodic voxel grid (the ``n**dim`` torus; torch, any device).

Nodal vectors have shape ``(..., dim, *(n,)*dim)``: node i sits at x = i/n and node i + n is node i.
They hold the periodic fluctuation ``ũ`` of ``u = ε·x + ũ``. Since element forces are blind to
translations, an element's dofs are ``a + gather(ũ)`` with ``a`` = :meth:`PeriodicVoxelGrid.element_affine`,
the same for every element. Gather pads the node grid by one wrapped layer per axis and slices it
like :class:`~matdesign.fem.grid.VoxelGrid`; scatter slice-adds into the padded grid and folds the
padding back onto the first layer (its exact transpose).
"""

from __future__ import annotations

import torch

from matdesign.fem.elements import corner_offsets
from matdesign.fem.grid import VoxelGrid


class PeriodicVoxelGrid(VoxelGrid):
    """:class:`VoxelGrid` with nodes wrapping around: ``node_shape = (n,)*dim``, every node free
    (``interior`` all ones, (1, *node_shape)); the element operators (``apply_lame``, ``diag_*``, ...)
    are inherited and act on periodic nodal fields.
    """

    periodic = True

    def __init__(self, dim: int, n: int, device="cpu", dtype=torch.float64):
        super().__init__(dim, n, device, dtype)
        self.node_shape = (n,) * dim
        self.interior = torch.ones((1, *self.node_shape), device=self.device, dtype=dtype)

    def _pad(self, u: torch.Tensor) -> torch.Tensor:
        """``(..., *(n,)*dim)`` → ``(..., *(n+1,)*dim)`` with the first layer repeated after the last."""
        for ax in range(u.ndim - self.dim, u.ndim):
            u = torch.cat([u, u.narrow(ax, 0, 1)], ax)
        return u

    def gather(self, u: torch.Tensor) -> torch.Tensor:
        """Periodic nodal ``(..., dim, *nodes)`` → element dofs ``(..., ne, n_el)``."""
        return super().gather(self._pad(u))

    def scatter(self, f: torch.Tensor) -> torch.Tensor:
        """Element dofs ``(..., ne, n_el)`` → summed periodic nodal ``(..., dim, *nodes)``."""
        lead, n = f.shape[:-2], self.n
        f = f.reshape(*lead, 2**self.dim, self.dim, *(n,) * self.dim)
        out = f.new_zeros(*lead, self.dim, *(n + 1,) * self.dim)
        for a, sl in enumerate(self.corners):
            out[(..., slice(None)) + sl] += f.select(-self.dim - 2, a)
        for ax in range(out.ndim - self.dim, out.ndim):
            out.narrow(ax, 0, 1).add_(out.narrow(ax, n, 1))
            out = out.narrow(ax, 0, n)
        return out.contiguous()

    def affine(self, strain: torch.Tensor) -> torch.Tensor:
        """Not defined: ``ε·x`` is not periodic; use :meth:`element_affine`."""
        raise TypeError("PeriodicVoxelGrid has no nodal affine field; use element_affine")

    def element_affine(self, strains: torch.Tensor) -> torch.Tensor:
        """Element dofs ``a`` (R, ne) of ``u = ε·x`` at an element's corners ``h·offset`` (h = 1/n) for
        strains (R, dim, dim) (float64 in, grid dtype out); local dof ``k·dim + c`` is ``(ε h off_k)_c``."""
        off = torch.tensor(corner_offsets(self.dim), dtype=torch.float64) / self.n  # (2**dim, dim)
        a = torch.einsum("rcj,kj->rkc", strains.to(torch.float64).cpu(), off)
        return a.reshape(len(strains), self.ne).to(device=self.device, dtype=self.dtype)
