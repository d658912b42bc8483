"""Check the designs of ``matdesign design`` runs on larger periodic samples than the product uses.

For each run folder (results.json + results.csv of ``matdesign design``), every shown design (top
``--top``) is re-verified on ``--n`` fresh periodic RVEs of ``--cells`` design cells (default 4: 16 times
the area of the product's 2×2 RVE in 2D), and the gap between the paper's cell K and the composite K
is summarised over all designs of the run; ``--voxels`` also refines the grid. Writes one JSON row per
design (resumable).

    python experiments/check_composite_designs.py RUN [RUN ...] --out docs/composite_check.json
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from common import RowLog
from matdesign.verification import verify
from matdesign.verification.definition import get_definition
from matdesign.materials import MaterialTable
from matdesign.microstructure import Design


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="output folders of matdesign design")
    ap.add_argument("--out", default="docs/composite_check.json")
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--cells", type=int, default=4)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--voxels", type=int, default=None, help="voxels per design cell (default: the run's)")
    args = ap.parse_args()
    table = MaterialTable.builtin()
    log = RowLog(args.out, {"cells": args.cells, "n": args.n, "top": args.top, "voxels": args.voxels})
    if Path(args.out).exists():
        log.rows = json.loads(Path(args.out).read_text())["rows"]
    done = {(r["run"], r["rank"]) for r in log.rows}
    for run in args.runs:
        res = json.loads((Path(run) / "results.json").read_text())
        rows = list(csv.DictReader(open(Path(run) / "results.csv")))
        s = res["settings"]
        dim, target, tol = s["dim"], res["target_K"], s["tolerance"]
        base = get_definition(s["definition"])
        voxels = {**base.voxels, dim: args.voxels} if args.voxels else base.voxels
        big = replace(base, name=f"{base.name}-L{args.cells}", cells={**base.cells, dim: args.cells}, voxels=voxels)
        gaps = [float(r["K_cell"]) / float(r["K"]) - 1 for r in rows if r["K"] not in ("", "nan")]
        for r in rows[: args.top]:
            if (run, int(r["rank"])) in done:
                continue
            d = Design(table[table.index(r["matrix"])], table[table.index(r["particle"])], float(r["diameter"]),
                       float(r["volume_fraction"]))
            v = verify(d, size=64 if dim == 2 else 32, dim=dim, n=args.n,
                       rng=np.random.default_rng([7, int(r["rank"])]), definition=big)
            log.add({"run": run, "target_K": target, "rank": int(r["rank"]), "matrix": r["matrix"],
                     "particle": r["particle"], "K_printed": float(r["K"]), "K_cell": float(r["K_cell"]),
                     "K_large": v.mean, "K_large_sem": v.sem, "error_large": v.mean / target - 1,
                     "within_tolerance_printed": r["within_tolerance"] == "True",
                     "within_tolerance_large": abs(v.mean / target - 1) <= tol,
                     "cell_minus_composite_median": float(np.median(gaps)),
                     "cell_minus_composite_max": float(np.max(np.abs(gaps)))})


if __name__ == "__main__":
    main()
