"""metrics() on a hand-made batch with known answers; MetricsTable formats; stochastic rounding."""

import json
import math

import numpy as np
import pytest

from matdesign.errors import InputError
from matdesign.evaluate import MetricsTable, metrics
from matdesign.pipeline.results import Candidate
from matdesign.verification import Verification, stochastic_round
from matdesign.materials import MaterialTable
from matdesign.microstructure import Design


@pytest.fixture(scope="module")
def table():
    # A and D share a chunk; B and C have their own: 3 non-empty chunks
    return MaterialTable(["A", "B", "C", "D"], [10.0, 260.0, 460.0, 20.0], [0.1, 0.3, 0.45, 0.12],
                         [1.0, 5.0, 9.0, 1.5])


def _ver(K):
    return Verification(K, 0.0, 0.0, (K, K), np.full(3, K), [1, 2, 3], [1, 1, 1], True)


def _rec(table, m, p, vf, K, V_m=0.0, d_m=0.0, valid=True, K_s=math.nan):
    design = Design(table[table.index(m)], table[table.index(p)], 0.2, vf,
                    {"V_m": V_m, "d_m": d_m, "valid": valid})
    return Candidate(0, design, _ver(K), K_s)


def test_metrics_on_a_known_batch(table):
    records = [
        _rec(table, "A", "B", 0.2, 100.5, V_m=0.01, d_m=0.1, K_s=100.0),  # ε 0.5 %: chunks A, B
        _rec(table, "C", "A", 0.3, 103.0, V_m=0.02, d_m=0.2, K_s=90.0),   # ε 3 %: chunks C, A
        _rec(table, "D", "A", 0.1, 99.2, V_m=0.03, d_m=0.3),              # ε 0.8 %: chunk A only
        _rec(table, "B", "C", 0.5, 120.0, V_m=0.04, d_m=0.4),             # ε 20 %
        _rec(table, "B", "C", 0.5, math.nan, valid=False),                # failed verification
    ]
    m = metrics(records, 100.0, table)
    assert m["n"] == 5
    assert m["frac_1"] == pytest.approx(2 / 5) and m["frac_5"] == pytest.approx(3 / 5)
    assert m["cov_1"] == pytest.approx(2 / 3) and m["cov_5"] == pytest.approx(1.0)
    rho = [0.8 * 1.0 + 0.2 * 5.0, 0.7 * 9.0 + 0.3 * 1.0, 0.9 * 1.5 + 0.1 * 1.0, 7.0, 7.0]
    assert m["rho_avg_1"] == pytest.approx((rho[0] + rho[2]) / 2)
    assert m["rho_avg_5"] == pytest.approx(np.mean(rho[:3]))
    assert m["rho_avg"] == pytest.approx(np.mean(rho))
    assert m["V_m"] == pytest.approx(0.02) and m["d_m"] == pytest.approx(0.2)
    assert m["frac_sample_1"] == pytest.approx(1 / 5) and m["frac_sample_5"] == pytest.approx(1 / 5)
    assert "frac_raw_1" not in m
    assert m["eps_median"] == pytest.approx(np.median([0.005, 0.03, 0.008, 0.2]))
    assert m["valid"] == pytest.approx(4 / 5)


def test_homogeneous_design_counts_only_the_matrix_chunk(table):
    m = metrics([_rec(table, "A", "C", 0.0, 50.0)], 50.0, table)
    assert m["frac_1"] == 1.0 and m["cov_1"] == pytest.approx(1 / 3)


def test_metrics_rejects_empty_batch_and_bad_target(table):
    with pytest.raises(InputError):
        metrics([], 10.0, table)
    with pytest.raises(InputError, match="target"):
        metrics([_rec(table, "A", "B", 0.1, 1.0)], 0.0, table)


def test_metrics_table_formats_round_trip(table, tmp_path):
    cols = [metrics([_rec(table, "A", "B", 0.2, K)], target, table) for K, target in ((10.0, 10.0), (20.0, 30.0))]
    t = MetricsTable(cols)
    md = t.to_markdown()
    assert md.splitlines()[0] == "| metric | K* = 10 | K* = 30 |"
    assert "| ε_r < 1 % frac | 1.000 | 0.000 |" in md
    assert "| ε_r < 1 % ρ_avg | 1.800 | – |" in md
    csv_lines = t.to_csv().splitlines()
    assert csv_lines[0] == "metric,10.0,30.0" and csv_lines[1] == "frac_1,1.0,0.0"
    back = MetricsTable.from_json(t.to_json())
    assert back.targets == [10.0, 30.0] and math.isnan(back.value("rho_avg_1", 1))
    assert json.loads(t.to_json())["columns"][1]["rho_avg_1"] is None
    t.save(tmp_path / "m.md")
    assert (tmp_path / "m.md").read_text() == md
    with pytest.raises(InputError, match="format"):
        t.save(tmp_path / "m.txt")


def test_stochastic_rounding_frequencies():
    rng = np.random.default_rng(0)
    draws = np.array([stochastic_round(3.2, rng) for _ in range(20000)])
    assert set(np.unique(draws)) == {3, 4}
    p4 = (draws == 4).mean()
    assert abs(p4 - 0.2) < 4 * math.sqrt(0.2 * 0.8 / 20000)
    assert draws.mean() == pytest.approx(3.2, abs=0.015)
    assert {stochastic_round(5.0, rng) for _ in range(100)} == {5}
