"""Convergence of a design's K with RVE size, resolution and boundary condition (docs/physics.md).

For designs spanning low/high contrast and low/high volume fraction, the mean K over independent
random RVEs (equilibrated periodic placement, with and without a minimum matrix gap of 1/64 design
cell between particles) with periodic boundary conditions at L = 1..4 design cells per axis (64
voxels per design cell in 2D, 32 in 3D), at 32/64/128 voxels per design cell (2D, L = 1 and 2), and
with affine boundary conditions on periodic RVE fields and on the paper's walled cell. Each row: mean,
standard error, spread, seconds per RVE. Resumable: rows already in ``--out`` are kept and skipped.

    python experiments/rve_convergence.py --out docs/rve_convergence.json [--dim 2|3|both]
    python experiments/rve_convergence.py --out docs/rve_convergence.json --plot docs/rve_convergence.png
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from common import RowLog
from matdesign.verification.verify import stochastic_round
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
        ("affine", "paper", 1, 32, 16, 0.0), ("periodic", "equilibrated", 1, 64, 3, 0.0)],
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


def plot(rows: list[dict], path: str) -> None:
    """2D: K / K(L = 4, gap) against the RVE size L and against voxels per design cell (L = 2), per design."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rows = [r for r in rows if r["dim"] == 2 and r["bc"] == "periodic"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for k in sorted({r["design"] for r in rows}):
        mine = [r for r in rows if r["design"] == k]
        ref = next((r["mean"] for r in mine if r["cells"] == 4 and r["res"] == 64 and r.get("gap", 0) > 0), None)
        if ref is None:
            continue
        label = f"{mine[0]['matrix'].split(' (')[0]} / {mine[0]['particle'].split(' (')[0]}, vf {mine[0]['vf']}"
        for ax, key, fixed in ((axes[0], "cells", ("res", 64)), (axes[1], "res", ("cells", 2))):
            for gap, style in ((GAP, "-o"), (0.0, ":x")):
                pts = sorted((r[key], r["mean"] / ref, r["sem"] / ref) for r in mine
                             if r[fixed[0]] == fixed[1] and r.get("gap", 0.0) == gap)
                if pts:
                    x, y, e = zip(*pts)
                    ax.errorbar(x, y, yerr=e, fmt=style, color=f"C{k}", capsize=2,
                                label=label if gap else None)
    axes[0].set(xlabel="RVE size L [design cells] (64 voxels per cell)", ylabel="K / K(L = 4, gap)",
                xticks=[1, 2, 3, 4])
    axes[1].set_xscale("log", base=2)
    axes[1].xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axes[1].set(xlabel="voxels per design cell (L = 2)", ylabel="K / K(L = 4, 64 voxels, gap)",
                xticks=[32, 64, 128, 256], xticklabels=["32", "64", "128", "256"])
    for ax in axes:
        ax.axhspan(0.995, 1.005, color="0.9")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    axes[1].set_title("solid: min gap 1/64 cell (composite); dotted: no gap", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/rve_convergence.json")
    ap.add_argument("--dim", choices=["2", "3", "both"], default="both")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", help="only draw the 2D convergence figure from --out into this PNG")
    args = ap.parse_args()
    if args.plot:
        plot(json.loads(Path(args.out).read_text())["rows"], args.plot)
        return
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
