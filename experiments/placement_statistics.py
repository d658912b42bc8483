"""Arrangement statistics of the paper's push-apart (walls) vs periodic RSA vs equilibrated placement
(docs/placement.md), on one design cell (L = 1), plus generate_rve times at L = 1..4 for the densest,
smallest-particle designs of the generator's ranges.

Per arrangement: near contacts (surface gap < 1 voxel), wall contacts (surface within half a voxel of
a face; paper only), a face-connected particle cluster spanning two opposite faces of the cell
(all), or wrapping around the torus (periodic only), the voxel volume fraction, and the placement time.

    python experiments/placement_statistics.py --arrangements 100 50
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from common import RowLog

from matdesign.errors import InputError
from matdesign.materials import Material
from matdesign.microstructure import generate_rve
from matdesign.microstructure.periodic import place_periodic, rounded_count
from matdesign.microstructure.placement import place_particles
from matdesign.microstructure.placement_stats import contact_stats, spans, wall_fraction, wraps
from matdesign.microstructure.rve import voxelize_periodic
from matdesign.microstructure.voxelize import voxelize

DESIGNS = {2: [(0.15, 0.1), (0.15, 0.5), (0.25, 0.3), (0.4, 0.5)], 3: [(0.2, 0.2), (0.3, 0.4)]}
SIZE = {2: 64, 3: 32}
MATRIX, PARTICLE = Material("epoxy", 3.5, 0.35, 1.2), Material("alumina", 370.0, 0.22, 3.95)


def arrangement(method, n, r, dim, rng):
    """(placement seconds, stats dict) of one arrangement on the unit cell."""
    tic = time.perf_counter()
    x = place_particles(n, r, dim, rng) if method == "paper" else place_periodic(n, r, dim, 1.0, rng, method)
    seconds = time.perf_counter() - tic
    periodic, voxel = method != "paper", 1.0 / SIZE[dim]
    mask = (voxelize_periodic if periodic else voxelize)(x, r, SIZE[dim])
    row = contact_stats(x, r, 1.0, voxel, periodic)
    row.update(wall=None if periodic else wall_fraction(x, r, 1.0, voxel / 2), spans=spans(mask),
               wraps=wraps(mask) if periodic else None, vf_voxels=float(mask.mean()))
    return seconds, row


def summary(rows, seconds):
    """Means over arrangements (None where undefined)."""
    out = {k: float(np.mean([r[k] for r in rows])) if rows[0][k] is not None else None for k in rows[0]}
    out["seconds"] = float(np.mean(seconds))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arrangements", type=int, nargs=2, default=[100, 50], help="per design in 2D, 3D")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/placement_statistics.json")
    args = ap.parse_args()
    log = RowLog(args.out, vars(args))
    rng = np.random.default_rng(args.seed)
    for dim, designs in DESIGNS.items():
        for d, vf in designs:
            n = rounded_count(vf, d / 2, dim, 1.0)
            for method in ("paper", "rsa", "equilibrated"):
                try:
                    runs = [arrangement(method, n, d / 2, dim, rng) for _ in range(args.arrangements[dim - 2])]
                except InputError as err:
                    log.add({"dim": dim, "diameter": d, "vf": vf, "n": n, "method": method, "error": str(err)})
                    continue
                stats = summary([r for _, r in runs], [s for s, _ in runs])
                log.add({"dim": dim, "diameter": d, "vf": vf, "n": n, "method": method,
                         "arrangements": len(runs), **stats})
    for dim, d, vf in ((2, 0.15, 0.5), (3, 0.15, 0.45)):
        for cells in (1, 2, 3, 4):
            tic = time.perf_counter()
            ms = generate_rve(MATRIX, PARTICLE, diameter=d, volume_fraction=vf, cells=cells, dim=dim,
                              size_per_cell=SIZE[dim], rng=rng)
            log.add({"timing": "generate_rve", "dim": dim, "diameter": d, "vf": vf, "cells": cells,
                     "n": ms.n_particles, "voxels": ms.size, "vf_voxels": ms.volume_fraction,
                     "seconds": time.perf_counter() - tic})


if __name__ == "__main__":
    main()
