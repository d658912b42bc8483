"""A voxelized matrix–particle microstructure and its .npz / VTK files."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from matdesign.atomic import atomic_path
from matdesign.errors import InputError
from matdesign.materials import Material

_FORMAT = "matdesign.microstructure/1"


@dataclass(eq=False)
class Microstructure:
    """Voxel fields of one microstructure on the unit square/cube.

    ``fields`` float32 (3, *grid): E [GPa], ν [-], ρ [g/cm³]; ``particle_mask`` bool grid;
    ``centers`` (n, dim) in [0, 1]; ``radius`` relative to the cell; ``volume_fraction`` the
    fraction of particle voxels; array axis i is spatial axis i.
    """

    fields: np.ndarray
    particle_mask: np.ndarray
    centers: np.ndarray
    radius: float
    volume_fraction: float
    matrix: Material
    particle: Material

    @property
    def diameter(self) -> float:
        return 2.0 * self.radius

    @property
    def n_particles(self) -> int:
        return int(self.centers.shape[0])

    @property
    def dim(self) -> int:
        return int(self.particle_mask.ndim)

    @property
    def size(self) -> int:
        return int(self.particle_mask.shape[0])

    def save(self, path: str | os.PathLike) -> Path:
        """Write an .npz (arrays + JSON metadata string, no pickled objects), atomically."""
        meta = {
            "format": _FORMAT,
            "radius": float(self.radius),
            "volume_fraction": float(self.volume_fraction),
            "matrix": dataclasses.asdict(self.matrix),
            "particle": dataclasses.asdict(self.particle),
        }
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as f:
            np.savez_compressed(
                f,
                fields=self.fields,
                particle_mask=self.particle_mask,
                centers=self.centers,
                metadata=np.array(json.dumps(meta)),
            )
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Microstructure:
        """Read a file written by :meth:`save`; a missing or malformed file raises InputError."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["metadata"]))
                arrays = {k: data[k] for k in ("fields", "particle_mask", "centers")}
        except (OSError, ValueError, KeyError) as err:
            raise InputError(f"{path}: not a readable microstructure .npz ({err})") from err
        if meta.get("format") != _FORMAT:
            raise InputError(f"{path}: format {meta.get('format')!r}, expected {_FORMAT!r}")
        return cls(
            fields=arrays["fields"],
            particle_mask=arrays["particle_mask"],
            centers=arrays["centers"],
            radius=meta["radius"],
            volume_fraction=meta["volume_fraction"],
            matrix=Material(**meta["matrix"]),
            particle=Material(**meta["particle"]),
        )

    def to_vtk(self, path: str | os.PathLike) -> Path:
        """Write the voxels as quads/hexahedra with cell data E, nu, rho, particle (e.g. .vtu)."""
        from matdesign.microstructure.vtk import write_voxels

        return write_voxels(path, self.fields, self.particle_mask)
