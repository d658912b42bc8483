"""MetricsTable: rows = metrics, columns = targets (like the paper's Table 1), as Markdown/CSV/JSON."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from matdesign.atomic import write_text_atomic
from matdesign.errors import InputError

#: Row order and labels; metrics absent from every column are left out.
ROWS = {
    "frac_1": "ε_r < 1 % frac", "cov_1": "ε_r < 1 % cov", "rho_avg_1": "ε_r < 1 % ρ_avg",
    "frac_5": "ε_r < 5 % frac", "cov_5": "ε_r < 5 % cov", "rho_avg_5": "ε_r < 5 % ρ_avg",
    "frac_sample_1": "ε_r < 1 % frac (sample K_s)", "frac_sample_5": "ε_r < 5 % frac (sample K_s)",
    "frac_raw_1": "ε_r < 1 % frac (no closest material)", "frac_raw_5": "ε_r < 5 % frac (no closest material)",
    "eps_median": "median ε_r", "V_m": "V_m", "d_m": "d_m", "rho_avg": "ρ_avg (all)",
    "valid": "valid backprojection",
    "spread_median": "median spread std/K", "n_arrangements": "mean arrangements", "converged": "converged (sem < tol)",
    "n": "n",
}


class MetricsTable:
    """Columns are the dicts returned by :func:`matdesign.evaluate.metrics` (one per target)."""

    def __init__(self, columns: list[dict]):
        if not columns:
            raise InputError("MetricsTable: no columns")
        self.columns = [dict(c) for c in columns]
        self.rows = [k for k in ROWS if any(k in c for c in self.columns)]

    @property
    def targets(self) -> list[float]:
        return [c["target"] for c in self.columns]

    def value(self, row: str, column: int) -> float:
        return self.columns[column].get(row, math.nan)

    def to_markdown(self, digits: int = 3) -> str:
        head = "| metric | " + " | ".join(f"K* = {t:g}" for t in self.targets) + " |"
        lines = [head, "|---" * (len(self.targets) + 1) + "|"]
        for row in self.rows:
            cells = [_fmt(self.value(row, j), digits) for j in range(len(self.columns))]
            lines.append(f"| {ROWS[row]} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["metric"] + [repr(float(t)) for t in self.targets])
        for row in self.rows:
            writer.writerow([row] + [repr(float(self.value(row, j))) for j in range(len(self.columns))])
        return buf.getvalue()

    def to_json(self) -> str:
        """``{"columns": [...]}`` with nan written as null."""
        clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in c.items()}
                 for c in self.columns]
        return json.dumps({"columns": clean}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "MetricsTable":
        cols = json.loads(text)["columns"]
        return cls([{k: (math.nan if v is None else v) for k, v in c.items()} for c in cols])

    def save(self, path) -> Path:
        """Write as .md, .csv or .json (by suffix), atomically."""
        path = Path(path)
        writers = {".md": self.to_markdown, ".csv": self.to_csv, ".json": self.to_json}
        if path.suffix not in writers:
            raise InputError(f"{path}: metrics table format must be .md, .csv or .json")
        return write_text_atomic(path, writers[path.suffix]())


def _fmt(x: float, digits: int) -> str:
    if isinstance(x, int):
        return str(x)
    return "–" if math.isnan(x) else f"{x:.{digits}f}"
