"""Option checks of the command line, run before any heavy import or computation.

Each check raises :class:`InputError` with a message that names the option, the value, the rule and,
for size limits, the reason. Nothing here imports torch, so a bad command answers in well under a second.
"""

from __future__ import annotations

import math
import os
import re

from matdesign.errors import InputError

SEED_LIMIT = 2**32
"""Seeds are unsigned 32-bit integers (numpy and torch generators accept them all)."""
DEFINITIONS = ("composite", "composite-fine", "cell", "paper")
"""The K definitions (``matdesign.verification.definition.DEFINITIONS``, kept here to answer without importing it)."""
SAMPLE_BYTES_PER_VOXEL = 7_500
"""Memory of one guided sample per voxel of its grid: measured ≈ 30 MB per 64² sample (peak RSS of
``design --samples 1`` vs ``--samples 4``, 2D); used for 3D too (an estimate)."""
FEM_BYTES_PER_VOXEL = {2: 3_000, 3: 12_000}
"""Working memory of one FEM label per voxel (an upper estimate of the multigrid solver's arrays)."""
BASE_BYTES = 1 << 30
"""Memory taken by the program before the first sample (imports, model, FEM set-up): ≈ 0.7 GB, rounded up."""
MAX_TOP = 100
MAX_WORKERS_PER_CORE = 4


def memory_bytes() -> int:
    """Physical memory of this machine in bytes (8 GiB when the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return 8 << 30


def _gb(n: float) -> str:
    return f"{n / 2**30:.3g} GB"


def integer(option: str, value: int | None, low: int, high: int | None = None, why: str = "") -> int | None:
    """``value`` (None passes) if ``low ≤ value ≤ high``; else InputError naming the range and ``why``."""
    if value is None:
        return None
    if value < low or (high is not None and value > high):
        rule = f"must be between {low} and {high}" if high is not None else f"must be ≥ {low}"
        raise InputError(f"{option} {value}: {rule}" + (f" ({why})" if why else ""))
    return value


def number(option: str, value: float | None, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, allow_inf: bool = False, hint: str = "") -> float | None:
    """``value`` (None passes) if finite (or +inf with ``allow_inf``) and within [low, high] (low open
    with ``low_open``); else InputError."""
    if value is None:
        return None
    bad = math.isnan(value) or (math.isinf(value) and not (allow_inf and value > 0))
    if low is not None and (value < low or (low_open and value == low)):
        bad = True
    if high is not None and value > high:
        bad = True
    if bad:
        if low is not None and high is not None:
            rule = f"must lie in {'(' if low_open else '['}{low:g}, {high:g}]"
        elif low is not None:
            rule = f"must be {'>' if low_open else '≥'} {low:g}"
        else:
            rule = "must be a finite number"
        raise InputError(f"{option} {value:g}: {rule}" + (f"; {hint}" if hint else ""))
    return value


def percent(option: str, value: float, example: str) -> float:
    """A tolerance given in percent: in (0, 100); the message speaks percent, not fractions."""
    if not (math.isfinite(value) and 0 < value < 100):
        raise InputError(f"{option} {value:g}: must be a percentage in (0, 100), e.g. {example}")
    return value


def seed(value: int, option: str = "--seed") -> int:
    """A random seed in [0, 2**32)."""
    if not 0 <= value < SEED_LIMIT:
        raise InputError(f"{option} {value}: must be an integer in [0, 2**32) = [0, {SEED_LIMIT - 1}]")
    return value


def choice(option: str, value: str | None, choices) -> str | None:
    """``value`` (None passes) if it is one of ``choices``; else InputError listing them."""
    if value is not None and value not in choices:
        raise InputError(f"{option} {value!r}: must be one of {', '.join(choices)}")
    return value


def dim(value: int) -> int:
    if value not in (2, 3):
        raise InputError(f"--dim {value}: must be 2 or 3")
    return value


def top(value: int) -> int:
    return integer("--top", value, 1, MAX_TOP, "the number of designs to find and show")


def workers(value: int | None, option: str = "--workers") -> int | None:
    cores = os.cpu_count() or 1
    return integer(option, value, 0, MAX_WORKERS_PER_CORE * cores,
                   f"this machine has {cores} cores; more than {MAX_WORKERS_PER_CORE} processes per core only add overhead")


def time_limit(value: float | None, option: str = "--time-limit") -> float | None:
    return number(option, value, low=0, low_open=True, hint="seconds of wall time")


def samples(value: int | None, grid_voxels: int, option: str = "--samples") -> int | None:
    """A number of samples drawn as one batch: at least 1, at most what this machine's memory holds."""
    per = SAMPLE_BYTES_PER_VOXEL * grid_voxels
    mem = memory_bytes()
    most = max(1, (mem - BASE_BYTES) // per)
    return integer(option, value, 1, most,
                   f"the samples are drawn as one batch of ≈ {per / 2**20:.0f} MB each; this machine has {_gb(mem)}")


def steps(value: int | None, train_timesteps: int = 1000, option: str = "--steps") -> int | None:
    """DDIM steps: 1 … the model's training time steps (a DDIM step cannot be finer than one of them)."""
    return integer(option, value, 1, train_timesteps,
                   f"the model was trained on {train_timesteps} noise levels; DDIM takes at most one step per level")


def grid_size(value: int, dim_: int, option: str = "--size", per_item: int = 1) -> int:
    """Voxels per axis of a FEM grid: 4 … what this machine's memory holds for ``per_item`` grids at once."""
    mem = memory_bytes()
    per_voxel = FEM_BYTES_PER_VOXEL[dim_] * per_item
    most = int(((mem - BASE_BYTES) / per_voxel) ** (1 / dim_)) if mem > BASE_BYTES else 4
    return integer(option, value, 4, max(4, most),
                   f"a {dim_}D FEM solve needs ≈ {FEM_BYTES_PER_VOXEL[dim_] / 1000:g} kB per voxel; "
                   f"this machine has {_gb(mem)}")


_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


def device(value: str, option: str = "--device") -> str:
    """'cpu', 'cuda' or 'cuda:N'; a CUDA device only where a GPU and its driver are present."""
    if not _DEVICE.match(value or ""):
        raise InputError(f"{option} {value!r}: must be cpu, cuda or cuda:N")
    if value.startswith("cuda") and not _cuda_available():
        raise InputError(f"{option} {value}: no CUDA GPU is available on this machine; use --device cpu")
    return value


def _cuda_available() -> bool:
    """Whether a CUDA driver reports a GPU (asked through the driver library first, to avoid importing torch)."""
    import ctypes

    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    count = ctypes.c_int(0)
    if lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value < 1:
        return False
    import torch

    return torch.cuda.is_available()


_ADDRESS = re.compile(r"^(tcp|tls|ucx|ws|wss)://[^\s/:]+:\d{1,5}/?$")


def scheduler(value: str | None) -> str | None:
    """A Dask scheduler address such as tcp://host:8786."""
    if value is not None and not _ADDRESS.match(value):
        raise InputError(f"--scheduler {value!r}: must be an address like tcp://host:8786")
    return value


def parallel_resume(workers_: int | None, scheduler_: str | None, resume: bool, overwrite: bool) -> None:
    """The options of a resumable parallel job: --workers or --scheduler (not both), --resume or --overwrite
    (not both)."""
    if workers_ is not None and scheduler_ is not None:
        raise InputError("pass either --workers or --scheduler, not both")
    if resume and overwrite:
        raise InputError("--resume and --overwrite exclude each other; pass one")
    workers(workers_)
    scheduler(scheduler_)


def target(prop: str, value: float, option: str) -> float:
    """A design target: a positive modulus [GPa], or a Poisson ratio in (-1, 0.5)."""
    if prop == "nu":
        if not (math.isfinite(value) and -1 < value < 0.5):
            raise InputError(f"{option} {value:g}: a Poisson ratio target must lie in (-1, 0.5)")
    elif not (math.isfinite(value) and value > 0):
        raise InputError(f"{option} {value:g}: the target modulus must be a positive number of GPa")
    return value
