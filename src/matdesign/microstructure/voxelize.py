"""Voxelization of equal circles/spheres on a regular grid over the unit square/cube."""

from __future__ import annotations

import math

import numpy as np


def voxelize(centers: np.ndarray, radius: float, size: int, *, periodic: bool = False) -> np.ndarray:
    """Boolean mask (size,)*dim: True where the voxel centre ((i + 0.5)/size) is closer than
    ``radius`` to some centre in ``centers`` (n, dim), coordinates relative to the unit cell.
    ``periodic``: to some periodic image of a centre (voxel indices wrap modulo ``size``; radius ≤ 1/2).

    Vectorised over all particles at once: each particle tests the voxels of a common cubic stencil
    around it (its bounding box), so the cost is n·(2r·size + 2)^dim, independent of the grid size.
    """
    centers = np.asarray(centers, dtype=np.float64)
    n, dim = centers.shape
    mask = np.zeros((size,) * dim, dtype=bool)
    if n == 0 or radius <= 0:
        return mask
    width = math.ceil(2.0 * radius * size) + 2
    offsets = np.stack(np.meshgrid(*[np.arange(width)] * dim, indexing="ij"), axis=-1).reshape(-1, dim)
    start = np.floor((centers - radius) * size - 0.5).astype(np.int64)  # (n, dim) first voxel index
    index = start[:, None, :] + offsets[None, :, :]  # (n, width^dim, dim)
    delta = (index + 0.5) / size - centers[:, None, :]
    inside = np.einsum("npd,npd->np", delta, delta) < radius * radius
    if periodic:
        mask[tuple((index[inside] % size).T)] = True
        return mask
    inside &= ((index >= 0) & (index < size)).all(axis=-1)
    mask[tuple(index[inside].T)] = True
    return mask
