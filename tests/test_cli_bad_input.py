"""Hostile input to every command: each case exits 2 with exactly one ``error:`` line naming the problem,
no traceback, nothing written, answered in under two seconds (run in-process through ``main(argv)``)."""

import os
import time
from pathlib import Path

import pytest

from matdesign.cli.main import main


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Prepared input files: good and broken CSVs, configs, stores and model folders."""
    d = tmp_path_factory.mktemp("inputs")
    (d / "file.txt").write_text("not a folder\n")
    (d / "folder").mkdir()
    (d / "empty").mkdir()
    (d / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (d / "semicolon.csv").write_text("name;E;nu;rho\nA;1;0.3;1\n")
    (d / "nan.yaml").write_text("training:\n  lr: .nan\n")
    (d / "list.yaml").write_text("- 1\n- 2\n")
    (d / "broken.yaml").write_text("model: [1, 2\n")
    (d / "negative-lr.yaml").write_text("training:\n  lr: -0.001\n")
    (d / "unknown-key.yaml").write_text("model:\n  bogus: 1\n")
    (d / "garbage-model").mkdir()
    (d / "garbage-model" / "model.safetensors").write_bytes(b"\0" * 16)
    (d / "garbage-model" / "config.json").write_text("{not json")
    (d / "not-ours").mkdir()
    (d / "not-ours" / "thesis.tex").write_text("keep me\n")
    (d / "garbage-store").mkdir()
    (d / "garbage-store" / "dataset.h5").write_bytes(b"\x89HDF\r\n" + b"x" * 100)
    from matdesign.data import generate_dataset

    store = generate_dataset(d / "good-store", dim=2, size=8, n=4, seed=0, chunk=4, workers=0, labels="none",
                             progress=False)
    truncated = d / "truncated-store"
    truncated.mkdir()
    data = store.read_bytes()
    (truncated / "dataset.h5").write_bytes(data[: len(data) // 2])
    run = d / "earlier-run"
    run.mkdir()
    (run / "results.json").write_text("{}")
    (d / "earlier-eval" / "targets").mkdir(parents=True)
    (d / "earlier-eval" / "evaluation.json").write_text("{}")
    (d / "user-targets" / "targets").mkdir(parents=True)  # someone's own folder that happens to hold targets/
    (d / "user-targets" / "targets" / "notes.txt").write_text("keep me\n")
    return d


def _tree(root: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*")}


CASES = [
    # design
    ("design --target-K -5", "--target-K -5"),
    ("design --target-K nan", "positive number of GPa"),
    ("design --target-K 120 --target 3", "give the target once"),
    ("design --target-K 120 --property G", "--target-K is a bulk-modulus target"),
    ("design --property nu --target 0.7", "Poisson ratio target must lie in (-1, 0.5)"),
    ("design --property X --target 1", "--property 'X': must be one of K, G, E, nu"),
    ("design --target-K 120 --samples 0", "--samples 0: must be between 1 and"),
    ("design --target-K 120 --samples 1000000000", "drawn as one batch"),
    ("design --target-K 120 --steps 5000", "--steps 5000: must be between 1 and 1000"),
    ("design --target-K 120 --steps 0", "--steps 0"),
    ("design --target-K 120 --tolerance 150", "--tolerance 150: must be a percentage in (0, 100), e.g. 1 for ±1 %"),
    ("design --target-K 120 --tolerance 0", "--tolerance 0: must be a percentage"),
    ("design --target-K 120 --tolerance -1", "--tolerance -1: must be a percentage"),
    ("design --target-K 120 --top -1", "--top -1: must be between 1 and 100"),
    ("design --target-K 120 --top 0", "--top 0"),
    ("design --target-K 120 --seed -1", "--seed -1: must be an integer in [0, 2**32)"),
    ("design --target-K 120 --seed 18446744073709551616", "--seed 18446744073709551616"),
    ("design --target-K 120 --device tpu", "--device 'tpu': must be cpu, cuda or cuda:N"),
    ("design --target-K 120 --device cuda:x", "--device 'cuda:x'"),
    ("design --target-K 120 --dim 4", "--dim 4: must be 2 or 3"),
    ("design --target-K 120 --rank best", "--rank 'best': must be one of robust, error"),
    ("design --target-K 120 --objective squared", "--objective 'squared'"),
    ("design --target-K 120 --search everywhere", "--search 'everywhere'"),
    ("design --target-K 120 --verify-n 0", "--verify-n 0"),
    ("design --target-K 120 --time-limit -1", "--time-limit -1: must be > 0"),
    ("design --target-K 120 --time-limit 0", "--time-limit 0"),
    ("design --target-K 120 --step-clip 0", "--step-clip 0: must be > 0; inf turns the clip off"),
    ("design --target-K 120 --density-weight -1", "--density-weight -1: must be ≥ 0"),
    ("design --target-K 120 --definition walls", "--definition 'walls'"),
    ("design --target-K 120 --model {d}/nowhere", "no such model folder"),
    ("design --target-K 120 --model 3d --dim 2", "a 3D model, but --dim is 2"),
    ("design --target-K 120 --model {d}/garbage-model", "is not a matdesign model config"),
    ("design --target-K 120 --materials {d}/missing.csv", "--materials {d}/missing.csv: no such file"),
    ("design --target-K 120 --materials {d}/folder", "is a folder; pass a file"),
    ("design --target-K 120 --materials {d}/semicolon.csv", "not comma-separated"),
    ("design --target-K 120 --materials {d}/binary.bin", "not UTF-8"),
    ("design --target-K 120 --out {d}/file.txt", "--out {d}/file.txt: is a file; pass a folder"),
    ("design --target-K 120 --out {d}/file.txt/sub", "is a file, not a folder"),
    ("design --target-K 120 --out {d}/not-ours", "holds no matdesign design run"),
    ("design --target-K 120 --out {d}/not-ours --overwrite", "holds no matdesign design run"),
    ("design --target-K 120 --out {d}/earlier-run", "holds an earlier design run"),
    ("design --target-K 120 --samples abc", "Invalid value for '--samples'"),
    ("design --target-K 100000", "--target-K 100000: outside the range the built-in material table can reach in 2D"),
    ("design --property E --target 5000", "--target 5000: outside the range"),
    ("design --property G --target 0.00001 --dim 3", "--target 1e-05: outside the range"),
    ("design --target-K 120 --steps 5000 --search physics", "--steps 5000"),
    ("design --target-K 120 --verify-n 100000", "--verify-n 100000: must be between 1 and 10000"),
    ("design --target-K 120 --time-limit nan", "--time-limit nan"),
    ("design --target-K 120 --out {d}/earlier-run --overwrite --samples 0", "--samples 0"),
    ("design --target-K 120 --no-such-option", "No such option: --no-such-option"),
    # baselines
    ("baseline bo --target-K 0", "--target-K 0"),
    ("baseline bo --target-K 40 --iterations 0", "--iterations 0"),
    ("baseline bo --target-K 40 --runs 0", "--runs 0"),
    ("baseline bo --target-K 40 --kappa -1", "--kappa -1"),
    ("baseline bo --target-K 40 --size 100000", "--size 100000: must be between 4 and"),
    ("baseline bo --target-K 40 --tolerance 150", "must be a percentage in (0, 100)"),
    ("baseline bo --target-K 40 --top 0", "--top 0"),
    ("baseline bo --target-K 40 --out {d}/earlier-run", "holds an earlier baseline-bo run"),
    ("baseline cfg --target-K 40 --guidance-scale nan", "--guidance-scale nan"),
    ("baseline cfg --target-K 40 --steps 5000", "--steps 5000"),
    ("baseline cfg --target-K 40 --device tpu", "--device 'tpu'"),
    ("baseline cfg --target-K 40 --model 3d", "a 3D model, but --dim is 2"),
    ("baseline bo --target-K 100000", "--target-K 100000: outside the range"),
    ("baseline bo --target-K 40 --verify-n 0", "--verify-n 0"),
    ("baseline bo --target-K 40 --samples 0", "--samples 0"),
    ("baseline bo --target-K 40 --seed -1", "--seed -1"),
    ("baseline cfg --target-K 100000", "--target-K 100000: outside the range"),
    ("baseline cfg --target-K 40 --samples 0", "--samples 0: must be between 1 and"),
    ("baseline cfg --target-K 40 --samples 1000000000", "drawn as one batch"),
    ("baseline cfg --target-K 40 --steps 0", "--steps 0"),
    ("baseline cfg --target-K 40 --verify-n 0", "--verify-n 0"),
    # evaluate
    ("evaluate --targets abc", "--targets 'abc': expected dataset, paper or comma-separated numbers"),
    ("evaluate --targets 120 --materials {d}/missing.csv", "--materials {d}/missing.csv: no such file"),
    ("evaluate --targets 120 --materials {d}/semicolon.csv", "not comma-separated"),
    ("evaluate --targets -3", "--targets -3"),
    ("evaluate --targets dataset", "--targets dataset needs --data"),
    ("evaluate --targets dataset --data {d}/empty", "no dataset store"),
    ("evaluate --targets dataset --data {d}/garbage-store", "cannot read"),
    ("evaluate --targets dataset --data {d}/truncated-store", "truncated-store/dataset.h5"),
    ("evaluate --targets dataset --data {d}/good-store --dim 3", "--data {d}/good-store: a 2D dataset, but --dim is 3"),
    ("evaluate --targets 40 --sem-tol 150", "--sem-tol 150: must be a percentage in (0, 100)"),
    ("evaluate --targets 40 --workers -1", "--workers -1"),
    ("evaluate --targets 40 --workers 1 --scheduler tcp://h:1", "either --workers or --scheduler"),
    ("evaluate --targets 40 --scheduler foo", "--scheduler 'foo': must be an address like tcp://host:8786"),
    ("evaluate --targets 40 --mode weird", "--mode 'weird'"),
    ("evaluate --targets 40 --max-arrangements 0", "--max-arrangements 0"),
    ("evaluate --targets 40 --samples 0", "--samples 0"),
    ("evaluate --targets 40 --out {d}/not-ours", "holds no matdesign evaluate run"),
    ("evaluate --targets 40 --out {d}/not-ours --overwrite", "holds no matdesign evaluate run"),
    ("evaluate --targets 40 --out {d}/earlier-eval", "holds an earlier evaluate run"),
    ("evaluate --targets 40 --out {d}/user-targets --overwrite", "holds no matdesign evaluate run"),
    ("evaluate --targets 40 --out {d}/earlier-eval --resume --overwrite", "exclude each other"),
    ("evaluate --targets 40 --out {d}/nothing-here --resume", "holds no evaluate run to continue; drop --resume"),
    ("evaluate --targets 40,100000", "--targets 100000: outside the range"),
    ("evaluate --targets 40,100000 --definition paper --samples 0", "--samples 0"),  # the release's K: no range
    ("evaluate --targets 40 --samples 1000000000", "drawn as one batch"),
    ("evaluate --targets 40 --steps 0", "--steps 0"),
    ("evaluate --targets 40 --steps 5000", "--steps 5000: must be between 1 and 1000"),
    ("evaluate --targets 40 --verify-n 0", "--verify-n 0"),
    ("evaluate --targets 40 --verify-n 1", "--verify-n 1: must be between 2 and 10000"),
    ("evaluate --targets 40 --max-arrangements 5", "--max-arrangements 5: must be between 10 and"),
    ("evaluate --targets 40 --seed -1", "--seed -1"),
    ("evaluate --targets 40 --device tpu", "--device 'tpu'"),
    ("evaluate --targets 40 --dim 3 --model 2d", "a 2D model, but --dim is 3"),
    ("evaluate --targets 40 --step-clip 0", "--step-clip 0"),
    ("evaluate --targets 40 --definition walls", "--definition 'walls'"),
    # train
    ("train --data {d}/good-store --config {d}/binary.bin --out {d}/run", "not a text file"),
    ("train --data {d}/good-store --config {d}/nan.yaml --out {d}/run", "training.lr is nan; must be a finite number"),
    ("train --data {d}/good-store --config {d}/list.yaml --out {d}/run", "must be a mapping"),
    ("train --data {d}/good-store --config {d}/broken.yaml --out {d}/run", "not valid YAML"),
    ("train --data {d}/good-store --config {d}/missing.yaml --out {d}/run", "no such file"),
    ("train --data {d}/good-store --config {d}/negative-lr.yaml --out {d}/run", "lr and grad_clip must be > 0"),
    ("train --data {d}/good-store --config {d}/unknown-key.yaml --out {d}/run", "unknown key model.bogus"),
    ("train --data {d}/empty --config configs/tiny-2d.yaml --out {d}/run", "no dataset store"),
    ("train --data {d}/truncated-store --config configs/tiny-2d.yaml --out {d}/run", "truncated-store"),
    ("train --data {d}/good-store --config configs/tiny-2d.yaml --out {d}/run --workers -1", "--workers -1"),
    ("train --data {d}/good-store --config configs/tiny-2d.yaml --out {d}/run --time-limit -1", "--time-limit -1: must be > 0"),
    ("train --data {d}/good-store --config configs/tiny-2d.yaml --out {d}/run --max-steps 0", "--max-steps 0: must be ≥ 1"),
    ("train --data {d}/good-store --config configs/tiny-2d.yaml --out {d}/run --time-limit 0", "--time-limit 0: must be > 0"),
    ("train --data {d}/good-store --config configs/tiny-2d.yaml --out {d}/run --device tpu", "--device 'tpu'"),
    ("train --data {d}/good-store --config configs/tiny-2d.yaml --out {d}/run --workers 100000", "--workers 100000"),
    ("train --data {d}/good-store --config configs/tiny-2d.yaml --out {d}/run --resume", "no training state"),
    ("train --data {d}/good-store --config configs/tiny-2d.yaml --out {d}/file.txt", "is a file"),
    # sample
    ("sample --model {d}/nowhere", "no such model folder"),
    ("sample --model 2d --device cuda", "no CUDA GPU is available"),
    ("sample --model 2d --out {d}/folder", "--out {d}/folder: is a folder; pass a file name"),
    ("sample --model 2d --out {d}/x.jpg", "must end in .png"),
    ("sample --model 2d --seed -1", "--seed -1"),
    ("sample --model 2d --n 0", "--n 0"),
    ("sample --model 2d --steps 5000", "--steps 5000"),
    # dataset
    ("dataset generate --out {d}/ds --n 4 --size 100000", "--size 100000: must be between 4 and"),
    ("dataset generate --out {d}/ds --n 0", "--n 0"),
    ("dataset generate --out {d}/ds --n 100000000", "--n 100000000"),
    ("dataset generate --out {d}/ds --n 4 --workers -1", "--workers -1"),
    ("dataset generate --out {d}/ds --n 4 --resume --overwrite", "--resume and --overwrite exclude each other"),
    ("dataset generate --out {d}/ds --n 4 --labels some", "--labels 'some'"),
    ("dataset generate --out {d}/ds --n 4 --chunk 0", "--chunk 0"),
    ("dataset generate --out {d}/ds --n 4 --dim 5", "--dim 5"),
    ("dataset generate --out {d}/file.txt --n 4", "is a file"),
    ("dataset generate --out {d}/ds --n 4 --scheduler nowhere", "--scheduler 'nowhere'"),
    ("dataset generate --out {d}/ds --n 4 --materials {d}/missing.csv", "no such file"),
    ("dataset generate --out {d}/ds --n 4 --device tpu", "--device 'tpu'"),
    ("dataset generate --out {d}/good-store --n 4", "already holds a dataset"),
    ("dataset stats {d}/empty", "no dataset store"),
    ("dataset stats {d}/garbage-store", "cannot read"),
    ("dataset stats {d}/good-store --plot {d}/folder", "is a folder"),
    # microstructure
    ("microstructure show --matrix Fe --particle Cu --diameter 0.2 --vf 0.3 --out {d}/m.png",
     "--matrix 'Fe': unknown material; did you mean 'Fe (element)'"),
    ("microstructure show --matrix Fe (element) --particle Alumina --diameter 0.2 --vf 0.3 --out {d}/m.png",
     "--particle 'Alumina': unknown material; did you mean"),
    ("microstructure show --matrix Fe (element) --particle Cu (element) --diameter 0 --vf 0.3 --out {d}/m.png",
     "--diameter 0: must lie in (0, 1]"),
    ("microstructure show --matrix Fe (element) --particle Cu (element) --diameter 1.5 --vf 0.3 --out {d}/m.png",
     "--diameter 1.5"),
    ("microstructure show --matrix Fe (element) --particle Cu (element) --diameter 0.2 --vf -0.1 --out {d}/m.png",
     "--vf -0.1"),
    ("microstructure show --matrix Fe (element) --particle Cu (element) --diameter 0.2 --vf 0.3 --out {d}/folder",
     "is a folder"),
    ("microstructure show --matrix Fe (element) --particle Cu (element) --diameter 0.2 --vf 0.3 --out {d}/m.png "
     "--vtk {d}/m.txt", "--vtk {d}/m.txt: must end in .vtu or .vtk"),
    ("microstructure show --matrix Fe (element) --particle Cu (element) --diameter 0.2 --vf 0.3 --size 100000 "
     "--out {d}/m.png", "--size 100000"),
    # materials
    ("materials check {d}/missing.csv", "no such file"),
    ("materials check {d}/folder", "is a folder"),
    ("materials check {d}/binary.bin", "not UTF-8"),
    ("materials list --csv {d}/missing.csv", "no such file"),
    ("materials plot --out {d}/folder", "is a folder"),
]


def _argv(template: str, d: Path) -> list[str]:
    """Split on spaces, keeping material names with a space (``Fe (element)``) together."""
    words = template.format(d=d).split(" ")
    out = []
    for w in words:
        if w.startswith("(") and out:
            out[-1] += " " + w
        else:
            out.append(w)
    return out


def test_enough_cases():
    assert len(CASES) >= 60
    assert {c.split()[0] for c, _ in CASES} >= {"design", "baseline", "evaluate", "train", "sample", "dataset",
                                                 "microstructure", "materials"}


@pytest.mark.parametrize("template, expected", CASES, ids=[c for c, _ in CASES])
def test_bad_input_is_one_line(template, expected, inputs, capsys, monkeypatch):
    monkeypatch.chdir(Path(__file__).parents[1])
    before = _tree(inputs)
    start = time.perf_counter()
    code = main(_argv(template, inputs))
    seconds = time.perf_counter() - start
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert expected.format(d=inputs) in lines[0], lines[0]
    assert "Traceback" not in err + out
    assert _tree(inputs) == before, "a rejected command wrote or changed files"
    assert seconds < 2.0, f"answered in {seconds:.2f} s"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_out_folder(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    assert main(["design", "--target-K", "120", "--out", str(ro / "x")]) == 2
    assert "cannot write into" in capsys.readouterr().err


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("prop", ["K", "G", "E", "nu"])
def test_the_cli_reachable_range_is_the_pipelines(prop, dim):
    """The CLI answers an unreachable target before importing the pipeline; its range must be the pipeline's."""
    from matdesign.cli.common import reachable
    from matdesign.materials import MaterialTable
    from matdesign.pipeline.checks import reachable_range

    assert reachable(prop, dim) == pytest.approx(reachable_range(MaterialTable.builtin(), dim, prop), rel=1e-12)
