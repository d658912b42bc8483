"""Replace every voxel's material by its nearest real material (the paper's "project" variant)."""

from __future__ import annotations

import numpy as np
import torch


def project_to_materials(x0: torch.Tensor, materials, normalization) -> torch.Tensor:
    """Nearest-material projection in normalized space.

    x0: (B, 3, *grid) normalized fields; materials: a ``MaterialTable``; normalization: the model's
    ``Normalization``. Returns a tensor of the same shape whose voxels are rows of the table.
    """
    props = np.stack([materials.E, materials.nu, materials.rho], axis=-1)
    table = torch.as_tensor(normalization.normalize(props, axis=-1), dtype=x0.dtype, device=x0.device)
    voxels = x0.movedim(1, -1).reshape(-1, 3)
    nearest = torch.cdist(voxels, table).argmin(dim=1)
    return table[nearest].reshape(*x0.movedim(1, -1).shape).movedim(-1, 1)
