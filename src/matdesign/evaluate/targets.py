"""The targets of an evaluation: the paper's five, a dataset's five, or a list."""

from __future__ import annotations

import math

from matdesign.errors import InputError
from matdesign.materials import MaterialTable
from matdesign.pipeline.checks import check_target, reachable_range
from matdesign.targets import parse_target_list
from matdesign.verification.definition import get_definition

#: The paper's five evaluation targets K* [GPa] (Table 1; its own 2D K convention, see docs/physics.md).
PAPER_TARGETS = {2: (4.8, 86.6, 168.5, 250.4, 332.2), 3: (0.9, 83.3, 165.6, 248.0, 330.3)}


def resolve_targets(spec: str, dim: int, *, data=None, table: MaterialTable | None = None, definition: str = "cell"):
    """Targets K* [GPa] from ``spec``: "paper", "dataset" (five targets of the store ``data``) or "K1,K2,…".

    Returns (targets, skipped): a preset's targets outside the range the material table can reach are
    skipped (list of {"target", "reason"}); an explicit list with such a target is an InputError. In the
    ``definition`` "paper" (the release's uniaxial K, which is not bounded by the phases' bulk moduli) the
    range is not checked: the paper's preset targets are in that definition (2D 332.2 GPa is above our
    table's stiffest plane-stress K, 295 GPa, but below its stiffest E/(3(1−2ν)), 387 GPa).
    """
    table = table or MaterialTable.builtin()
    spec = spec.strip()
    unbounded = get_definition(definition).fem == "paper"
    if spec == "paper":
        preset = list(PAPER_TARGETS[dim])
    elif spec == "dataset":
        if data is None:
            raise InputError("--targets dataset needs --data DIR (a dataset store with K labels)")
        from matdesign.data import dataset_targets, read_meta

        if read_meta(data)["dim"] != dim:
            raise InputError(f"{data} is a {read_meta(data)['dim']}D dataset, --dim is {dim}")
        preset = [float(t) for t in dataset_targets(data)]
    else:
        values = parse_target_list(spec)
        if unbounded:
            bad = [v for v in values if not (math.isfinite(v) and v > 0)]
            if bad:
                raise InputError(f"target K*={bad[0]}: must be a positive number of GPa")
            return values, []
        return [check_target(v, table, dim) for v in values], []
    if unbounded:
        return preset, []
    lo, hi = reachable_range(table, dim)
    keep = [t for t in preset if lo <= t <= hi]
    skipped = [{"target": t, "reason": f"outside the range the material table reaches in {dim}D "
                                       f"({lo:.3g}–{hi:.3g} GPa)"} for t in preset if t not in keep]
    if not keep:
        raise InputError(f"--targets {spec}: no target inside the reachable range {lo:.3g}–{hi:.3g} GPa")
    return keep, skipped
