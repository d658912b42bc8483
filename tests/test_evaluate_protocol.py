"""`matdesign evaluate`: targets, the two verification protocols, the two definitions of K, resume, tables and
figures (tiny model, 16²)."""

import json
import math

import numpy as np
import pytest
import torch

from matdesign.cli.main import main
from matdesign.errors import InputError
from matdesign.evaluate import MetricsTable
from matdesign.pipeline.results import Candidate
from matdesign.verification import Verification, verify
from matdesign.fem import bulk_from_young
from matdesign.materials import MaterialTable
from matdesign.microstructure import Design
from matdesign.evaluate import runner, store
from matdesign.pipeline.checks import reachable_range
from matdesign.pipeline.inverse_design import design
from matdesign.evaluate.figures import quantile_picks
from matdesign.evaluate.results import TargetResult
from matdesign.evaluate.runner import protocol_metrics, run_evaluation
from matdesign.evaluate.store import target_path
from matdesign.evaluate.targets import PAPER_TARGETS, resolve_targets

TARGETS = [20.0, 60.0]
KW = dict(samples=2, steps=2, seed=0, verify_n=4, max_arrangements=12, workers=0, progress=False)


@pytest.fixture(scope="module")
def evaluated(tiny_model, tmp_path_factory):
    """One in-process evaluation on two targets, shared by the tests below."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("eval")
    try:
        ev = run_evaluation(TARGETS, model=tiny_model, out=out, **KW)
    finally:
        torch.set_num_threads(n)
    return ev, out


def _design(table, part) -> Design:
    d = part["design"]
    return Design(table[table.index(d["matrix"])], table[table.index(d["particle"])], d["diameter"],
                  d["volume_fraction"], diagnostics={"valid": d["valid"]})


def test_paper_and_explicit_targets():
    table = MaterialTable.builtin()
    lo, hi = reachable_range(table, 2)
    kept, skipped = resolve_targets("paper", 2)
    assert kept == [t for t in PAPER_TARGETS[2] if lo <= t <= hi]
    assert [s["target"] for s in skipped] == [t for t in PAPER_TARGETS[2] if t > hi] == [332.2]  # K_max ≈ 295 GPa
    assert resolve_targets(" 12.5, 80 ", 2) == ([12.5, 80.0], [])
    for spec, message in (("12,abc", "comma-separated"), ("", "no target"), ("1000", "outside the range"),
                          ("dataset", "--data")):
        with pytest.raises(InputError, match=message):
            resolve_targets(spec, 2)


def test_dataset_targets_come_from_the_store(tmp_path):
    from matdesign.data import generate_dataset
    from matdesign.data.stats import targets_from_K
    import h5py

    path = generate_dataset(tmp_path / "ds", dim=2, size=16, n=12, seed=3, workers=0, progress=False)
    with h5py.File(path) as f:
        expected = targets_from_K(f["K"][()])
    kept, skipped = resolve_targets("dataset", 2, data=tmp_path / "ds")
    assert np.allclose(kept, expected, rtol=0, atol=0) and not skipped
    with pytest.raises(InputError, match="2D dataset"):
        resolve_targets("dataset", 3, data=tmp_path / "ds")


def test_protocol_metrics_on_hand_made_records():
    table = MaterialTable.builtin()
    d = Design(table[0], table[1], 0.2, 0.2, diagnostics={"valid": True, "V_m": 0.1, "d_m": 0.0})

    def ver(K, std, n, converged):
        return Verification(K, std, std / math.sqrt(n), (K, K), np.zeros(n), [], [], converged)

    nan = float("nan")
    failed = Verification(nan, nan, nan, (nan, nan), np.zeros(0), [], [], False, ["infeasible"])
    records = [Candidate(0, d, ver(100.0, 2.0, 10, False)), Candidate(1, d, ver(104.0, 10.4, 30, True)),
               Candidate(2, d, ver(130.0, 1.3, 20, True)), Candidate(3, d, failed)]
    m = protocol_metrics(records, 100.0, table)
    assert m["frac_1"] == 0.25 and m["frac_5"] == 0.5
    assert m["spread_median"] == pytest.approx(0.02)  # median of 0.02, 0.1, 0.01
    assert m["n_arrangements"] == pytest.approx(20.0)  # failed verification left out
    assert m["converged"] == 0.5


def test_quantile_picks_orders_by_error_and_puts_failures_last():
    errors = np.array([0.5, math.inf, 0.1, 0.3])
    assert quantile_picks(errors, 3).tolist() == [2, 0, 1]
    assert quantile_picks(errors, 10).tolist() == [2, 3, 0, 1]


def test_evaluation_outputs_and_reproducible_verification(evaluated):
    ev, out = evaluated
    table = MaterialTable.builtin()
    assert ev.targets == TARGETS and ev.settings["model_step"] == 7
    for name in ("summary.md", "evaluation.json", "samples.png", "k-histograms.png",
                 *(f"table-{s}-{p}.{e}" for s in ("raw", "refined") for p in ("paper", "converged")
                   for e in ("md", "csv", "json"))):
        assert (out / name).stat().st_size > 0, name
    for result in ev.results:
        target = result.target
        for i, s in enumerate(result.samples):
            raw = s["raw"]
            d = _design(table, raw)
            paper = verify(d, size=16, dim=2, n=4, rng=np.random.default_rng([0, i]))
            assert raw["paper"]["K"] == pytest.approx(paper.K, rel=1e-12)
            assert raw["paper"]["n"] == 4
            assert 4 <= raw["converged"]["n"] <= 12
            assert raw["converged"]["seeds"][:4] == raw["paper"]["seeds"]  # converged extends the paper's run
            assert raw["converged"]["converged"] or raw["converged"]["n"] == 12
            if "refined" in s:  # re-verified on fresh arrangements, not on the refinement's own
                ref = verify(_design(table, s["refined"]), size=16, dim=2, n=4, rng=np.random.default_rng([0, i, 1]))
                assert s["refined"]["paper"]["K"] == pytest.approx(ref.K, rel=1e-12)
            # the final design's composite K (periodic RVEs) on verify_n arrangements beside the cell's
            final = "refined" if "refined" in s else "raw"
            assert s["definition"] == "cell" and s["K_composite"]["stage"] == final and "K_cell" not in s
            if s[final]["paper"]["K"] is not None:
                comp = verify(_design(table, s[final]), size=16, dim=2, n=4, rng=np.random.default_rng([0, i, 2]),
                              definition="composite")
                assert s["K_composite"]["n"] == 4 and s["K_composite"]["mean"] == pytest.approx(comp.mean, rel=1e-12)
        for stage in ("raw", "refined"):
            for protocol in ("paper", "converged"):
                eps = [s.get(stage, s["raw"])[protocol]["relative_error"] for s in result.samples]
                eps = np.array([np.inf if e is None else e for e in eps])
                m = result.metrics_of(stage, protocol)
                assert m["frac_5"] == pytest.approx(np.mean(eps < 0.05))
                assert m["frac_1"] == pytest.approx(np.mean(eps < 0.01))
                assert m["n"] == 2 and m["target"] == target
    # the saved tables are the metrics above
    saved = MetricsTable.from_json((out / "table-raw-converged.json").read_text())
    assert saved.targets == TARGETS
    assert saved.value("frac_5", 1) == pytest.approx(ev.results[1].metrics_of("raw", "converged")["frac_5"])
    assert "median spread std/K" in (out / "table-raw-paper.md").read_text()
    summary = (out / "summary.md").read_text()
    assert "Paper protocol vs converged" in summary and "K* = 60" in summary


def test_raw_designs_match_matdesign_design(evaluated, tiny_model, one_torch_thread):
    ev, _ = evaluated
    res = design(60.0, samples=2, steps=2, seed=0, refine=False, verify_n=4, model=tiny_model, progress=False)
    by_sample = {c.sample: c for c in res.candidates}
    for s in ev.results[1].samples:
        c = by_sample[s["sample"]]
        assert s["raw"]["design"]["matrix"] == c.design.matrix.name
        assert s["raw"]["design"]["volume_fraction"] == c.design.volume_fraction
        assert s["raw"]["paper"]["K"] == pytest.approx(c.verification.K, rel=1e-12)
        assert s["K_s"] == pytest.approx(c.value_s, rel=1e-12)


def test_resume_skips_finished_targets_and_checks_settings(evaluated, tiny_model, monkeypatch):
    ev, out = evaluated
    before = (out / "evaluation.json").read_text()

    def no_sampling(*args, **kwargs):
        raise AssertionError("a finished target was sampled again")

    monkeypatch.setattr(runner, "guided_fields", no_sampling)
    again = run_evaluation(TARGETS, model=tiny_model, out=out, **KW)
    assert again.results == ev.results  # read back from the store: the same result, field by field
    assert json.loads((out / "evaluation.json").read_text())["targets"] == json.loads(before)["targets"]
    with pytest.raises(InputError, match="samples=2, this run has 3"):
        run_evaluation(TARGETS, model=tiny_model, out=out, **{**KW, "samples": 3})
    with pytest.raises(InputError, match="step_clip=0.01, this run has None"):  # the sampler is a resume key
        run_evaluation(TARGETS, model=tiny_model, out=out, **{**KW, "step_clip": math.inf})
    with pytest.raises(InputError, match="definition='cell', this run has 'composite'"):  # so is what K is
        run_evaluation(TARGETS, model=tiny_model, out=out, definition="composite", **KW)
    assert sorted(p.name for p in (out / "targets").iterdir()) == ["K20.json", "K20.npz", "K60.json", "K60.npz"]
    assert target_path(out, 62.949, ".json").name == "K62.949.json"  # the decimals are part of the name
    assert not list((out / "targets").glob(".*"))  # no temp files left behind


def test_evaluate_cli(tiny_model, tmp_path, capsys):
    args = ["evaluate", "--model", str(tiny_model), "--targets", "40", "--samples", "1", "--steps", "1",
            "--verify-n", "3", "--max-arrangements", "6", "--workers", "0", "--no-refine", "--out", str(tmp_path)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "raw, paper (n = 3): frac ε_r < 5 %" in printed and "refined" not in printed
    assert not (tmp_path / "table-refined-paper.md").exists()
    assert "--targets 40" in json.loads((tmp_path / "evaluation.json").read_text())["settings"]["command"]
    for extra, message in ((["--targets", "paper", "--dim", "4"], "--dim"), (["--targets", "5,x"], "comma"),
                           (["--targets", "40", "--max-arrangements", "2"], "--max-arrangements 2: must be between 10")):
        assert main(["evaluate", "--model", str(tiny_model), "--out", str(tmp_path / "x"), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_dask_workers_give_the_in_process_result(evaluated, tiny_model, tmp_path, one_torch_thread):
    """Verification on Dask workers equals in-process verification (sampling, in the main process, runs
    with the fixture's one torch thread: float32 UNet sums differ in the last bits across thread counts)."""
    ev, _ = evaluated
    on_dask = run_evaluation(TARGETS[:1], model=tiny_model, out=tmp_path, **{**KW, "workers": 2})
    assert on_dask.results[0].samples == ev.results[0].samples


def test_unguided_mode_ignores_the_target_and_is_a_resume_key(evaluated, tiny_model, tmp_path, capsys):
    """Table 3's unguided row: the samples do not depend on K*, while the guided ones do."""
    ev, out = evaluated
    run_evaluation(TARGETS, model=tiny_model, out=tmp_path, mode="unguided", **{**KW, "max_arrangements": 4})
    fields = [store.load_target_fields(tmp_path, t) for t in TARGETS]
    guided = [store.load_target_fields(out, t) for t in TARGETS]
    assert np.array_equal(fields[0], fields[1]) and not np.array_equal(guided[0], guided[1])
    with pytest.raises(InputError, match="mode='unguided', this run has 'guided'"):
        run_evaluation(TARGETS, model=tiny_model, out=tmp_path, **{**KW, "max_arrangements": 4})
    assert main(["evaluate", "--model", str(tiny_model), "--targets", "40", "--mode", "sideways",
                 "--out", str(tmp_path / "x")]) == 2
    assert "--mode 'sideways'" in capsys.readouterr().err  # the option as typed


def _pair(matrix, particle, vf=0.4) -> Design:
    table = MaterialTable.builtin()
    return Design(table[table.index(matrix)], table[table.index(particle)], 0.2, vf, diagnostics={"valid": True})


@pytest.mark.parametrize("definition, other, key", [("cell", "composite", "K_composite"),
                                                    ("composite", "cell", "K_cell")])
def test_each_design_carries_the_other_definitions_K(definition, other, key):
    """Rubber with steel disks: the walled affine cell is tens of times stiffer than the bulk composite
    (walls pin the disks to the affine field); a homogeneous steel "pair" is the same in both."""
    rubber_steel = _pair("Polyurethane elastomer", "AISI 1018 steel (cold drawn)")
    steel = _pair("AISI 1018 steel (cold drawn)", "AISI 1018 steel (cold drawn)")
    res = runner.verify_block([(0, rubber_steel), (1, steel)], target=1.0, seed=0, dim=2, size=16, refine=False,
                                  verify_n=4, sem_tol=0.01, max_arrangements=4, definition=definition)
    for i, r in enumerate(res):
        assert r.raw.paper.definition == r.raw.converged.definition == definition and r.refined is None
        assert r.other.definition == other and r.other.n == 4
        again = verify(r.raw.design, size=16, dim=2, n=4, rng=np.random.default_rng([0, i, 2]), definition=other)
        assert r.other.mean == pytest.approx(again.mean, rel=1e-12)
        record = store.sample_json(i, 0.0, r, 1.0, definition)
        assert record[key]["mean"] == r.other.mean and record[key]["n"] == 4
    by = {definition: res[0].raw.paper, other: res[0].other}
    cell, comp = by["cell"], by["composite"]
    assert cell.mean > 10 * comp.mean and cell.samples.min() > comp.samples.max()
    m, f = rubber_steel.matrix, rubber_steel.volume_fraction  # rigid-disk Hashin–Shtrikman lower bound (2D)
    K_m, G_m = bulk_from_young(m.E, m.nu, 2), m.E / (2 * (1 + m.nu))
    assert K_m + f * (K_m + G_m) / (1 - f) < comp.mean < 2 * (K_m + f * (K_m + G_m) / (1 - f))
    assert res[1].other.mean == pytest.approx(res[1].raw.paper.mean, rel=1e-8)


def test_composite_run_records_the_cell_K(tiny_model, tmp_path, one_torch_thread):
    ev = run_evaluation([40.0], model=tiny_model, out=tmp_path, definition="composite", refine=False,
                        **{**KW, "samples": 1, "max_arrangements": 4})
    table = MaterialTable.builtin()
    (s,) = ev.results[0].samples
    assert ev.settings["definition"] == s["definition"] == "composite" and "K_composite" not in s
    d = _design(table, s["raw"])
    comp = verify(d, size=16, dim=2, n=4, rng=np.random.default_rng([0, 0]), definition="composite")
    cell = verify(d, size=16, dim=2, n=4, rng=np.random.default_rng([0, 0, 2]), definition="cell")
    assert s["raw"]["paper"]["K"] == pytest.approx(comp.mean, rel=1e-12)
    assert s["K_cell"]["mean"] == pytest.approx(cell.mean, rel=1e-12) and s["K_cell"]["stage"] == "raw"
    assert "K in the composite definition" in (tmp_path / "summary.md").read_text()


def test_results_from_before_the_rename_resume_as_cell(tmp_path):
    """Until 2026-12-07 "paper" named the walled affine cell (now "cell"); such results (no ``fem`` in their
    settings) resume a "cell" run and never a "paper" (official release) run."""
    settings = {k: 1 for k in store.RESUME_KEYS}
    path = target_path(tmp_path, 20.0, ".json")
    path.parent.mkdir(parents=True)
    np.savez(target_path(tmp_path, 20.0, ".npz"), fields=np.zeros((1, 3, 2, 2), np.float32), K_s=np.zeros(1))
    stored = {"target": 20.0, "metrics": {}, "samples": []}  # an intact store (a damaged one is recomputed)
    path.write_text(json.dumps({**stored, "settings": {**settings, "definition": "paper"}}))
    assert store.load_done(tmp_path, 20.0, {**settings, "definition": "cell"}).target == 20.0
    with pytest.raises(InputError, match="definition='cell', this run has 'paper'"):
        store.load_done(tmp_path, 20.0, {**settings, "definition": "paper"})
    path.write_text(json.dumps({**stored, "settings": {**settings, "definition": "paper", "fem": "paper"}}))
    assert store.load_done(tmp_path, 20.0, {**settings, "definition": "paper"}).target == 20.0


def test_a_paper_run_carries_the_cell_K():
    """definition="paper" (the official release's K) verifies on the cell's arrangements and records K_cell beside."""
    steel_alumina = _pair("AISI 1018 steel (cold drawn)", "Alumina 99.5% (AD-995)")
    (r,) = runner.verify_block([(0, steel_alumina)], target=1.0, seed=0, dim=2, size=16, refine=False,
                                   verify_n=3, sem_tol=0.01, max_arrangements=3, definition="paper")
    paper, cell = r.raw.paper, r.other
    assert paper.definition == "paper" and cell.definition == "cell" and cell.n == 3
    assert store.sample_json(0, 0.0, r, 1.0, "paper")["K_cell"]["mean"] == cell.mean


def test_evaluation_backprojects_onto_the_given_materials_and_keys_the_resume_on_them(tiny_model, tmp_path):
    csv = tmp_path / "mine.csv"
    csv.write_text("name,E,nu,rho\nSoft,2.0,0.35,1.2\nMid,70.0,0.33,2.7\nStiff,400.0,0.22,3.9\n")
    out = tmp_path / "eval"
    ev = run_evaluation([20.0], model=tiny_model, out=out, materials=csv, refine=False, **KW)
    assert ev.settings["materials"] == str(csv)
    assert ev.settings["material_sha256"] == MaterialTable.from_csv(csv).sha256() != MaterialTable.builtin().sha256()
    used = {s["raw"]["design"][k] for s in ev.results[0].samples for k in ("matrix", "particle")}
    assert used and used <= {"Soft", "Mid", "Stiff"}
    with pytest.raises(InputError, match="material_sha256"):  # the same folder with the built-in table
        run_evaluation([20.0], model=tiny_model, out=out, refine=False, **KW)


def test_a_target_result_reads_back_what_it_wrote_and_names_what_is_missing(evaluated):
    """The stored JSON is the result, field by field; a JSON without one of its parts is named, and results
    from before a field existed read with its neutral value."""
    ev, out = evaluated
    for r in ev.results:
        stored = json.loads(target_path(out, r.target, ".json").read_text())
        assert list(stored) == list(r.to_json())  # the file keeps the dataclass' order
        assert TargetResult.from_json(stored) == r and r.work_seconds == pytest.approx(sum(stored["seconds"].values()))
        assert r.metrics_of("refined", "paper") is r.metrics["refined/paper"]
    minimal = {"target": 20.0, "settings": {}, "metrics": {}, "samples": []}
    old = TargetResult.from_json(minimal)
    assert (old.guided_steps, old.arrays_sha256, old.seconds, old.seconds_other_definition) == (None, None, {}, 0.0)
    for key, message in (("samples", "no samples"), ("settings", "not a target result")):
        with pytest.raises(ValueError, match=message):
            TargetResult.from_json({k: v for k, v in minimal.items() if k != key})
