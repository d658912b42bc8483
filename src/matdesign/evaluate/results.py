"""The result of an evaluation run: per-target results (JSON-ready dicts) by stage and protocol."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from matdesign.evaluate.table import MetricsTable


STAGES = ("raw", "refined")

PROTOCOLS = ("paper", "converged")

#: The run's definition → (the other definition, the key of its value in each sample's record).
OTHER = {"cell": ("composite", "K_composite"), "composite": ("cell", "K_cell"), "paper": ("cell", "K_cell")}


@dataclass
class Evaluation:
    """Per-target results (JSON-ready dicts, in target order), the skipped targets and the settings."""

    settings: dict
    results: list[dict]
    skipped: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def targets(self) -> list[float]:
        return [r["target"] for r in self.results]

    def table(self, stage: str, protocol: str) -> MetricsTable:
        """Table-1-style metrics (columns = targets) of one stage and protocol."""
        return MetricsTable([nan_dict(r["metrics"][f"{stage}/{protocol}"]) for r in self.results])

    @property
    def stages(self) -> tuple[str, ...]:
        return STAGES if self.settings["refine"] else STAGES[:1]


def nan_dict(d: dict) -> dict:
    return {k: (math.nan if v is None else v) for k, v in d.items()}
