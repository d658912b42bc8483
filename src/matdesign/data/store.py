"""The HDF5 dataset store ``DATA/dataset.h5``: assembled from part files, metadata in ``attrs["meta"]``.

Per-sample datasets (first axis N, ``fields`` chunked one sample per chunk, gzip):
``fields`` (N, 3, *grid) float32 (E [GPa], ν, ρ [g/cm³]); ``K`` (N,) [GPa]; ``C`` (N, 3, 3) or
(N, 6, 6) Voigt [GPa]; ``rho_mean`` (N,) [g/cm³]; ``matrix_index``, ``particle_index`` (N,) rows of
the material table; ``matrix_name``, ``particle_name`` (N,) str; ``diameter`` (N,) relative to the
cell; ``volume_fraction`` (N,) sampled; ``voxel_fraction`` (N,) realized on the grid;
``n_particles`` (N,); ``seed`` (N,) uint64 (the sample's own seed, see :mod:`.seeding`).
The store is written to a temp file and ``os.replace``-d, so it is either complete or absent.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Iterable

import h5py
import numpy as np

from matdesign.atomic import atomic_path
from matdesign.errors import InputError

STORE_NAME = "dataset.h5"


def _create(f: h5py.File, block: dict[str, np.ndarray], n: int) -> None:
    """Create the N-sample datasets of ``f`` shaped and typed like the arrays of ``block``."""
    for name, value in block.items():
        value = np.asarray(value)
        dtype = h5py.string_dtype() if value.dtype.kind in "OU" else value.dtype
        if name == "fields":
            opts = dict(chunks=(1, *value.shape[1:]), compression="gzip", compression_opts=1, shuffle=True)
        else:
            opts = dict(chunks=True)
        f.create_dataset(name, shape=(n, *value.shape[1:]), dtype=dtype, **opts)


def write_store(path: str | os.PathLike, blocks: Iterable[dict[str, np.ndarray]], n: int, meta: dict) -> Path:
    """Write ``n`` samples, given as consecutive blocks (dicts of per-sample arrays), and ``meta``."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        start = 0
        for block in blocks:
            if start == 0:
                _create(f, block, n)
            b = len(block["seed"])
            for name, value in block.items():
                f[name][start : start + b] = value
            start += b
        if start != n:
            raise RuntimeError(f"store: got {start} samples from the parts, expected {n}")
        f.attrs["meta"] = json.dumps(meta)
    return Path(path)


def store_path(path: str | os.PathLike) -> Path:
    """The store file for ``path``: ``path`` itself if it is a file, else ``path/dataset.h5``."""
    path = Path(path)
    return path / STORE_NAME if path.is_dir() or path.suffix != ".h5" else path


def open_store(path: str | os.PathLike) -> h5py.File:
    """Open a dataset store read-only (a dataset directory or the .h5 file); InputError if missing."""
    p = store_path(path)
    if not p.is_file():
        raise InputError(f"dataset: no store at {p} (generate it with `matdesign dataset generate`)")
    try:
        f = h5py.File(p, "r")
    except OSError as err:
        raise InputError(f"dataset: cannot read {p} as HDF5 ({err})") from err
    if "meta" not in f.attrs or "fields" not in f:
        f.close()
        raise InputError(f"dataset: {p} is not a matdesign dataset (no meta/fields)")
    return f


def check_store(path: str | os.PathLike, *, full: bool = True) -> int:
    """The number of samples of a readable, consistent store; InputError naming the file otherwise.

    Every per-sample dataset must have the same length and metadata must be JSON; the first and last
    samples are read (a truncated file fails there), and with ``full`` every sample, block by block.
    """
    p = store_path(path)
    with open_store(p) as f:
        try:
            json.loads(f.attrs["meta"])
            n = len(f["fields"])
            short = [name for name, ds in f.items() if len(ds) != n]
            if short:
                raise InputError(f"dataset: {p} is inconsistent: {', '.join(short)} do not have {n} samples; "
                                 "regenerate it with `matdesign dataset generate --overwrite`")
            for ds in f.values():
                _read(ds, full)
        except (OSError, ValueError, KeyError) as err:
            raise InputError(f"dataset: {p} is damaged ({str(err).splitlines()[0]}); "
                             "regenerate it with `matdesign dataset generate --overwrite`") from None
    return n


def _read(ds: h5py.Dataset, full: bool) -> None:
    """Read the first and last rows of ``ds`` (``full``: every row, in blocks of about 64k values)."""
    n = len(ds)
    if n == 0:
        return
    if not full:
        for row in (0, n - 1):
            ds[row:row + 1]
        return
    step = max(1, (1 << 16) // max(1, int(np.prod(ds.shape[1:]))))
    for start in range(0, n, step):
        ds[start:start + step]


def read_meta(path: str | os.PathLike) -> dict:
    """The metadata dict of a store."""
    with open_store(path) as f:
        return json.loads(f.attrs["meta"])


def update_meta(path: str | os.PathLike, **updates) -> dict:
    """Merge ``updates`` into the store's metadata atomically (copy, edit, ``os.replace``)."""
    p = store_path(path)
    meta = read_meta(p)
    meta.update(updates)
    with atomic_path(p) as tmp:
        shutil.copyfile(p, tmp)
        with h5py.File(tmp, "r+") as f:
            f.attrs["meta"] = json.dumps(meta)
    return meta
