"""Convergence of a design's K with RVE size, resolution and boundary condition (docs/physics.md).

For designs spanning low/high contrast and low/high volume fraction, the mean K over independent
random RVEs (equilibrated periodic placement, with and without a minimum matrix gap of 1/64 design
cell between particles) with periodic boundary conditions at L = 1..4 design cells per axis (64
voxels per design cell in 2D, 32 in 3D), at 32/64/128 voxels per design cell (2D, L = 1 and 2), and
with affine boundary conditions on periodic RVE fields and on the paper's walled cell. Each row: mean,
standard error, spread, seconds per RVE. Resumable: rows already in ``--out`` are kept and skipped.

    python experiments/rve_convergence.py --out docs/rve_convergence.json [--dim 2|3|both]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from common import RowLog
from matdesign.evaluate.verify import stochastic_round
from matdesign.fem import bulk_modulus
from matdesign.materials import MaterialTable
from matdesign.microstructure.placement import particle_volume
from matdesign.microstructure.rve import generate_rve

DESIGNS = {
    2: [("Fe (element)", "Ti-6Al-2Sn-4Zr-2Mo", 0.173, 0.367),  # low contrast, high vf
        ("Epoxy (cast unfilled)", "Alumina 99.5% (AD-995)", 0.3, 0.3),  # contrast 120
        ("Epoxy (cast unfilled)", "Alumina 99.5% (AD-995)", 0.2, 0.1),  # contrast 120, low vf
        ("Polycarbonate", "Silicon carbide (sintered alpha)", 0.2, 0.4),  # contrast 170, high vf
        ("Polyurethane elastomer", "AISI 1018 steel (cold drawn)", 0.25, 0.3)],  # contrast 1e4
    3: [("Epoxy (cast unfilled)", "Alumina 99.5% (AD-995)", 0.3, 0.3),
        ("Polycarbonate", "Silicon carbide (sintered alpha)", 0.2, 0.4)],
}
GAP = 1 / 64
"""The composite definition's smallest matrix gap between particles in 2D [design cells]."""
# (bc, placement, L, voxels per design cell, RVEs, gap [design cells])
CASES = {
    2: [("periodic", "equilibrated", 1, 64, 64, 0.0), ("periodic", "equilibrated", 2, 64, 24, 0.0),
        ("periodic", "equilibrated", 3, 64, 12, 0.0), ("periodic", "equilibrated", 4, 64, 6, 0.0),
        ("periodic", "equilibrated", 2, 32, 24, 0.0), ("periodic", "equilibrated", 2, 128, 6, 0.0),
        ("periodic", "equilibrated", 1, 32, 64, 0.0), ("periodic", "equilibrated", 1, 128, 16, 0.0),
        ("affine", "equilibrated", 1, 64, 64, 0.0), ("affine", "equilibrated", 2, 64, 24, 0.0),
        ("affine", "paper", 1, 64, 64, 0.0),
        ("periodic", "equilibrated", 1, 64, 64, GAP), ("periodic", "equilibrated", 2, 64, 24, GAP),
        ("periodic", "equilibrated", 3, 64, 12, GAP), ("periodic", "equilibrated", 4, 64, 6, GAP),
        ("periodic", "equilibrated", 2, 32, 24, GAP), ("periodic", "equilibrated", 2, 128, 8, GAP),
        ("periodic", "equilibrated", 2, 256, 3, GAP)],
    3: [("periodic", "equilibrated", 1, 32, 16, 0.0), ("periodic", "equilibrated", 2, 32, 3, 0.0),
        ("periodic", "equilibrated", 1, 16, 16, 0.0), ("periodic", "equilibrated", 2, 16, 8, 0.0),
        ("affine", "paper", 1, 32, 16, 0.0)],
}


def rve_bulk(matrix, particle, d, vf, *, dim, bc, placement, cells, res, n, gap, seed):
    """K of ``n`` independent RVEs (stochastically rounded particle counts) and the seconds per RVE."""
    rng = np.random.default_rng(seed)
    expected = vf * cells**dim / particle_volume(d / 2, dim)
    values, tic = [], time.perf_counter()
    for _ in range(n):
        m = generate_rve(matrix, particle, diameter=d, volume_fraction=vf, cells=cells, size_per_cell=res,
                         dim=dim, rng=rng, placement=placement, n_particles=stochastic_round(expected, rng),
                         min_gap=gap)
        values.append(float(bulk_modulus(m.fields[0].astype(float), m.fields[1].astype(float), dim=dim, bc=bc)))
    return np.array(values), (time.perf_counter() - tic) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/rve_convergence.json")
    ap.add_argument("--dim", choices=["2", "3", "both"], default="both")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    table = MaterialTable.builtin()
    log = RowLog(args.out, {"seed": args.seed, "cases": CASES, "designs": DESIGNS})
    done = set()
    if Path(args.out).exists():
        log.rows = json.loads(Path(args.out).read_text())["rows"]
        done = {(r["dim"], r["design"], r["bc"], r["placement"], r["cells"], r["res"], r.get("gap", 0.0))
                for r in log.rows}
    for dim in (2, 3) if args.dim == "both" else (int(args.dim),):
        for k, (mat, par, d, vf) in enumerate(DESIGNS[dim]):
            matrix, particle = table[table.index(mat)], table[table.index(par)]
            for bc, placement, cells, res, n, gap in CASES[dim]:
                key = (dim, k, bc, placement, cells, res, gap)
                if key in done:
                    continue
                x, sec = rve_bulk(matrix, particle, d, vf, dim=dim, bc=bc, placement=placement, cells=cells,
                                  res=res, n=n, gap=gap, seed=[args.seed, dim, k, cells, res])
                log.add({"dim": dim, "design": k, "matrix": mat, "particle": par, "diameter": d, "vf": vf,
                         "bc": bc, "placement": placement, "cells": cells, "res": res, "n": n, "gap": gap,
                         "mean": float(x.mean()), "sem": float(x.std(ddof=1) / math.sqrt(n)),
                         "std": float(x.std(ddof=1)), "seconds_per_rve": sec})


if __name__ == "__main__":
    main()
