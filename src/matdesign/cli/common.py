"""Checks and output handling shared by the commands that design (design, baseline bo/cfg, evaluate)."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Iterator

from matdesign.cli import checks, paths
from matdesign.errors import InputError
from matdesign.targets import parse_target_list

TARGET_PROPERTIES = ("K", "G", "E", "nu")
"""The design targets (the keys of :data:`matdesign.verification.PROPERTIES`, kept here to answer without importing it)."""
RANKS = ("robust", "error")
OBJECTIVES = ("absolute", "relative")
SEARCHES = ("both", "model", "physics")
MAX_VERIFY_N = 10_000


def pick_target(target: float | None, target_K: float | None, prop: str) -> float:
    """The one target given (--target of --property, or --target-K), checked."""
    if (target is None) == (target_K is None):
        raise InputError("give the target once: --target-K K* or --target X* (with --property)")
    if target_K is not None and prop != "K":
        raise InputError(f"--target-K is a bulk-modulus target; for --property {prop} use --target")
    if target_K is not None:
        return checks.target("K", target_K, "--target-K")
    return checks.target(prop, target, "--target")


def model_limits(model: Path | None, default: str) -> tuple[int, int]:
    """(voxels of the model's grid, its training noise levels); defaults when the config does not say."""
    meta = paths.model_meta(model, default)
    grid = meta.get("grid") or ([64, 64] if default.startswith("2d") else [32, 32, 32])
    steps = meta.get("config", {}).get("scheduler", {}).get("num_train_timesteps", 1000)
    return math.prod(int(g) for g in grid), int(steps)


def reachable(prop: str, dim: int, materials: Path | None = None) -> tuple[float, float]:
    """[min, max] of ``prop`` over the two-phase composites of the table (``materials`` or the built-in one):
    :func:`matdesign.pipeline.checks.reachable_range` without its imports (torch, the FEM); a test keeps the
    two equal."""
    import numpy as np

    from matdesign.materials import MaterialTable

    table = MaterialTable.from_csv(materials) if materials is not None else MaterialTable.builtin()
    E, nu = np.asarray(table.E, dtype=np.float64), np.asarray(table.nu, dtype=np.float64)
    if prop == "nu":
        return float(nu.min()), float(nu.max())
    K = E / (2.0 * (1.0 - nu)) if dim == 2 else E / (3.0 * (1.0 - 2.0 * nu))  # 2D: plane stress
    G = E / (2.0 * (1.0 + nu))
    if prop == "E":
        young = (lambda k, g: 4.0 * k * g / (k + g)) if dim == 2 else (lambda k, g: 9.0 * k * g / (3.0 * k + g))
        return float(young(K.min(), G.min())), float(young(K.max(), G.max()))
    x = K if prop == "K" else G
    return float(x.min()), float(x.max())


def check_reachable(prop: str, value: float, dim: int, option: str, materials: Path | None = None) -> float:
    """InputError unless the table's composites can reach ``value`` of ``prop`` in ``dim`` D."""
    lo, hi = reachable(prop, dim, materials)
    if not lo <= value <= hi:
        unit = "" if prop == "nu" else " GPa"
        table = f"the material table {materials}" if materials is not None else "the built-in material table"
        more = "" if materials is not None or option == "--targets" else " or pass --materials with other materials"
        raise InputError(f"{option} {value:g}: outside the range {table} can reach in {dim}D "
                         f"({lo:.3g}–{hi:.3g}{unit}); choose a target inside it{more}")
    return value


def check_sampling(model: Path | None, default: str, samples: int | None, steps: int | None,
                   samples_option: str = "--samples") -> None:
    """--samples and --steps against what the model and this machine allow."""
    voxels, levels = model_limits(model, default)
    checks.samples(samples, voxels, samples_option)
    checks.steps(steps, levels)


def check_design_options(*, target, target_K, prop, dim, samples, steps, materials, density_weight, objective,
                         step_clip, tolerance, rank, verify_n, definition, top, search, time_limit, model,
                         device, seed, out) -> tuple[float, Path | None]:
    """Every option of ``design``, before any heavy import: (the target, the model path)."""
    checks.choice("--property", prop, TARGET_PROPERTIES)
    chosen = pick_target(target, target_K, prop)
    checks.dim(dim)
    checks.choice("--objective", objective, OBJECTIVES)
    checks.choice("--rank", rank, RANKS)
    checks.choice("--definition", definition, checks.DEFINITIONS)
    checks.choice("--search", search, SEARCHES)
    checks.number("--density-weight", density_weight, low=0)
    checks.number("--step-clip", step_clip, low=0, low_open=True, allow_inf=True, hint="inf turns the clip off")
    checks.percent("--tolerance", tolerance, "1 for ±1 %" if prop != "nu" else "1 for ±0.01")
    checks.integer("--verify-n", verify_n, 1, MAX_VERIFY_N, "random arrangements per verification")
    checks.top(top)
    checks.time_limit(time_limit)
    checks.seed(seed)
    checks.device(device)
    model = paths.model(model, dim)
    check_sampling(model, f"{dim}d", samples, steps)
    paths.materials_csv(materials)
    check_reachable(prop, chosen, dim, "--target-K" if target_K is not None else "--target", materials)
    paths.output_folder("--out", out)
    return chosen, model


def check_targets(spec: str, data: Path | None, dim: int, definition: str = "cell",
                  materials: Path | None = None) -> None:
    """--targets: dataset (with a readable --data store of ``dim``), paper, or positive numbers K1,K2,… [GPa]
    that the composites of the table (``materials`` or the built-in one) reach (any positive number in the definition "paper": the release's uniaxial
    K is not bounded by the phases' bulk moduli, as in :func:`matdesign.evaluate.targets.resolve_targets`)."""
    spec = spec.strip()
    if spec == "dataset":
        if data is None:
            raise InputError("--targets dataset needs --data DIR (a dataset store with K labels)")
        from matdesign.data.store import read_meta

        store_dim = read_meta(paths.dataset("--data", data)).get("dim")
        if store_dim != dim:
            raise InputError(f"--data {data}: a {store_dim}D dataset, but --dim is {dim}")
    elif spec != "paper":
        values = parse_target_list(spec)
        for v in values:
            checks.target("K", v, "--targets")
            if definition != "paper":
                check_reachable("K", v, dim, "--targets", materials)


@contextlib.contextmanager
def run_staged(out: Path, *, kind: str, overwrite: bool) -> Iterator[tuple[Path, str]]:
    """(the partial folder to write into, the command line) of a run written as a unit into ``out``."""
    from matdesign.cli.invocation import invocation
    from matdesign.cli.rundir import staged

    command = invocation()
    with staged(out, kind=kind, command=command, overwrite=overwrite) as folder:
        yield folder, command
