"""matdesign.provenance (the one place that records package versions and the machine) and the shared argument
checks of matdesign.validate."""

import subprocess
import sys

import pytest
import torch

from matdesign import provenance
from matdesign.errors import InputError
from matdesign.validate import check_device, check_dim, check_integers


def test_versions_keep_the_keys_results_and_datasets_record():
    v = provenance.versions()
    # results.json (design, baselines) and dataset metadata recorded these before provenance existed
    assert {"matdesign", "python", "torch", "numpy", "scipy", "diffusers", "h5py", "dask", "distributed"} <= set(v)
    import matdesign
    import numpy

    assert v["matdesign"] == matdesign.__version__ and v["numpy"] == numpy.__version__
    assert v["torch"] == torch.__version__
    assert provenance.version("no_such_package_here") is None


def test_machine_has_the_union_of_what_experiments_record():
    m = provenance.machine("cpu")
    assert {"cpu", "processor", "cores", "platform", "torch_threads", "OMP_NUM_THREADS", "load_average", "gpu"} <= set(m)
    assert m["cores"] >= 1 and m["torch_threads"] == torch.get_num_threads() and m["cpu"]
    line = provenance.machine_line("cpu")
    assert f"torch {torch.__version__}" in line and line.endswith("device cpu")


def test_importing_provenance_imports_nothing_heavy():
    code = "import sys, matdesign.provenance; print(any(m in sys.modules for m in ('torch', 'numpy', 'scipy')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


@pytest.mark.parametrize("values, message", [
    (dict(size=1), "size=1: must be an integer >= 2"),
    (dict(size=True), "size=True: must be an integer >= 2"),
    (dict(size=8.0), "size=8.0: must be an integer >= 2"),
])
def test_check_integers_names_the_argument(values, message):
    with pytest.raises(InputError, match=message):
        check_integers(low=2, **values)
    check_integers(low=2, a=2, b=__import__("numpy").int64(5))


def test_check_dim_and_device():
    assert check_dim(3) == 3
    with pytest.raises(InputError, match="dim=4: must be 2 or 3"):
        check_dim(4)
    assert check_device("cpu") == "cpu" and check_device(torch.device("cpu")) == "cpu"
    with pytest.raises(InputError, match="device='tpu': must be 'cpu', 'cuda' or 'cuda:N'"):
        check_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="device='cuda:0': no CUDA GPU"):
            check_device("cuda:0")
    else:
        with pytest.raises(InputError, match="device='cuda:99': this machine has"):
            check_device("cuda:99")
