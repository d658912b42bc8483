"""What a result was made with: package versions and the machine, in one place.

Results, datasets, reports, experiments and benchmarks record these (``versions`` in results.json and
dataset metadata, ``machine`` in experiment JSON, the first line of a benchmark). Importing this module
is cheap: torch is imported inside :func:`machine` only, and versions come from the loaded modules or
the installed package metadata, without importing anything.
"""

from __future__ import annotations

import os
import platform
import sys

#: What :func:`versions` records besides matdesign and python: the record's key (the module name),
#: then the distribution (pip name) whose installed version stands in when the module is not loaded.
PACKAGES = {"torch": "torch", "numpy": "numpy", "scipy": "scipy", "diffusers": "diffusers", "h5py": "h5py",
            "dask": "dask", "distributed": "distributed"}


def version(module: str, distribution: str | None = None) -> str | None:
    """Version of ``module`` (e.g. "bayes_opt"): the loaded module's ``__version__`` (what this process runs),
    else the installed ``distribution``'s (pip name, default: the module name; e.g. "bayesian-optimization");
    None if it is not installed."""
    loaded = getattr(sys.modules.get(module), "__version__", None)
    if loaded is not None:
        return str(loaded)
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(distribution or module)
    except PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    """Versions of matdesign (the imported package), Python and the packages that shape results:
    torch, numpy, scipy, diffusers, h5py, dask, distributed (None for one that is not installed)."""
    import matdesign

    return {"matdesign": matdesign.__version__, "python": platform.python_version(),
            **{key: version(key, dist) for key, dist in PACKAGES.items()}}


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what :mod:`platform` knows of it."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine() or "unknown CPU"


def machine(device=None) -> dict:
    """The machine a run is on.

    ``cpu`` (model name), ``processor`` (:func:`platform.processor`, else the architecture), ``cores``
    (logical CPUs), ``platform`` (OS, kernel, libc: :func:`platform.platform`), ``torch_threads``,
    ``OMP_NUM_THREADS`` (the environment's, None if unset), ``load_average`` (1, 5, 15 min; None where the
    OS has none) and ``gpu``: the name of CUDA device ``device`` (default: the first), None without a GPU.
    """
    import torch

    gpu = None
    if torch.cuda.is_available():
        dev = torch.device(device) if device is not None else None
        gpu = torch.cuda.get_device_name(dev if dev is not None and dev.type == "cuda" else None)
    return {"cpu": cpu_model(), "processor": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "platform": platform.platform(), "torch_threads": torch.get_num_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None, "gpu": gpu}


def machine_line(device=None) -> str:
    """One line for a benchmark's header: CPU, cores, torch threads and version, and ``device`` (with its
    GPU's name when it is a CUDA device)."""
    m = machine(device)
    text = f"{m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads, torch {version('torch')}"
    if device is not None:
        cuda = str(device).startswith("cuda")
        text += f", device {device}" + (f" ({m['gpu']})" if cuda and m["gpu"] else "")
    return text
