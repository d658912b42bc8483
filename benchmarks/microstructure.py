"""Microstructure generation speed: designs from the paper's balanced sampling over the built-in
material table, 2D on 64² and 3D on 32³ grids.

    python benchmarks/microstructure.py            # 1,000 of each
    python benchmarks/microstructure.py --n 50     # quick check

A design whose particles cannot be placed (InputError after the capped restarts) is counted,
its time included, and replaced by a fresh draw, so every row reports --n microstructures.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from matdesign import provenance
from matdesign.errors import InputError
from matdesign.materials import MaterialTable
from matdesign.microstructure import generate, sample_design


def run(table, dim: int, size: int, n: int, seed: int) -> dict:
    """Generate ``n`` microstructures; timing covers sampling, placement and voxelization."""
    rng = np.random.default_rng(seed)
    particles, failed, times, vf_err = 0, 0, [], []
    start = time.perf_counter()
    while len(times) < n:
        t = time.perf_counter()
        design = sample_design(table, rng, dim)
        try:
            ms = generate(design.matrix, design.particle, diameter=design.diameter,
                          volume_fraction=design.volume_fraction, size=size, dim=dim, rng=rng)
        except InputError:
            failed += 1
            continue
        times.append(time.perf_counter() - t)
        particles += ms.n_particles
        vf_err.append(abs(ms.volume_fraction - design.volume_fraction))
    total = time.perf_counter() - start
    times = np.array(times)
    return dict(dim=dim, grid=f"{size}^{dim}", n=n, total=total, per=total / n, p50=np.median(times),
                p99=np.quantile(times, 0.99), worst=times.max(), particles=particles / n,
                rate=particles / total, failed=failed, vf_err=np.mean(vf_err), vf_err_max=np.max(vf_err))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="microstructures per dimension")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    table = MaterialTable.builtin()
    m = provenance.machine()
    print(f"machine: {m['cpu']}, {m['cores']} cores; numpy {provenance.version('numpy')}; "
          f"{len(table)} materials in {len(table.nonempty_chunks())} chunks; seed {args.seed}")
    print("| dim | grid | samples | total [s] | per sample [ms] | median / p99 / max [ms] "
          "| particles/sample | particles/s | infeasible draws | mean / max abs(vf_voxel − vf_sampled) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for dim, size in ((2, 64), (3, 32)):
        r = run(table, dim, size, args.n, args.seed)
        print(f"| {r['dim']} | {r['grid']} | {r['n']} | {r['total']:.2f} | {1e3 * r['per']:.2f} | "
              f"{1e3 * r['p50']:.2f} / {1e3 * r['p99']:.1f} / {1e3 * r['worst']:.0f} | "
              f"{r['particles']:.1f} | {r['rate']:.0f} | {r['failed']} | "
              f"{r['vf_err']:.4f} / {r['vf_err_max']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
