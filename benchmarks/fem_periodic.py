"""Periodic vs affine homogenization: time of one bulk-modulus solve *with its gradient* (batch 1).

    python benchmarks/fem_periodic.py [--device cpu|cuda] [--threads N] [--repeats 3] [--big]

Through the public :class:`matdesign.fem.Homogenizer` (``bulk_with_gradient``), tol 1e-10, float64.
2D: exact condensation (the default up to 256² periodic / 128² affine) and PCG; 3D: PCG (affine with
the particle coarse space, periodic without). Fields: periodic RVEs of random disks/spheres
(``generate_rve``, equilibrated placement, vf 0.3), "stiff" = alumina (370 GPa, ν 0.22) in steel
(205, 0.29), "rubber" = steel in a soft polymer (0.2, 0.45), contrast ~1e3. Grids 64², 128², 192²,
32³ (``--big``: 256², 64³). Prints a markdown table: median ms over ``--repeats`` after one warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from matdesign import provenance
from matdesign.fem import Homogenizer
from matdesign.materials import Material
from matdesign.microstructure import generate_rve

CASES = {
    "stiff": (Material("steel", 205.0, 0.29, 7.9), Material("alumina", 370.0, 0.22, 3.95)),
    "rubber": (Material("soft polymer", 0.2, 0.45, 1.1), Material("steel", 205.0, 0.29, 7.9)),
}


def field(case: str, dim: int, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """E [GPa], ν (1, *grid) float64 of one periodic RVE at 64 (2D) or 32 (3D) voxels per design cell."""
    matrix, particle = CASES[case]
    cells = max(1, n // (64 if dim == 2 else 32))
    ms = generate_rve(matrix, particle, diameter=0.25 if dim == 2 else 0.2, volume_fraction=0.3, cells=cells,
                      size_per_cell=n // cells, dim=dim, rng=np.random.default_rng(seed))
    f = torch.as_tensor(ms.fields.astype(np.float64))
    return f[0][None], f[1][None]


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(hom: Homogenizer, E, nu, repeats: int) -> tuple[float, float, dict]:
    """(median ms, K, last_info) of ``hom.bulk_with_gradient`` after one warm-up call."""
    hom.bulk_with_gradient(E, nu)
    times = []
    for _ in range(repeats):
        _sync(hom.grid.device)
        tic = time.perf_counter()
        K = hom.bulk_with_gradient(E, nu)[0]
        _sync(hom.grid.device)
        times.append(1e3 * (time.perf_counter() - tic))
    return statistics.median(times), float(K[0]), hom.last_info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--big", action="store_true", help="also 256² and 64³")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = args.device
    print(f"machine: {provenance.machine_line(dev)}")
    print("\n| grid | case | bc | solver | ms (K + gradient) | PCG iterations | K [GPa] |")
    print("|---|---|---|---|---|---|---|")
    setups = [(2, 64), (2, 128), (2, 192)] + ([(2, 256)] if args.big else []) + [(3, 32)] + (
        [(3, 64)] if args.big else [])
    for dim, n in setups:
        solvers = ["condense", "pcg"] if dim == 2 else ["pcg"]
        for case in CASES:
            E, nu = (x.to(dev) for x in field(case, dim, n))
            for solver in solvers:
                for bc in ("affine", "periodic"):
                    hom = Homogenizer(dim, n, device=dev, solver=solver, bc=bc, warm_start=False)
                    ms, K, info = timed(hom, E, nu, args.repeats)
                    its = "" if info["iterations"] is None else int(info["iterations"][0])
                    print(f"| {n}^{dim} | {case} | {bc} | {solver} | {ms:.1f} | {its} | {K:.4g} |", flush=True)


if __name__ == "__main__":
    main()
