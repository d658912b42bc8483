"""Block plumbing of matdesign.data: seeds, atomic part files, map/run over blocks (in-process and dask)."""

import numpy as np
import pytest

from matdesign.data.parallel import dask_client, map_blocks, run_blocks
from matdesign.data.parts import finished_blocks, part_path, read_part, write_part
from matdesign.data.seeding import sample_rng, sample_seed
from matdesign.errors import InputError


@pytest.fixture(scope="module")
def dask_address():
    """Address of a 2-process LocalCluster shared by this module's tests."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_sample_seed_depends_only_on_seed_and_index():
    assert sample_seed(0, 5) == sample_seed(0, 5)
    seeds = {sample_seed(s, i) for s in range(3) for i in range(100)}
    assert len(seeds) == 300
    assert sample_rng(7, 3).random() == np.random.default_rng(sample_seed(7, 3)).random()


def test_part_roundtrip_and_finished_blocks(tmp_path):
    arrays = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "name": np.array(["steel", "Al 6061"], dtype=object),
              "seed": np.array([2**63 + 5, 1], dtype=np.uint64)}
    write_part(part_path(tmp_path, 3), arrays)
    back = read_part(tmp_path / "block-000003.h5")
    assert back["x"].dtype == np.float32 and np.array_equal(back["x"], arrays["x"])
    assert list(back["name"]) == ["steel", "Al 6061"]
    assert back["seed"][0] == 2**63 + 5
    (tmp_path / ".block-000004.h5.abc.tmp").write_bytes(b"half")
    assert finished_blocks(tmp_path) == {3}


def test_failed_part_write_leaves_nothing(tmp_path):
    with pytest.raises(TypeError):
        write_part(part_path(tmp_path, 0), {"ok": np.zeros(3), "bad": np.array([{}], dtype=object)})
    assert list(tmp_path.iterdir()) == []


def square_plus(block, *, offset, table):
    """A block function: needs both broadcast arguments (a scalar and a dict)."""
    return {"y": np.asarray(block, dtype=np.float64) ** 2 + offset + table["shift"]}


BLOCKS = [range(s, min(s + 3, 10)) for s in range(0, 10, 3)]
COMMON = {"offset": 0.5, "table": {"shift": 100.0}}
EXPECTED = np.arange(10.0) ** 2 + 100.5


def test_map_blocks_in_process_is_ordered():
    out = map_blocks(square_plus, BLOCKS, common=COMMON, workers=0, progress=False)
    assert np.array_equal(np.concatenate([r["y"] for r in out]), EXPECTED)


def test_run_blocks_resumes_only_missing_blocks(tmp_path):
    assert run_blocks(square_plus, BLOCKS, tmp_path, common=COMMON, workers=0, max_blocks=2, progress=False) == 2
    assert finished_blocks(tmp_path) == {0, 1}
    assert run_blocks(square_plus, BLOCKS, tmp_path, common=COMMON, workers=0, progress=False) == 2
    assert run_blocks(square_plus, BLOCKS, tmp_path, common=COMMON, workers=0, progress=False) == 0
    out = map_blocks(square_plus, BLOCKS, common=COMMON, parts_dir=tmp_path, workers=0, progress=False)
    assert np.array_equal(np.concatenate([r["y"] for r in out]), EXPECTED)


def test_map_blocks_on_a_dask_scheduler(dask_address):
    out = map_blocks(square_plus, BLOCKS, common=COMMON, scheduler=dask_address, progress=False)
    assert np.array_equal(np.concatenate([r["y"] for r in out]), EXPECTED)


def fail_on_block_one(block, **_):
    if 4 in block:
        raise RuntimeError("boom")
    return {"y": np.asarray(block)}


def test_task_error_propagates_and_keeps_finished_parts(tmp_path, dask_address):
    with pytest.raises(RuntimeError, match="boom"):
        run_blocks(fail_on_block_one, BLOCKS, tmp_path, scheduler=dask_address, progress=False)
    assert 1 not in finished_blocks(tmp_path)


def test_bad_cluster_options():
    with pytest.raises(InputError, match="workers"):
        with dask_client(workers=-1):
            pass
    with pytest.raises(InputError, match="scheduler"):
        with dask_client(scheduler="foo://127.0.0.1:1"):
            pass
