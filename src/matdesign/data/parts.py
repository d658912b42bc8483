"""Small HDF5 files holding one block of results (a dict of arrays), written atomically.

A part file either exists complete or not at all (written to a temp name, then ``os.replace``),
so the set of part files on disk is the completion record of a blocked computation.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import h5py
import numpy as np

from matdesign.atomic import atomic_path

_PART = re.compile(r"^block-(\d{6})\.h5$")


def part_path(parts_dir: str | os.PathLike, block: int) -> Path:
    """``parts_dir/block-000123.h5`` for block 123."""
    return Path(parts_dir) / f"block-{block:06d}.h5"


def write_part(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` (name → array; str arrays become UTF-8 strings) to ``path`` atomically."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name, value in arrays.items():
            value = np.asarray(value)
            if value.dtype.kind in "OU":
                value = value.astype(h5py.string_dtype())
            f.create_dataset(name, data=value)


def read_part(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a part written by :func:`write_part` (strings come back as ``str`` object arrays)."""
    out = {}
    with h5py.File(path, "r") as f:
        for name, ds in f.items():
            out[name] = ds.asstr()[()] if h5py.check_string_dtype(ds.dtype) else ds[()]
    return out


def finished_blocks(parts_dir: str | os.PathLike) -> set[int]:
    """Indices of the blocks whose part file exists in ``parts_dir`` (temp files are ignored)."""
    parts_dir = Path(parts_dir)
    if not parts_dir.is_dir():
        return set()
    return {int(m.group(1)) for p in parts_dir.iterdir() if (m := _PART.match(p.name))}
