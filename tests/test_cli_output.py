"""What a design folder explains: the report's legend with units, results_columns.csv for every column
of results.csv, and best.json labelling best.npz as one realised arrangement."""

import csv
import html
import io
import json
import math

import numpy as np
import pytest

from matdesign.verification import Verification
from matdesign.materials import MaterialTable
from matdesign.microstructure import Design
from matdesign.pipeline.ranking import rank_candidates
from matdesign.pipeline.results import Candidate, DesignResult
from matdesign.pipeline.output import legend, save_result, summary_rows

TABLE = MaterialTable.builtin()
EPOXY, ALUMINA = TABLE[TABLE.index("Epoxy (cast unfilled)")], TABLE[TABLE.index("Alumina 99.5% (AD-995)")]


def _ver(mean, n=4):
    return Verification(mean, 0.1, 0.05, (mean, mean), np.full(n, mean), list(range(n)), [7] * n, True,
                        definition="cell")


def _result():
    cands = [Candidate(0, Design(EPOXY, ALUMINA, 0.2, 0.3), _ver(100.4), 100.0),
             Candidate(1, Design(ALUMINA, EPOXY, 0.2, 0.3), _ver(107.0), 100.0)]
    result = DesignResult(100.0, 2, 32, cands, np.zeros((2, 3, 32, 32)), prop="K", settings={
        "tolerance": 0.01, "rank": "robust", "refine": False, "samples": 2, "steps": 1, "definition": "cell",
        "top": 2})
    rank_candidates(result, 0.01, "robust")
    return result


def test_report_and_csv_explain_their_columns_with_units(tmp_path):
    save_result(_result(), tmp_path, top=2)
    page = (tmp_path / "report.html").read_text()
    for text in ("fraction of the design cell", "expected particle count", "(a mean, hence fractional",
                 "P(±1 %)", "ranked by robust", "one realised arrangement of design #1"):
        assert text in page, text
    header = next(csv.reader(io.StringIO((tmp_path / "results.csv").read_text())))
    legend = {r["column"]: r for r in csv.DictReader(io.StringIO((tmp_path / "results_columns.csv").read_text()))}
    assert list(legend) == header  # every column explained, in order
    assert legend["K"]["unit"] == "GPa" and legend["E_matrix"]["unit"] == "GPa"
    assert legend["diameter"]["unit"] == "cell edge" and legend["density"]["unit"] == "g/cm³"


def test_best_json_labels_the_realised_arrangement(tmp_path):
    save_result(_result(), tmp_path, top=2)
    best = json.loads((tmp_path / "best.json").read_text())
    with np.load(tmp_path / "best.npz") as f:
        mask = f["particle_mask"]
    assert best["what"].startswith("one realised arrangement")
    assert best["design_volume_fraction"] == 0.3
    assert math.isclose(best["design_expected_particles"], Design(EPOXY, ALUMINA, 0.2, 0.3).expected_particle_count(2))
    assert best["realised_volume_fraction"] != best["design_volume_fraction"]  # a voxel grid cannot hold 0.3 exactly
    assert math.isclose(best["realised_volume_fraction"], float(mask.mean()))


def _covered(column: str, keys: list[str]) -> bool:
    """Whether a legend entry explains ``column`` ("matrix, particle" explains both; "ν (dimensionless)" ν)."""
    return any(column == k or column in k.split(", ") or k.startswith(column + " ") for k in keys)


@pytest.mark.parametrize("prop, unit", [("K", "GPa"), ("G", "GPa"), ("E", "GPa"), ("nu", "-")])
@pytest.mark.parametrize("definition", ["cell", "composite"])
def test_every_results_csv_and_report_column_has_a_legend_entry(tmp_path, prop, unit, definition):
    """The column names of results.csv stay plain (rank, matrix, …, K, K_sem, K_std, K_cell, …); their units are
    in results_columns.csv, one row per column with a unit ("-": dimensionless), and in the report's legend."""
    result = _result()
    result.prop, result.settings["definition"] = prop, definition
    save_result(result, tmp_path, top=2)
    header = next(csv.reader(io.StringIO((tmp_path / "results.csv").read_text())))
    assert header[:14] == ["rank", "matrix", "particle", "E_matrix", "nu_matrix", "E_particle", "nu_particle",
                           "diameter", "volume_fraction", prop, f"{prop}_sem", f"{prop}_std", f"{prop}_cell",
                           "within_tolerance"]
    rows = list(csv.DictReader(io.StringIO((tmp_path / "results_columns.csv").read_text())))
    assert [r["column"] for r in rows] == header
    assert all(r["unit"].strip() and r["meaning"].strip() for r in rows)
    assert {r["column"]: r["unit"] for r in rows}[prop] == unit
    keys = [k for k, _ in legend(result)]
    for column in summary_rows(result, 2)[0]:
        assert _covered(column, keys), column
    page = (tmp_path / "report.html").read_text()
    assert "results_columns.csv" in page
    assert all(html.escape(k) in page for k in keys)
