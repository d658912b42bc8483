"""Shared pieces of the experiment scripts: our 2D targets, success fractions, and a row log that
prints each result and rewrites the output JSON atomically after every row (a killed run keeps the
rows it finished)."""

from __future__ import annotations

import json
import os

import numpy as np

from matdesign.atomic import write_text_atomic

TARGETS_2D = (0.020, 62.9, 125.9, 188.8, 251.7)  # docs/datasets.md, data/2d-64-targets
"""The five 2D evaluation targets K* [GPa] (1st–99th percentile of K over data/2d-64-targets)."""


def frac_below(errors, margin: float) -> float:
    """Fraction of ``errors`` below ``margin``; NaN (a failed design) counts as a miss."""
    return float(np.mean(np.nan_to_num(np.asarray(errors, dtype=float), nan=np.inf) < margin))


class RowLog:
    """Rows of one experiment: ``add`` prints a JSON line and saves {"settings", "rows"} to ``path``."""

    def __init__(self, path: str | os.PathLike, settings: dict):
        self.path, self.settings, self.rows = path, settings, []

    def add(self, row: dict) -> None:
        self.rows.append(row)
        print(json.dumps(row), flush=True)
        write_text_atomic(self.path, json.dumps({"settings": self.settings, "rows": self.rows}, indent=2) + "\n")
