"""Voxel fields as a VTK mesh (quads in 2D, hexahedra in 3D) with cell data, via meshio."""

from __future__ import annotations

import os
from pathlib import Path

import meshio
import numpy as np

from matdesign.atomic import atomic_path
from matdesign.errors import InputError

_CORNERS = {  # node offsets of a cell in VTK order: counter-clockwise bottom face, then top
    2: [(0, 0), (1, 0), (1, 1), (0, 1)],
    3: [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)],
}


def voxel_mesh(size: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ((size+1)^dim, 3) on the unit square/cube and cells (size^dim, 2^dim) node indices,
    cells in C order of the voxel array (array axis i = coordinate i)."""
    nodes = np.stack(np.meshgrid(*[np.arange(size + 1)] * dim, indexing="ij"), -1).reshape(-1, dim)
    points = np.zeros((nodes.shape[0], 3))
    points[:, :dim] = nodes / size
    cell = np.stack(np.meshgrid(*[np.arange(size)] * dim, indexing="ij"), -1).reshape(-1, 1, dim)
    corners = cell + np.asarray(_CORNERS[dim])[None]  # (cells, 2^dim, dim)
    cells = np.ravel_multi_index(tuple(np.moveaxis(corners, -1, 0)), (size + 1,) * dim)
    return points, cells


def write_voxels(path: str | os.PathLike, fields: np.ndarray, mask: np.ndarray) -> Path:
    """Write ``fields`` (3, *grid) and ``mask`` as cell data E, nu, rho, particle to a .vtu
    (XML unstructured grid) or legacy .vtk file, both open in ParaView. Atomic."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".vtu", ".vtk"):
        raise InputError(f"{path}: VTK output needs the suffix .vtu or .vtk")
    dim, size = mask.ndim, mask.shape[0]
    points, cells = voxel_mesh(size, dim)
    data = {name: [np.asarray(f).reshape(-1)] for name, f in zip(("E", "nu", "rho"), fields)}
    data["particle"] = [mask.reshape(-1).astype(np.uint8)]
    mesh = meshio.Mesh(points, [("quad" if dim == 2 else "hexahedron", cells)], cell_data=data)
    with atomic_path(path, suffix=suffix) as tmp:
        mesh.write(tmp, file_format=suffix[1:])
    return Path(path)
