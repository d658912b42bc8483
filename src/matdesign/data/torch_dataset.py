"""``FieldDataset``: a lazy torch view of a dataset store (one sample read per item)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from matdesign.data.store import open_store, store_path
from matdesign.errors import InputError


class FieldDataset(Dataset):
    """Items ``{"x": (3, *grid) float32 in [-1, 1], "K": () float32 [GPa]}`` of a store.

    ``x`` is normalized with the store's own ``normalization`` (the training table's bounds).
    The HDF5 file is opened lazily, once per process, so DataLoader workers each get their own
    handle and nothing but the requested sample is read into memory. ``in_memory=True`` instead
    reads all normalized fields once into one float32 tensor (4·3·size^dim bytes per sample: 3.9 GB
    for 10,000 3D 32³ samples), which keeps a GPU fed without loader workers.
    """

    def __init__(self, path: str | os.PathLike, *, in_memory: bool = False):
        from matdesign.materials import Normalization

        self.path: Path = store_path(path)
        with open_store(self.path) as f:
            self.meta: dict = json.loads(f.attrs["meta"])
            self._len = len(f["fields"])
            self.K = f["K"][()].astype(np.float32)
        self.normalization = Normalization.from_dict(self.meta["normalization"])
        self._file = None
        self._pid = None
        self._x = self._load_all() if in_memory else None

    def _load_all(self, block: int = 256) -> torch.Tensor:
        """All normalized fields (n, 3, *grid) float32, read block by block."""
        fields = self._fields()
        x = torch.empty((self._len, *fields.shape[1:]), dtype=torch.float32)
        for s in range(0, self._len, block):
            chunk = self._read(fields, slice(s, s + block), s)
            x[s:s + block] = torch.from_numpy(np.asarray(self.normalization.normalize(chunk, axis=1), dtype=np.float32))
        return x

    def __len__(self) -> int:
        return self._len

    def _fields(self):
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = open_store(self.path), os.getpid()
        return self._file["fields"]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not -self._len <= i < self._len:
            raise IndexError(f"index {i} out of range for {self._len} samples")
        if self._x is not None:
            return {"x": self._x[i], "K": torch.tensor(self.K[i])}
        x = self.normalization.normalize(self._read(self._fields(), i % self._len, i % self._len), axis=0)
        return {"x": torch.from_numpy(np.asarray(x, dtype=np.float32)), "K": torch.tensor(self.K[i])}

    def _read(self, fields, index, first: int) -> np.ndarray:
        """``fields[index]`` as float32; InputError naming the store and sample when it cannot be read."""
        try:
            return fields[index].astype(np.float32)
        except (OSError, ValueError) as err:
            raise InputError(f"dataset: {self.path} is damaged at sample {first} ({str(err).splitlines()[0]}); "
                             "regenerate it with `matdesign dataset generate --overwrite`") from None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"], state["_pid"] = None, None
        return state
