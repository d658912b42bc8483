"""Dataset statistics: K percentiles, the paper's five evaluation targets, chunk coverage, histogram."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from matdesign.atomic import save_figure
from matdesign.data.store import open_store, update_meta
from matdesign.errors import InputError

PERCENTILES = (1, 25, 50, 75, 99)


def targets_from_K(K: np.ndarray) -> np.ndarray:
    """Five targets uniformly spaced from the 1st to the 99th percentile of ``K``, both included."""
    lo, hi = np.percentile(np.asarray(K, dtype=np.float64), [1, 99])
    return np.linspace(lo, hi, 5)


def _labels(K: np.ndarray, path) -> np.ndarray:
    """``K`` unless the store has no FEM labels (made with ``--labels none``): then InputError."""
    if np.isnan(K).any():
        raise InputError(f"{path} has no FEM labels (made with --labels none); its K statistics are undefined")
    return K


def dataset_targets(path: str | os.PathLike) -> np.ndarray:
    """The five evaluation targets K* [GPa] of a dataset (the paper's protocol), shape (5,)."""
    with open_store(path) as f:
        return targets_from_K(_labels(f["K"][()], path))


def dataset_stats(path: str | os.PathLike) -> dict:
    """K percentiles and targets [GPa], and coverage of the table's non-empty chunks.

    Coverage counts distinct chunks (of the dataset's own material table) used as matrix, as
    particle, and as either.
    """
    with open_store(path) as f:
        K = _labels(f["K"][()], path)
        meta = json.loads(f.attrs["meta"])
        mat, par = f["matrix_index"][()], f["particle_index"][()]
    table = _table_of(meta)
    chunk = table.chunk_index()
    nonempty = len(table.nonempty_chunks())
    return {
        "n": int(len(K)),
        "K_percentiles": {str(p): float(v) for p, v in zip(PERCENTILES, np.percentile(K, PERCENTILES))},
        "K_min": float(K.min()),
        "K_max": float(K.max()),
        "targets": [float(t) for t in targets_from_K(K)],
        "chunks": {
            "nonempty": nonempty,
            "matrix": int(len(np.unique(chunk[mat]))),
            "particle": int(len(np.unique(chunk[par]))),
            "either": int(len(np.unique(np.concatenate([chunk[mat], chunk[par]])))),
        },
    }


def _table_of(meta: dict):
    """The material table a dataset was made with (from the CSV text in its metadata)."""
    from matdesign.materials import MaterialTable

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "materials.csv"
        path.write_text(meta["materials"]["csv"], encoding="utf-8")
        return MaterialTable.from_csv(path)


def save_targets(path: str | os.PathLike, stats: dict) -> dict:
    """Store ``stats["targets"]`` and the K percentiles in the dataset metadata (atomic update)."""
    return update_meta(path, targets=stats["targets"], K_percentiles=stats["K_percentiles"])


def plot_k_histogram(path: str | os.PathLike, out: str | os.PathLike, bins: int = 60) -> Path:
    """Histogram of K with the five targets marked, saved to ``out`` (format from its suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open_store(path) as f:
        K = f["K"][()]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(K, bins=bins, color="0.6")
    for t in targets_from_K(K):
        ax.axvline(t, color="C3", lw=1)
    ax.set_xlabel("bulk modulus K [GPa]")
    ax.set_ylabel("samples")
    ax.set_title(f"{Path(path).name}: n={len(K)}, targets (red) from 1st to 99th percentile", fontsize=9)
    fig.tight_layout()
    out = save_figure(fig, out)
    plt.close(fig)
    return out
