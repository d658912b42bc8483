"""matdesign.data: labelled microstructure datasets (generation on dask, HDF5 store, torch Dataset)."""

from matdesign.data.generate import generate_dataset
from matdesign.data.parallel import map_blocks, run_blocks
from matdesign.data.stats import dataset_stats, dataset_targets
from matdesign.data.store import open_store, read_meta
from matdesign.data.torch_dataset import FieldDataset

__all__ = [
    "FieldDataset",
    "dataset_stats",
    "dataset_targets",
    "generate_dataset",
    "map_blocks",
    "open_store",
    "read_meta",
    "run_blocks",
]

