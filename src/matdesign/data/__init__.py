"""matdesign.data: labelled microstructure datasets (generation on dask, HDF5 store, torch Dataset).

Names are imported on first use, so reading a store's metadata or checking a path does not import torch.
"""

import importlib

_WHERE = {
    "FieldDataset": "torch_dataset",
    "dataset_stats": "stats",
    "dataset_targets": "stats",
    "generate_dataset": "generate",
    "map_blocks": "parallel",
    "open_store": "store",
    "read_meta": "store",
    "run_blocks": "parallel",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'matdesign.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"matdesign.data.{_WHERE[name]}"), name)
