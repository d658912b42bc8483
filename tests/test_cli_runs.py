"""Output folders as units under kill -9 and concurrent runs; fast refusals without heavy imports."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from matdesign.cli.main import main
from matdesign.cli.rundir import folder_status, in_place, read_manifest, staged
from matdesign.errors import InputError
from matdesign.filelock import lock_path, locked

ROOT = Path(__file__).parents[1]
PY = [sys.executable, "-c"]


def _wait_for(predicate, seconds=60.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _hold(kind: str, out: Path, marker: Path) -> subprocess.Popen:
    """A process inside ``staged``/``in_place``/``locked`` of ``out`` that writes a file, touches
    ``marker`` and then sleeps (to be killed)."""
    body = {"staged": "staged(out, kind='design', command='test', overwrite=True) as f",
            "in_place": "in_place(out, kind='evaluate', command='test', legacy=()) as f",
            "locked": "locked(out)"}[kind]
    code = textwrap.dedent(f"""
        import time, pathlib
        from matdesign.cli.rundir import staged, in_place
        from matdesign.filelock import locked
        out = pathlib.Path({str(out)!r})
        with {body}:
            if {kind!r} != 'locked':
                (f / 'results.json').write_text('{{}}')
            pathlib.Path({str(marker)!r}).touch()
            time.sleep(120)
    """)
    return subprocess.Popen(PY + [code], cwd=ROOT)


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


# --- fast refusals -------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, expected", [
    (["design", "--target-K", "120", "--seed", "-1"], "--seed -1"),
    (["sample", "--model", "2d", "--device", "cuda"], "no CUDA GPU"),
    (["dataset", "generate", "--out", "x", "--n", "4", "--size", "100000"], "--size 100000"),
    (["train", "--data", "nowhere", "--config", "configs/tiny-2d.yaml", "--out", "r"], "no dataset store"),
    (["microstructure", "show", "--matrix", "Fe", "--particle", "Cu (element)", "--diameter", "0.2", "--vf", "0.3",
      "--out", "never-written.png"],
     "did you mean 'Fe (element)'"),
    (["materials", "check", "tests/test_cli_runs.py"], "tests/test_cli_runs.py"),
])
def test_a_bad_command_answers_fast_without_importing_torch(argv, expected, tmp_path):
    """Nor scipy.spatial (≈ 0.25 s): material names and CSVs are checked with the table alone."""
    code = ("import sys; from matdesign.cli.main import main; rc = main(sys.argv[1:]); "
            "print('torch' in sys.modules or 'scipy.spatial' in sys.modules); sys.exit(rc)")
    start = time.perf_counter()
    proc = subprocess.run(PY + [code, *argv], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    seconds = time.perf_counter() - start
    assert proc.returncode == 2 and proc.stdout.strip() == "False", (proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ") and expected in proc.stderr
    assert seconds < 2.0, f"{seconds:.2f} s"


def test_a_bad_config_answers_without_importing_torch(tmp_path):
    """The config's sections, keys and ranges are checked before matdesign.diffusion (torch) is imported."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  lr: -1\n")
    code = ("import sys; from matdesign.cli.main import main; rc = main(sys.argv[1:]); "
            "print('torch' in sys.modules); sys.exit(rc)")
    proc = subprocess.run(PY + [code, "train", "--data", "nowhere", "--config", str(bad), "--out", str(tmp_path / "r")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 2 and proc.stdout.strip() == "False", (proc.stdout, proc.stderr)
    assert proc.stderr == f"error: --config {bad}: training: lr and grad_clip must be > 0, weight_decay and warmup_steps ≥ 0\n"
    assert not (tmp_path / "r").exists()


def test_a_bug_shows_its_traceback_and_asks_for_a_report(monkeypatch, capsys):
    import matdesign.cli.materials as cli_materials

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(cli_materials, "_load", broken)
    assert main(["materials", "list"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError: boom" in err and "please report it" in err


def test_os_errors_are_one_line_naming_the_file(monkeypatch, capsys):
    import matdesign.cli.materials as cli_materials

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/data/materials.csv")

    monkeypatch.setattr(cli_materials, "_load", denied)
    assert main(["materials", "list"]) == 2
    assert capsys.readouterr().err == ("error: /data/materials.csv: Permission denied; check its permissions "
                                       "or choose another path\n")


# --- the mechanism: staged and in-place folders, the lock --------------------------------------------

def test_staged_folder_appears_whole_with_a_manifest(tmp_path):
    out = tmp_path / "run"
    with staged(out, kind="design", command="matdesign design") as f:
        (f / "results.json").write_text("{}")
        (f / "design_1.png").write_bytes(b"png")
        assert not out.exists()
    assert folder_status(out) == "complete" and sorted(read_manifest(out)["files"]) == ["design_1.png", "results.json"]
    (out / "results.json").write_text('{"tampered": 1}')
    assert folder_status(out) == "incomplete: files differ from the manifest"


def test_overwrite_replaces_the_whole_folder_no_stale_files(tmp_path):
    out = tmp_path / "run"
    with staged(out, kind="design", command="a") as f:
        for i in (1, 2, 3):
            (f / f"design_{i}.png").write_bytes(b"old")
    with pytest.raises(InputError, match="holds an earlier design run"):
        with staged(out, kind="design", command="b"):
            pass
    with staged(out, kind="design", command="b", overwrite=True) as f:
        (f / "design_1.png").write_bytes(b"new")
    assert sorted(p.name for p in out.iterdir()) == ["design_1.png", "manifest.json"]
    assert folder_status(out) == "complete" and read_manifest(out)["command"] == "b"


def test_a_failed_run_leaves_nothing(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with staged(out, kind="design", command="a") as f:
            (f / "results.json").write_text("{}")
            raise RuntimeError("late failure")
    assert list(tmp_path.iterdir()) == []


def test_kill_inside_a_staged_run_leaves_out_untouched_and_is_cleaned(tmp_path):
    out, marker = tmp_path / "run", tmp_path / "inside"
    with staged(out, kind="design", command="first") as f:
        (f / "results.json").write_text("{}")
    proc = _hold("staged", out, marker)
    try:
        assert _wait_for(marker.exists)
    finally:
        _kill(proc)
    assert folder_status(out) == "complete" and read_manifest(out)["command"] == "first"
    assert list(tmp_path.glob(".run.partial-*"))  # the killed run's partial folder, hidden and named as such
    with staged(out, kind="design", command="second", overwrite=True) as f:
        (f / "results.json").write_text("{}")
    assert not list(tmp_path.glob(".run.partial-*")) and read_manifest(out)["command"] == "second"


def test_kill_inside_an_in_place_run_leaves_it_marked_incomplete(tmp_path):
    out, marker = tmp_path / "eval", tmp_path / "inside"
    proc = _hold("in_place", out, marker)
    try:
        assert _wait_for(marker.exists)
    finally:
        _kill(proc)
    assert folder_status(out) == "incomplete: status 'incomplete'"
    with in_place(out, kind="evaluate", command="rerun", legacy=()):
        pass
    assert folder_status(out) == "complete"


@pytest.mark.parametrize("argv", [
    ["design", "--target-K", "120"],
    ["baseline", "bo", "--target-K", "40"],
    ["evaluate", "--targets", "40"],
    ["evaluate", "--targets", "40", "--overwrite"],
    ["dataset", "generate", "--n", "4", "--size", "8", "--workers", "0"],
])
def test_a_concurrent_run_into_the_same_out_is_refused(argv, tmp_path, capsys):
    out, marker = tmp_path / "out", tmp_path / "inside"
    proc = _hold("locked", out, marker)
    try:
        assert _wait_for(marker.exists)
        assert main([*argv, "--out", str(out)]) == 2
    finally:
        _kill(proc)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "another matdesign run is writing into it" in err
    assert not out.exists()
    with locked(out):  # the kernel released the killed holder's lock
        assert lock_path(out).exists()
    assert not lock_path(out).exists()


@pytest.mark.parametrize("extra", [[], ["--resume"], ["--overwrite"]])
def test_a_second_evaluate_into_a_running_one_is_told_so(extra, tmp_path, capsys):
    """While an evaluate run writes into --out (incomplete), a second one hears of the lock, not of --resume,
    and --overwrite does not remove the running one's folder."""
    out, marker = tmp_path / "ev", tmp_path / "inside"
    proc = _hold("in_place", out, marker)
    try:
        assert _wait_for(marker.exists)
        assert main(["evaluate", "--targets", "40", "--out", str(out), *extra]) == 2
    finally:
        _kill(proc)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "another matdesign run is writing into it" in err
    assert (out / "results.json").exists() and folder_status(out) == "incomplete: status 'incomplete'"


def test_a_concurrent_train_into_the_same_out_is_refused(tmp_path, capsys):
    from matdesign.data import generate_dataset

    data = generate_dataset(tmp_path / "ds", dim=2, size=8, n=4, seed=0, chunk=4, labels="none", workers=0,
                            progress=False)
    out, marker = tmp_path / "run", tmp_path / "inside"
    proc = _hold("locked", out, marker)
    try:
        assert _wait_for(marker.exists)
        assert main(["train", "--data", str(data), "--config", str(ROOT / "configs" / "tiny-2d.yaml"), "--out",
                     str(out)]) == 2
    finally:
        _kill(proc)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "another matdesign run is writing into it" in err and not out.exists()


# --- datasets: kill, damaged parts, resume ---------------------------------------------------------------

GEN = ["dataset", "generate", "--n", "12", "--size", "8", "--chunk", "2", "--labels", "bulk", "--workers", "0"]


def _cli(args, **kw):
    return subprocess.Popen([sys.executable, "-m", "matdesign", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _arrays(store: Path) -> dict:
    import h5py

    with h5py.File(store, "r") as f:
        return {k: f[k][()] for k in f}


def _same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        if a[k].dtype.kind in "fc":
            np.testing.assert_array_equal(a[k], b[k])
        else:
            assert list(a[k]) == list(b[k]), k


@pytest.fixture(scope="module")
def reference_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ds"
    proc = _cli([*GEN, "--out", str(out)])
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    return _arrays(out / "dataset.h5")


@pytest.mark.slow
def test_dataset_generate_killed_then_resumed_is_bit_identical(tmp_path, reference_store):
    out = tmp_path / "ds"
    proc = _cli([*GEN, "--out", str(out)])
    try:
        assert _wait_for(lambda: len(list((out / "parts").glob("block-*.h5"))) >= 2, 120)
    finally:
        _kill(proc)
    assert not (out / "dataset.h5").exists() and (out / "progress.json").exists()  # clearly incomplete
    (out / "parts" / ".block-000005.h5.stale.tmp").write_bytes(b"half")  # a killed write's temporary
    again = _cli([*GEN, "--out", str(out)])
    assert again.wait(timeout=60) == 2 and "--resume" in again.stderr.read()
    resumed = _cli([*GEN, "--out", str(out), "--resume"])
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    assert sorted(p.name for p in out.iterdir()) == ["dataset.h5"]
    _same(_arrays(out / "dataset.h5"), reference_store)


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncate", "empty"])
def test_a_damaged_part_is_named_and_recomputed_on_resume(tmp_path, reference_store, damage):
    from matdesign.data import generate_dataset

    out = tmp_path / "ds"
    kw = dict(dim=2, size=8, n=12, seed=0, chunk=2, labels="bulk", workers=0, progress=False)
    assert generate_dataset(out, max_blocks=3, **kw) is None
    part = out / "parts" / "block-000001.h5"
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 3] if damage == "truncate" else b"")
    proc = _cli([*GEN, "--out", str(out), "--resume"])
    assert proc.wait(timeout=300) == 0
    assert f"note: {part} is damaged" in proc.stderr.read()
    _same(_arrays(out / "dataset.h5"), reference_store)


def test_a_rejected_generate_leaves_nothing_and_the_corrected_command_runs(tmp_path, monkeypatch):
    from matdesign.data import generate as gen

    def fail(*args, **kwargs):
        raise InputError("labels: the FEM refused this block")

    monkeypatch.setattr(gen, "run_blocks", fail)
    out = tmp_path / "ds"
    with pytest.raises(InputError):
        gen.generate_dataset(out, dim=2, size=8, n=4, seed=0, chunk=2, labels="none", workers=0, progress=False)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert gen.generate_dataset(out, dim=2, size=8, n=4, seed=0, chunk=2, labels="none", workers=0,
                                progress=False) == out / "dataset.h5"


def test_damaged_progress_record_is_named(tmp_path):
    from matdesign.data import generate_dataset

    out = tmp_path / "ds"
    (out / "parts").mkdir(parents=True)
    (out / "progress.json").write_text("{garbage")
    with pytest.raises(InputError, match=r"progress.json is damaged .*--overwrite"):
        generate_dataset(out, dim=2, size=8, n=4, seed=0, chunk=2, labels="none", workers=0, resume=True,
                         progress=False)


# --- train and design: kill -9, resume, one unit -------------------------------------------------------

@pytest.mark.slow
def test_train_killed_then_resumed_is_bit_identical(tmp_path):
    from matdesign.data import generate_dataset

    data = generate_dataset(tmp_path / "ds", dim=2, size=16, n=16, seed=0, chunk=16, labels="none", workers=0,
                            progress=False)
    config = tmp_path / "tiny.yaml"
    config.write_text((ROOT / "configs" / "tiny-2d.yaml").read_text().replace("checkpoint_every: 100",
                                                                             "checkpoint_every: 3"))
    args = ["train", "--data", str(data), "--config", str(config), "--max-steps", "12"]
    whole = _cli([*args, "--out", str(tmp_path / "whole")])
    assert whole.wait(timeout=300) == 0, whole.stderr.read()
    out = tmp_path / "killed"
    proc = _cli([*args, "--out", str(out)])
    try:
        assert _wait_for(lambda: (out / "train_state.safetensors").exists(), 120)
    finally:
        _kill(proc)
    assert folder_status(out).startswith("incomplete")
    resumed = _cli([*args, "--out", str(out), "--resume"])
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    assert folder_status(out) == "complete"
    assert (out / "model.safetensors").read_bytes() == (tmp_path / "whole" / "model.safetensors").read_bytes()


@pytest.mark.slow
def test_design_killed_leaves_no_out_and_a_rerun_matches(tmp_path):
    args = ["design", "--target-K", "120", "--search", "physics", "--top", "1", "--verify-n", "2",
            "--time-limit", "600", "--definition", "cell"]
    first = _cli([*args, "--out", str(tmp_path / "a")])
    assert first.wait(timeout=600) == 0, first.stderr.read()
    assert folder_status(tmp_path / "a") == "complete"
    out = tmp_path / "b"
    proc = _cli([*args, "--out", str(out)])
    try:
        assert _wait_for(lambda: list(tmp_path.glob(".b.partial-*")), 120)
    finally:
        _kill(proc)
    assert not out.exists()  # a killed run never looks complete
    again = _cli([*args, "--out", str(out)])
    assert again.wait(timeout=600) == 0, again.stderr.read()
    assert not list(tmp_path.glob(".b.partial-*")) and folder_status(out) == "complete"
    designs = [json.loads((tmp_path / d / "results.json").read_text())["designs"] for d in ("a", "b")]
    assert designs[0] == designs[1]


# --- evaluate: --resume / --overwrite, damaged target results, kill -9 then resume -----------------------

EVAL = ["evaluate", "--samples", "2", "--steps", "2", "--verify-n", "3", "--max-arrangements", "6", "--workers", "0",
        "--no-refine"]
QUICK = ["evaluate", "--samples", "1", "--steps", "2", "--verify-n", "2", "--max-arrangements", "2", "--workers", "0",
         "--no-refine"]


def _target_results(out: Path) -> dict:
    """Per target: its arrays and its JSON without the timings and the command line (bit-identical otherwise)."""
    got = {}
    for path in sorted((out / "targets").glob("K*.json")):
        result = {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("seconds")}
        result["settings"].pop("command")
        with np.load(path.with_suffix(".npz")) as f:
            got[path.stem] = (result, f["fields"].copy(), f["K_s"].copy())
    return got


def _same_results(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k][0] == b[k][0], k
        np.testing.assert_array_equal(a[k][1], b[k][1])
        np.testing.assert_array_equal(a[k][2], b[k][2])


def test_evaluate_rerun_needs_resume_or_overwrite_and_damaged_results_are_recomputed(tiny_model, tmp_path, capsys):
    out = tmp_path / "ev"
    args = [*QUICK, "--model", str(tiny_model), "--targets", "40,60", "--out", str(out)]
    assert main(args) == 0 and folder_status(out) == "complete"
    first = _target_results(out)
    capsys.readouterr()
    assert main(args) == 2  # an earlier run is never silently continued or mixed
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds an earlier evaluate run (complete)" in err and "--resume" in err
    assert main([*args, "--resume", "--overwrite"]) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert main([*QUICK, "--model", str(tiny_model), "--targets", "40", "--out", str(tmp_path / "none"),
                 "--resume"]) == 2
    assert "holds no evaluate run to continue" in capsys.readouterr().err and not (tmp_path / "none").exists()

    npz, js = out / "targets" / "K40.npz", out / "targets" / "K60.json"
    npz.write_bytes(npz.read_bytes()[:100])  # truncated
    js.write_text('{"target": 60')  # cut mid-write by hand
    assert main([*args, "--resume"]) == 0
    err = capsys.readouterr().err
    assert f"note: {npz} is damaged (cannot be read" in err and "recomputing target K* = 40 GPa" in err
    assert f"note: {js} is damaged (not a readable result" in err and "Traceback" not in err
    _same_results(_target_results(out), first)
    assert folder_status(out) == "complete"

    with np.load(npz) as f:  # a readable npz whose numbers were changed
        arrays = dict(f)
    arrays["fields"][0, 0, 0, 0] += 1
    np.savez_compressed(npz, **arrays)
    assert main([*args, "--resume"]) == 0
    assert "differ from those recorded in K40.json" in capsys.readouterr().err
    _same_results(_target_results(out), first)

    (out / "stale.txt").write_text("from an earlier run")
    assert main([*QUICK, "--model", str(tiny_model), "--targets", "40", "--out", str(out), "--overwrite"]) == 0
    assert not (out / "stale.txt").exists() and folder_status(out) == "complete"  # replaced whole
    _same_results(_target_results(out), {"K40": first["K40"]})
    assert not list(tmp_path.glob(".ev.*"))  # no lock, no moved-aside folder left


KILL_ARGS = [*EVAL, "--targets", "40,60,80,100"]
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def evaluate_whole(tiny_model, tmp_path_factory):
    """An uninterrupted evaluate run of four targets (the reference of the kill tests)."""
    out = tmp_path_factory.mktemp("evaluate") / "whole"
    whole = _cli([*KILL_ARGS, "--model", str(tiny_model), "--out", str(out)], env=ONE_THREAD)
    assert whole.wait(timeout=300) == 0, whole.stderr.read()
    return out


@pytest.mark.slow
@pytest.mark.parametrize("point", ["started", "first target stored"])
def test_evaluate_killed_then_resumed_is_bit_identical(point, tiny_model, evaluate_whole, tmp_path):
    args = [*KILL_ARGS, "--model", str(tiny_model)]
    out = tmp_path / "killed"
    reached = {"started": lambda: (out / "manifest.json").exists(),
               "first target stored": lambda: (out / "targets" / "K40.json").exists()}[point]
    proc = _cli([*args, "--out", str(out)], env=ONE_THREAD)
    try:
        assert _wait_for(reached, 120)
    finally:
        _kill(proc)
    assert folder_status(out) == "incomplete: status 'incomplete'"  # clearly incomplete
    assert not (out / "targets" / "K100.json").exists()
    again = _cli([*args, "--out", str(out)], env=ONE_THREAD)
    assert again.wait(timeout=60) == 2 and "--resume" in again.stderr.read()
    resumed = _cli([*args, "--out", str(out), "--resume"], env=ONE_THREAD)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    assert folder_status(out) == "complete"
    _same_results(_target_results(out), _target_results(evaluate_whole))
    for name in ("table-raw-paper.csv", "table-raw-converged.csv"):
        assert (out / name).read_bytes() == (evaluate_whole / name).read_bytes()
