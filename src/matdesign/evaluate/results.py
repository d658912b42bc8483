"""What an evaluation produces: the verification of one sample (live objects, on a worker), one target's
result (what ``OUT/targets/K<K*>.json`` holds) and the run (:class:`Evaluation`), by stage and protocol."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING

from matdesign.evaluate.table import MetricsTable

if TYPE_CHECKING:
    from matdesign.microstructure import Design
    from matdesign.verification import Verification


STAGES = ("raw", "refined")

PROTOCOLS = ("paper", "converged")

#: The run's definition → (the other definition, the key of its value in each sample's record).
OTHER = {"cell": ("composite", "K_composite"), "composite": ("cell", "K_cell"), "paper": ("cell", "K_cell")}


@dataclass
class StageVerification:
    """One design of one stage, verified under both protocols (``paper``: n = verify_n arrangements;
    ``converged``: the same seed, extended until the standard error is small); ``trace`` the refinement's
    (volume fraction, K) evaluations (refined stage only)."""

    design: Design
    paper: Verification
    converged: Verification
    trace: list[tuple[float, float]] | None = None


@dataclass
class VerifiedSample:
    """The verification of one sample's design: ``raw`` (the backprojected design), ``refined`` (None when
    refinement was off or the raw design failed), and the final design's K in the other definition
    (``other``, on verify_n arrangements; ``other_seconds`` its cost)."""

    raw: StageVerification
    refined: StageVerification | None
    other: Verification
    other_seconds: float

    def stage(self, name: str) -> StageVerification:
        """The verification of stage ``name``; a design that could not be refined keeps its raw result."""
        return self.refined if name == "refined" and self.refined is not None else self.raw


@dataclass
class TargetResult:
    """One target's result [K in GPa, times in s], in the order its JSON stores it.

    ``metrics``: "stage/protocol" → :func:`matdesign.evaluate.runner.protocol_metrics`; ``samples``: one JSON
    record per sample (:func:`matdesign.evaluate.store.sample_json`: ``sample``, ``K_s``, ``definition``, the
    other definition's K, and per stage the design's parameters and both protocols' verification), as
    stored and read back on resume; ``arrays_sha256`` the SHA-256 of the fields and K_s in the npz beside.
    """

    target: float
    settings: dict
    seconds: dict[str, float]
    #: worker time of the other definition's K (part of ``seconds["verification"]``; summed over designs)
    seconds_other_definition: float
    #: the guidance FEM's share of ``seconds["sampling"]``
    seconds_sampling_fem: float
    guided_steps: int | None
    metrics: dict[str, dict]
    samples: list[dict]
    arrays_sha256: str | None = None

    def metrics_of(self, stage: str, protocol: str) -> dict:
        return self.metrics[f"{stage}/{protocol}"]

    @property
    def work_seconds(self) -> float:
        """Sampling, backprojection and verification [s]."""
        return sum(self.seconds.values())

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data) -> TargetResult:
        """The result from its JSON (ValueError naming what is missing); results written before a field
        existed get its neutral value (no time recorded, guided steps unknown)."""
        if not isinstance(data, dict) or not isinstance(data.get("settings"), dict):
            raise ValueError("not a target result")
        missing = [k for k in ("target", "metrics", "samples") if k not in data]
        if missing:
            raise ValueError(f"no {', '.join(missing)}")
        optional = {"seconds": {}, "seconds_other_definition": 0.0, "seconds_sampling_fem": math.nan,
                    "guided_steps": None, "arrays_sha256": None}
        return cls(**{f.name: data.get(f.name, optional.get(f.name)) for f in fields(cls)})


@dataclass
class Evaluation:
    """Per-target results (in target order), the skipped targets and the settings."""

    settings: dict
    results: list[TargetResult]
    skipped: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def targets(self) -> list[float]:
        return [r.target for r in self.results]

    def table(self, stage: str, protocol: str) -> MetricsTable:
        """Table-1-style metrics (columns = targets) of one stage and protocol."""
        return MetricsTable([nan_dict(r.metrics_of(stage, protocol)) for r in self.results])

    @property
    def stages(self) -> tuple[str, ...]:
        return STAGES if self.settings["refine"] else STAGES[:1]


def nan_dict(d: dict) -> dict:
    return {k: (math.nan if v is None else v) for k, v in d.items()}
