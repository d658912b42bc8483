"""Periodic homogenization benchmark: time per bulk-modulus solve *including the gradient* (batch 1).

    python benchmarks/fem_periodic.py [--device cpu|cuda] [--threads N] [--repeats 3] [--big]

Matrix-free PCG with the periodic multigrid V-cycle (matdesign.fem.periodic_pcg), tol 1e-10, float64
CG. Fields: random disk/sphere microstructures (matdesign.microstructure.generate, vf 0.3):
"stiff" = alumina particles (E 370 GPa, ν 0.22) in steel (205, 0.29), contrast ~2;
"rubber" = steel particles (205, 0.29) in a soft polymer (0.2, 0.45), contrast ~1e3.
Grids 64², 128², 192², 32³ (``--big``: also 64³). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch

from matdesign.fem.moduli import lame, lame_derivatives
from matdesign.fem.periodic_grid import PeriodicVoxelGrid
from matdesign.fem.periodic_pcg import PeriodicPCGBackend
from matdesign.materials import Material
from matdesign.microstructure import generate

CASES = {
    "stiff": (Material("steel", 205.0, 0.29, 7.9), Material("alumina", 370.0, 0.22, 3.95)),
    "rubber": (Material("soft polymer", 0.2, 0.45, 1.1), Material("steel", 205.0, 0.29, 7.9)),
}


def field(case: str, dim: int, n: int, seed: int = 0):
    """E [GPa], ν of one random particle microstructure, each (n**dim,) float64."""
    matrix, particle = CASES[case]
    f = generate(matrix, particle, diameter=0.25 if dim == 2 else 0.2, volume_fraction=0.3, size=n, dim=dim,
                 rng=np.random.default_rng(seed)).fields.astype(np.float64)
    return f[0].reshape(-1), f[1].reshape(-1)


def bulk_with_gradient(backend: PeriodicPCGBackend, E: torch.Tensor, nu: torch.Tensor):
    """K [GPa] (B,), dK/dE, dK/dν (B, n_el) and the PCG info for E, ν (B, n_el) (energy form, ε = I)."""
    g = backend.grid
    lam, mu = lame(E, nu, g.dim)
    ue, info, _ = backend.solve(lam, mu, g.element_affine(torch.eye(g.dim, dtype=torch.float64)[None]))
    ue = ue[:, 0]
    y = torch.matmul(g.K_stack, ue)
    w_lam, w_mu = 0.5 * (ue * y[:, : g.ne]).sum(1), 0.5 * (ue * y[:, g.ne :]).sum(1)
    scale = 2.0 / g.dim**2
    dl_dE, dl_dnu, dm_dE, dm_dnu = lame_derivatives(E, nu, g.dim)
    K = scale * (lam * w_lam + mu * w_mu).sum(1)
    return K, scale * (w_lam * dl_dE + w_mu * dm_dE), scale * (w_lam * dl_dnu + w_mu * dm_dnu), info


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--big", action="store_true", help="also 64³")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = args.device
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}, device {dev}"
          + (f" ({torch.cuda.get_device_name()})" if torch.device(dev).type == "cuda" else ""))
    print("\n### Periodic PCG, K + gradient, batch 1 (median ms, tol 1e-10)\n")
    print("| grid | case | contrast | ms | PCG iterations | MG levels | K [GPa] |")
    print("|---|---|---|---|---|---|---|")
    setups = [(2, 64), (2, 128), (2, 192), (3, 32)] + ([(3, 64)] if args.big else [])
    for dim, n in setups:
        backend = PeriodicPCGBackend(PeriodicVoxelGrid(dim, n, dev), tol=1e-10, maxiter=2000)
        for case in CASES:
            E, nu = (torch.tensor(a, device=dev)[None] for a in field(case, dim, n))
            bulk_with_gradient(backend, E, nu)  # warm-up
            times = []
            for _ in range(args.repeats):
                _sync(dev)
                tic = time.perf_counter()
                K, _, _, info = bulk_with_gradient(backend, E, nu)
                _sync(dev)
                times.append(time.perf_counter() - tic)
            contrast = float(E.max() / E.min())
            print(f"| {n}^{dim} | {case} | {contrast:.3g} | {statistics.median(times) * 1e3:.0f} | "
                  f"{int(info['iterations'].max())} | {info['levels']} | {float(K[0]):.4g} |", flush=True)


if __name__ == "__main__":
    main()
