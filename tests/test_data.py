"""Dataset generation, store, resume, FieldDataset and stats (matdesign.data) against the real FEM."""

import json
import shutil

import h5py
import numpy as np
import pytest
import torch

from matdesign.cli.main import main as cli
from matdesign.data import FieldDataset, dataset_stats, dataset_targets, generate_dataset, read_meta
from matdesign.data.samples import make_sample
from matdesign.data.seeding import sample_seed
from matdesign.errors import InputError
from matdesign.materials import MaterialTable

ARGS = dict(dim=2, size=16, n=8, seed=3, chunk=3)  # 3 blocks: 3 + 3 + 2 samples
PER_SAMPLE = ("fields", "K", "C", "rho_mean", "matrix_index", "particle_index", "matrix_name", "particle_name",
              "diameter", "volume_fraction", "voxel_fraction", "n_particles", "seed")


@pytest.fixture(scope="module")
def dask_address():
    """Address of a 2-process LocalCluster shared by this module's tests."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted in-process run: the store every other run must reproduce bit for bit."""
    return generate_dataset(tmp_path_factory.mktemp("ref") / "ds", workers=0, progress=False, **ARGS)


def arrays(path):
    with h5py.File(path, "r") as f:
        return {k: f[k].asstr()[()] if h5py.check_string_dtype(f[k].dtype) else f[k][()] for k in f}


def assert_same_store(a, b):
    A, B = arrays(a), arrays(b)
    assert sorted(A) == sorted(B) == sorted(PER_SAMPLE)
    for k in PER_SAMPLE:
        assert A[k].dtype == B[k].dtype and np.array_equal(A[k], B[k]), k


def test_store_layout_and_metadata(reference):
    d = arrays(reference)
    n = ARGS["n"]
    assert d["fields"].shape == (n, 3, 16, 16) and d["fields"].dtype == np.float32
    assert d["C"].shape == (n, 3, 3)
    assert all(d[k].shape == (n,) for k in PER_SAMPLE if k not in ("fields", "C"))
    assert list(d["seed"]) == [sample_seed(ARGS["seed"], i) for i in range(n)]
    meta = read_meta(reference)
    table = MaterialTable.builtin()
    assert {k: meta[k] for k in ARGS} == ARGS
    assert meta["material_sha256"] == table.sha256()
    assert meta["normalization"] == table.normalization.to_dict()
    assert "numpy" in meta["versions"] and meta["command"]
    assert not (reference.parent / "parts").exists() and not (reference.parent / "progress.json").exists()


def test_fields_are_the_sampled_materials(reference):
    d = arrays(reference)
    table = MaterialTable.builtin()
    for i in range(ARGS["n"]):
        m, p = d["matrix_index"][i], d["particle_index"][i]
        assert d["matrix_name"][i] == table.names[m] and d["particle_name"][i] == table.names[p]
        E = d["fields"][i, 0]
        assert set(np.unique(E)) <= {np.float32(table.E[m]), np.float32(table.E[p])}
        assert np.isclose(d["rho_mean"][i], d["fields"][i, 2].astype(np.float64).mean())
        assert 0.15 <= d["diameter"][i] <= 0.4 and 0.05 <= d["volume_fraction"][i] <= 0.5
        assert abs(d["voxel_fraction"][i] - d["volume_fraction"][i]) < 0.15


def test_sample_regenerates_from_seed(reference):
    d = arrays(reference)
    table = MaterialTable.builtin()
    _, ms = make_sample(table, ARGS["seed"], 5, dim=2, size=16)
    assert np.array_equal(ms.fields, d["fields"][5])
    assert len(ms.centers) == d["n_particles"][5]


def test_labels_equal_a_fresh_fem_call_and_respect_bounds(reference):
    from matdesign.fem import bulk_modulus, effective_stiffness
    from matdesign.fem.moduli import bulk_from_young

    d = arrays(reference)
    E, nu = d["fields"][:, 0].astype(np.float64), d["fields"][:, 1].astype(np.float64)
    np.testing.assert_allclose(d["K"], bulk_modulus(E, nu, dim=2), rtol=1e-10)
    np.testing.assert_allclose(d["C"], effective_stiffness(E, nu, dim=2), rtol=1e-10, atol=1e-12)
    Kv = bulk_from_young(E, nu, 2).reshape(len(E), -1)  # voxel bulk moduli: Voigt and Reuss bounds
    assert np.all(d["K"] <= Kv.mean(1) * (1 + 1e-9))
    assert np.all(d["K"] >= 1 / (1 / Kv).mean(1) * (1 - 1e-9))


def test_bit_identical_with_a_local_cluster(reference, tmp_path):
    out = tmp_path / "ds"
    argv = ["dataset", "generate", "--out", str(out), "--workers", "2"]
    argv += [f"--{k}={v}" for k, v in ARGS.items()]
    assert cli(argv) == 0
    assert_same_store(reference, out / "dataset.h5")


def test_scheduler_path_and_resume_after_interruption(reference, tmp_path, dask_address):
    out = tmp_path / "ds"
    assert generate_dataset(out, workers=0, max_blocks=1, progress=False, **ARGS) is None
    assert sorted(p.name for p in (out / "parts").iterdir()) == ["block-000000.h5"]
    assert not (out / "dataset.h5").exists()
    (out / "parts" / ".block-000001.h5.x.tmp").write_bytes(b"half-written")  # a killed write
    with pytest.raises(InputError, match="--resume"):
        generate_dataset(out, workers=0, progress=False, **ARGS)
    path = generate_dataset(out, scheduler=dask_address, resume=True, progress=False, **ARGS)
    assert_same_store(reference, path)
    assert sorted(p.name for p in out.iterdir()) == ["dataset.h5"]
    assert generate_dataset(out, workers=0, resume=True, progress=False, **ARGS) == path  # complete: no-op


def test_field_dataset_normalization_round_trip(reference):
    ds = FieldDataset(reference.parent)
    d = arrays(reference)
    assert len(ds) == ARGS["n"] and ds.meta["seed"] == ARGS["seed"]
    item = ds[2]
    assert item["x"].dtype == torch.float32 and item["x"].shape == (3, 16, 16)
    assert item["K"].dtype == torch.float32 and item["K"].shape == ()
    assert float(item["K"]) == pytest.approx(d["K"][2], rel=1e-6)
    x = torch.stack([ds[i]["x"] for i in range(len(ds))])
    assert x.min() >= -1 and x.max() <= 1
    back = ds.normalization.denormalize(x.double(), axis=1).numpy()
    np.testing.assert_allclose(back, d["fields"], rtol=1e-5, atol=1e-6)
    # the extreme materials of the table map to exactly -1 / +1
    table = MaterialTable.builtin()
    ends = ds.normalization.normalize(np.array([[table.E.min(), table.nu.min(), table.rho.min()],
                                                [table.E.max(), table.nu.max(), table.rho.max()]]))
    np.testing.assert_allclose(ends, [[-1, -1, -1], [1, 1, 1]], atol=1e-12)


def test_field_dataset_in_dataloader_workers(reference):
    ds = FieldDataset(reference)
    ds[0]  # an open handle in the parent must not leak into the workers
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    batches = list(loader)
    assert torch.equal(torch.cat([b["x"] for b in batches]), torch.stack([ds[i]["x"] for i in range(len(ds))]))


def test_stats_targets_and_cli(reference, tmp_path, capsys):
    path = tmp_path / "ds"
    shutil.copytree(reference.parent, path)
    K = arrays(reference)["K"]
    lo, hi = np.percentile(K, [1, 99])
    targets = dataset_targets(path)
    np.testing.assert_allclose(targets, lo + (hi - lo) * np.arange(5) / 4)
    assert targets[0] >= K.min() and targets[-1] <= K.max()
    s = dataset_stats(path)
    assert s["K_percentiles"]["50"] == pytest.approx(np.median(K))
    assert 1 <= s["chunks"]["matrix"] <= ARGS["n"] and s["chunks"]["either"] <= s["chunks"]["nonempty"]
    assert cli(["dataset", "stats", str(path), "--plot", str(tmp_path / "k.png")]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed.strip().splitlines()[-1])["targets"] == pytest.approx(targets)
    assert read_meta(path)["targets"] == pytest.approx(targets)
    assert (tmp_path / "k.png").read_bytes()[:4] == b"\x89PNG"
    assert_same_store(reference, path / "dataset.h5")  # the metadata update left the data alone


@pytest.fixture
def other_table_csv(tmp_path):
    """The built-in table with one Young's modulus changed (a different sha256)."""
    table = MaterialTable.builtin()
    table.to_csv(tmp_path / "t.csv")
    lines = (tmp_path / "t.csv").read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("E")] = str(float(row[header.index("E")]) * 1.01)
    (tmp_path / "t.csv").write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    return tmp_path / "t.csv"


@pytest.mark.parametrize("change, match", [
    (dict(seed=4), "seed"), (dict(size=32), "size"), (dict(dim=3), "dim"), (dict(n=9), "n is"),
    ("table", "material table"),
])
def test_resume_with_other_settings_is_refused(reference, tmp_path, change, match, other_table_csv):
    out = tmp_path / "ds"
    shutil.copytree(reference.parent, out)
    before = (out / "dataset.h5").read_bytes()
    args = {**ARGS, "materials": other_table_csv} if change == "table" else {**ARGS, **change}
    with pytest.raises(InputError, match=match):
        generate_dataset(out, workers=0, resume=True, progress=False, **args)
    assert (out / "dataset.h5").read_bytes() == before


def test_bad_inputs(tmp_path, reference, capsys):
    with pytest.raises(InputError, match="materials: file not found"):
        generate_dataset(tmp_path / "a", materials=tmp_path / "none.csv", **ARGS)
    with pytest.raises(InputError, match="n=0: must be an integer >= 1"):
        generate_dataset(tmp_path / "a", **{**ARGS, "n": 0})
    with pytest.raises(InputError, match="resume and overwrite"):
        generate_dataset(tmp_path / "a", resume=True, overwrite=True, **ARGS)
    assert not (tmp_path / "a").exists()
    out = tmp_path / "ds"
    shutil.copytree(reference.parent, out)
    before = (out / "dataset.h5").read_bytes()
    assert cli(["dataset", "generate", "--out", str(out), "--n", "8", "--size", "16"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "dataset.h5").read_bytes() == before
    with pytest.raises(InputError, match="no store"):
        FieldDataset(tmp_path / "missing")
    (tmp_path / "orphan" / "parts").mkdir(parents=True)
    with pytest.raises(InputError, match="no progress.json"):
        generate_dataset(tmp_path / "orphan", resume=True, **ARGS)


def test_overwrite_replaces(tmp_path, reference):
    out = tmp_path / "ds"
    shutil.copytree(reference.parent, out)
    path = generate_dataset(out, workers=0, overwrite=True, progress=False, **{**ARGS, "n": 2})
    assert len(arrays(path)["K"]) == 2
    assert np.array_equal(arrays(path)["fields"], arrays(reference)["fields"][:2])


def test_3d_store_labels(tmp_path):
    from matdesign.fem import bulk_modulus
    from matdesign.fem.moduli import bulk_from_young

    path = generate_dataset(tmp_path / "ds", dim=3, size=8, n=3, seed=0, chunk=2, workers=0, progress=False)
    d = arrays(path)
    assert d["fields"].shape == (3, 3, 8, 8, 8) and d["C"].shape == (3, 6, 6)
    assert np.allclose(d["C"], d["C"].transpose(0, 2, 1))
    E, nu = d["fields"][:, 0].astype(np.float64), d["fields"][:, 1].astype(np.float64)
    np.testing.assert_allclose(d["K"], bulk_modulus(E, nu, dim=3), rtol=1e-6)
    Kv = bulk_from_young(E, nu, 3).reshape(3, -1)
    assert np.all(d["K"] <= Kv.mean(1) * (1 + 1e-6)) and np.all(d["K"] >= 1 / (1 / Kv).mean(1) * (1 - 1e-6))
    assert 0.15 <= d["diameter"].min() and d["diameter"].max() <= 0.35


def test_fields_only_store(reference, tmp_path, capsys):
    path = generate_dataset(tmp_path / "ds", workers=0, progress=False, labels="none", **ARGS)
    a, d = arrays(reference), arrays(path)
    assert np.array_equal(a["fields"], d["fields"]) and np.array_equal(a["seed"], d["seed"])
    assert np.isnan(d["K"]).all() and np.isnan(d["C"]).all()
    np.testing.assert_allclose(d["rho_mean"], a["rho_mean"], rtol=1e-12)
    with pytest.raises(InputError, match="no FEM labels"):
        dataset_stats(path)
    with pytest.raises(InputError, match="labels is 'stiffness'"):  # a resume cannot switch labels on
        generate_dataset(tmp_path / "ds", workers=0, progress=False, resume=True, **ARGS)
    assert cli(["dataset", "stats", str(tmp_path / "ds")]) == 2
    assert "no FEM labels" in capsys.readouterr().err


def test_bulk_only_labels_equal_the_stiffness_labels(reference, tmp_path, capsys):
    """``--labels bulk`` solves the hydrostatic case alone: same K (to solver tolerance), no C, same stats."""
    path = tmp_path / "ds"
    assert cli(["dataset", "generate", "--out", str(path), "--dim", "2", "--size", "16", "--n", "8", "--seed", "3",
                "--chunk", "3", "--workers", "0", "--labels", "bulk"]) == 0
    a, d = arrays(reference), arrays(path / "dataset.h5")
    assert np.array_equal(a["fields"], d["fields"]) and np.isnan(d["C"]).all()
    np.testing.assert_allclose(d["K"], a["K"], rtol=1e-8)
    np.testing.assert_allclose(dataset_targets(path), dataset_targets(reference), rtol=1e-8)
    assert read_meta(path)["labels"] == "bulk"
    with pytest.raises(InputError, match="labels="):
        generate_dataset(tmp_path / "x", workers=0, progress=False, labels="K", **ARGS)


def test_in_memory_field_dataset_equals_lazy(reference):
    lazy, mem = FieldDataset(reference), FieldDataset(reference, in_memory=True)
    assert len(mem) == len(lazy)
    for i in (0, len(lazy) - 1, -1):
        assert torch.equal(mem[i]["x"], lazy[i]["x"]) and torch.equal(mem[i]["K"], lazy[i]["K"])
    with pytest.raises(IndexError):
        mem[len(mem)]


def test_batched_torch_labels_equal_the_default_path():
    from matdesign.data.samples import label

    table = MaterialTable.builtin()
    fields = np.stack([make_sample(table, 0, i, dim=2, size=16)[1].fields for i in range(3)])
    ref, batched = label(fields, 2), label(fields, 2, device="cpu")
    np.testing.assert_allclose(batched["C"], ref["C"], rtol=1e-9)
    np.testing.assert_allclose(batched["K"], ref["K"], rtol=1e-9)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_cuda_labelling_without_gpu_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="device=.cuda.: no CUDA GPU"):
        generate_dataset(tmp_path / "ds", workers=0, progress=False, device="cuda", **ARGS)
    assert not (tmp_path / "ds").exists()
