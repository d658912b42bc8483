"""The Bayesian-optimisation baseline on a 16×16 grid: seeds, improvement over random search, real
materials in the final designs, the paper's evaluation inside the loop, the composite definition (the
default) beside the paper's cell, input errors and the CLI."""

import json

import numpy as np
import pytest

from matdesign.baselines import bo
from matdesign.baselines.bo import (PARAMS, bayesian_optimization, design_to_theta, objective_value,
                                    theta_to_design)
from matdesign.cli.main import main
from matdesign.errors import InputError
from matdesign.verification import verify
from matdesign.materials import MaterialTable
from matdesign.microstructure import DIAMETER_RANGE, VOLUME_FRACTION_RANGE, Design

# the paper's cell (16², fast) for the algorithm's tests; the composite definition has its own below
TINY = dict(size=16, samples=2, iterations=3, init_points=2, eval_n=2, verify_n=2, definition="cell", progress=False)
TARGET = 30.0  # GPa, mid-range in 2D: easy


@pytest.fixture(scope="module")
def table():
    return MaterialTable.builtin()


@pytest.fixture(scope="module")
def small(one_thread):
    """12 UCB steps after 5 random ones, 3 designs from the surrogate."""
    return bayesian_optimization(TARGET, size=16, samples=3, iterations=12, init_points=5, eval_n=2, verify_n=3,
                                 seed=0, definition="cell", progress=False)


@pytest.fixture(scope="module")
def one_thread():
    import torch
    from threadpoolctl import threadpool_limits

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):  # the GP's small matrices: threads only add contention
        yield
    torch.set_num_threads(n)


def _trace(result):
    return [(e["kind"], e["theta"], e["matrix"], e["particle"], e["K"]) for r in result.runs for e in r.trace]


def test_same_seed_same_result_other_seed_differs(one_thread):
    a, b = (bayesian_optimization(TARGET, seed=3, **TINY) for _ in range(2))
    assert _trace(a) == _trace(b)
    assert [c.verification.K for c in a.candidates] == [c.verification.K for c in b.candidates]
    assert [c.design.matrix.name for c in a.candidates] == [c.design.matrix.name for c in b.candidates]
    c = bayesian_optimization(TARGET, seed=4, **{**TINY, "iterations": 1, "samples": 1})
    assert _trace(c)[0][1] != _trace(a)[0][1]


def test_ucb_steps_beat_random_search_of_the_same_budget(small, table):
    run = small.runs[0]
    J_init = [e["J"] for e in run.trace if e["kind"] == "init"]
    J_ucb = np.array([e["J"] for e in run.trace if e["kind"] == "ucb"])
    assert len(J_init) == 5 and len(J_ucb) == 12
    # the same budget of random θ, evaluated identically
    rng = np.random.default_rng(123)
    J_rand = []
    for i in range(12):
        d = theta_to_design(rng.uniform(-1, 1, len(PARAMS)), table, 2)
        v = verify(d, size=16, dim=2, n=2, rng=np.random.default_rng(i))
        J_rand.append(objective_value(v.K, TARGET, "relative"))
    assert np.median(J_ucb) < 0.5 * np.median(J_rand)
    assert np.median(J_ucb) < 0.5 * np.median(J_init)
    assert run.best() == min(run.best("init"), run.best("ucb"))


def test_search_evaluates_real_materials_with_the_papers_K_theta(small, table):
    run = small.runs[0]
    for it in (0, 7):  # a random and a UCB step: nearest real materials, K_θ over eval_n arrangements
        e = run.trace[it]
        d = theta_to_design(np.array(e["theta"]), table, 2)
        assert (d.matrix.name, d.particle.name) == (e["matrix"], e["particle"])
        np.testing.assert_allclose(design_to_theta(d, table, 2), e["theta_evaluated"], rtol=0, atol=1e-12)
        v = verify(d, size=16, dim=2, n=2, rng=np.random.default_rng([0, 0, 0, it]))
        assert v.K == pytest.approx(e["K"], rel=1e-12)
        assert e["J"] == pytest.approx(((e["K"] - TARGET) / TARGET) ** 2)


def test_final_designs_use_real_materials_and_the_dataset_ranges(small, table):
    assert len(small.candidates) == 3 and small.fields.shape == (3, 3, 16, 16)
    for c in small.candidates:
        for m in (c.design.matrix, c.design.particle):
            assert table[table.index(m.name)] == m
        assert DIAMETER_RANGE[2][0] <= c.design.diameter <= DIAMETER_RANGE[2][1]
        assert VOLUME_FRACTION_RANGE[2][0] <= c.design.volume_fraction <= VOLUME_FRACTION_RANGE[2][1]
        assert c.verification.n == 3 and c.verification.ok
    # ranked: the most robust design first
    assert [c.p_within for c in small.candidates] == sorted((c.p_within for c in small.candidates), reverse=True)


def test_relaxed_search_evaluates_continuous_materials_but_designs_are_real(one_thread, table):
    res = bayesian_optimization(TARGET, seed=0, relaxed=True, **TINY)
    names = {e["matrix"] for e in res.runs[0].trace} | {e["particle"] for e in res.runs[0].trace}
    assert all(n.startswith("relaxed ") for n in names)
    assert all(c.design.matrix.name in table.names and c.design.particle.name in table.names for c in res.candidates)


def test_theta_round_trip(table):
    theta = np.random.default_rng(0).uniform(-1, 1, 8)
    relaxed = theta_to_design(theta, table, 2, project=False)
    np.testing.assert_allclose(design_to_theta(relaxed, table, 2), theta, atol=1e-12)
    assert relaxed.diameter == pytest.approx(0.15 + (theta[6] + 1) / 2 * 0.25)
    # a design of table materials maps to itself
    real = theta_to_design(theta, table, 2)
    again = theta_to_design(design_to_theta(real, table, 2), table, 2)
    assert (again.matrix, again.particle) == (real.matrix, real.particle)
    assert again.volume_fraction == pytest.approx(real.volume_fraction)


@pytest.mark.parametrize("kwargs, message", [
    (dict(target_K=0.0), "positive"), (dict(target_K=-5.0), "positive"),
    (dict(target_K=30.0, iterations=0), "iterations"), (dict(target_K=30.0, samples=0), "samples"),
    (dict(target_K=30.0, objective="log"), "objective"), (dict(target_K=30.0, kappa=-1.0), "kappa"),
])
def test_bad_input_is_an_input_error(kwargs, message):
    with pytest.raises(InputError, match=message):
        bayesian_optimization(**kwargs, progress=False)


def test_composite_is_the_default_in_the_search_and_the_verification(one_thread, table):
    res = bayesian_optimization(TARGET, seed=0, **{**TINY, "iterations": 1, "definition": "composite"})
    assert res.settings["definition"] == "composite" and res.fields.shape[-2:] == (128, 128)  # 2×2 cells of 64²
    for it, e in enumerate(res.runs[0].trace):  # the objective is the composite K
        d = theta_to_design(np.array(e["theta"]), table, 2)
        v = verify(d, size=16, dim=2, n=2, rng=np.random.default_rng([0, 0, 0, it]), definition="composite")
        assert v.K == pytest.approx(e["K"], rel=1e-12)
    for c in res.candidates:  # one run: sample = the design's index in it
        assert c.verification.definition == "composite" and c.cell.definition == "cell" and c.cell.n == 2
        cell = verify(c.design, size=16, dim=2, n=2, rng=np.random.default_rng([0, 0, 3, c.sample]),
                      definition="cell")
        assert c.cell.mean == pytest.approx(cell.mean, rel=1e-12)
    assert all(c.cell is None for c in bayesian_optimization(TARGET, seed=0, **{**TINY, "iterations": 1}).candidates)


def test_rubber_with_steel_is_far_softer_as_a_composite_than_in_the_walled_cell(one_thread, table, monkeypatch):
    """The final verification in the composite definition, the cell value beside it: rubber with 40 % steel
    disks (the walled affine cell pins the disks: tens of times stiffer); steel with steel: the same."""
    def pair(m, p):
        return Design(table[table.index(m)], table[table.index(p)], 0.2, 0.4, diagnostics={"valid": True})

    designs = [pair("Polyurethane elastomer", "AISI 1018 steel (cold drawn)"),
               pair("AISI 1018 steel (cold drawn)", "AISI 1018 steel (cold drawn)")]
    monkeypatch.setattr(bo, "surrogate_designs", lambda *a, **k: designs)
    res = bayesian_optimization(TARGET, seed=0, rank="error", **{**TINY, "iterations": 1, "verify_n": 4,
                                                                  "definition": "composite"})
    by = {c.design.matrix.name: c for c in res.candidates}
    rubber, steel = by["Polyurethane elastomer"], by["AISI 1018 steel (cold drawn)"]
    assert rubber.cell.mean > 10 * rubber.verification.mean
    assert rubber.cell.samples.min() > rubber.verification.samples.max()
    assert steel.cell.mean == pytest.approx(steel.verification.mean, rel=1e-8)


def test_cli_writes_design_outputs_and_the_trace(one_thread, tmp_path, capsys, table):
    out = tmp_path / "bo"
    code = main(["baseline", "bo", "--target-K", "30", "--samples", "2", "--iterations", "2", "--init-points", "2",
                 "--runs", "2", "--size", "16", "--eval-n", "2", "--verify-n", "2", "--out", str(out)])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["method"] == "bo" and len(results["designs"]) == 4
    assert all(d["raw"]["matrix"] in table.names for d in results["designs"])
    assert results["settings"]["definition"] == "composite"  # the default, with the cell K beside it
    assert all(d["definition"] == "composite" and d["K_cell"]["n_arrangements"] == 2 for d in results["designs"])
    trace = json.loads((out / "bo_trace.json").read_text())
    assert [len(r["evaluations"]) for r in trace] == [4, 4]
    assert (out / "results.csv").exists() and (out / "report.html").exists()
    assert main(["baseline", "bo", "--target-K", "30", "--iterations", "0", "--out", str(out)]) == 2
    assert "--iterations 0" in capsys.readouterr().err
    assert main(["baseline", "bo", "--target-K", "30", "--definition", "walls", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--definition 'walls'" in err and err.count("\n") == 1
