"""FEM homogenization benchmark: time per bulk-modulus solve *including the gradient*.

    python benchmarks/fem.py [--quick] [--device cpu|cuda] [--threads N] [--tables main warm reference scaling] [--dims 2 3]

Fields are realistic two-phase particle microstructures (matdesign.microstructure.generate):
"stiff" = SiC particles (E 466 GPa, ν 0.21) in polycarbonate (2.4, 0.37), contrast ~200;
"rubber" = steel particles (205, 0.29) in polyurethane elastomer (0.016, 0.49), contrast ~1e4 with a
near-incompressible matrix (the hardest case for the iterative solver). Prints markdown tables.

The "reference" table times one sparse direct solve (matdesign's SciPy SuperLU backend, solver="scipy",
on the CPU) against the default solver and reports how far their K differ. The independent check of
the FEM itself (scikit-fem's own assembly, quadrature and stress average) is a test:
tests/test_fem_reference.py.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from matdesign import provenance
from matdesign.fem import Homogenizer, bulk_modulus
from matdesign.materials import Material
from matdesign.microstructure import generate

CASES = {
    "stiff": (Material("polycarbonate", 2.4, 0.37, 1.2), Material("SiC", 466.0, 0.21, 3.21)),
    "rubber": (Material("PU elastomer", 0.016, 0.49, 1.1), Material("steel", 205.0, 0.29, 7.9)),
}


def fields(case: str, dim: int, n: int, batch: int, seed: int = 0):
    """E, ν arrays (batch, *grid) of random particle microstructures (vf 0.3)."""
    rng = np.random.default_rng(seed)
    matrix, particle = CASES[case]
    out = [generate(matrix, particle, diameter=0.25 if dim == 2 else 0.2, volume_fraction=0.3,
                    size=n, dim=dim, rng=rng).fields for _ in range(batch)]
    f = np.stack(out).astype(np.float64)
    return f[:, 0], f[:, 1]


def time_solve(hom: Homogenizer, E, nu, device, repeats: int):
    """Median seconds per sample of K + backward, and the median PCG iterations (or '-')."""
    Et = torch.tensor(E, device=device, requires_grad=True)
    nut = torch.tensor(nu, device=device, requires_grad=True)
    times, its = [], []
    for _ in range(repeats):
        _sync(device)
        tic = time.perf_counter()
        K = hom.bulk_modulus(Et, nut)
        K.sum().backward()
        _sync(device)
        times.append((time.perf_counter() - tic) / len(E))
        if hom.last_info["iterations"] is not None:
            its.append(float(np.median(hom.last_info["iterations"])))
    return statistics.median(times), (f"{statistics.median(its):.0f}" if its else "-")


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def reference_seconds(E, nu, dim):
    """Seconds of one sparse direct solve on the CPU (SciPy SuperLU, assembly and factorization
    included, no gradient) of the single sample E, ν (*grid), and its K."""
    tic = time.perf_counter()
    K = bulk_modulus(E[None], nu[None], dim=dim, solver="scipy")
    return time.perf_counter() - tic, float(K[0])


def main_table(args, device):
    print("\n### Time per solve incl. gradient (median, ms per sample)\n")
    print("| grid | case | batch | solver | ms/sample | PCG iterations |")
    print("|---|---|---|---|---|---|")
    setups = [(d, {2: 64, 3: 32}[d]) for d in args.dims]
    batches = [1, 8] if args.quick else [1, 50]
    for dim, n in setups:
        for case in ("stiff", "rubber"):
            for batch in batches:
                E, nu = fields(case, dim, n, batch)
                solvers = ["condense", "pcg", "scipy"] if dim == 2 else ["pcg"]
                if device != "cpu":
                    solvers = [s for s in solvers if s != "scipy"]
                for solver in solvers:
                    if solver == "scipy" and batch > 8:
                        continue
                    hom = Homogenizer(dim, n, device=device, solver=solver, warm_start=False)
                    hom.bulk_modulus(E[:1], nu[:1])  # warm-up (caches, allocator)
                    reps = 1 if (dim == 3 and batch > 1) else args.repeats
                    sec, its = time_solve(hom, E, nu, device, reps)
                    print(f"| {n}^{dim} | {case} | {batch} | {solver} | {sec * 1e3:.1f} | {its} |", flush=True)


def warm_table(args, device):
    setups = [(d, {2: 64, 3: 32}[d]) for d in args.dims]
    print("\n### Warm start (guidance-like: fields perturbed by 1e-3 between calls), PCG\n")
    print("| grid | case | cold iterations | warm iterations | warm ms/sample |")
    print("|---|---|---|---|---|")
    for dim, n in setups:
        for case in ("stiff", "rubber"):
            E, nu = fields(case, dim, n, 1)
            hom = Homogenizer(dim, n, device=device, solver="pcg")
            hom.bulk_modulus(E, nu)
            cold = int(hom.last_info["iterations"][0])
            rng = np.random.default_rng(1)
            E2 = E * (1 + 1e-3 * rng.standard_normal(E.shape))
            sec, its = time_solve(hom, E2, nu, device, 1)
            print(f"| {n}^{dim} | {case} | {cold} | {its} | {sec * 1e3:.1f} |", flush=True)


def reference_table(args, device):
    print("\n### Reference: SciPy sparse direct solve on the CPU (solver='scipy', one sample, no gradient)\n")
    print("| grid | reference s | matdesign auto (incl. gradient) s | speed-up | rel. diff K |")
    print("|---|---|---|---|---|")
    for dim, n in [(2, 64), (3, 16)]:
        E, nu = fields("stiff", dim, n, 1)
        ref_s, K_ref = reference_seconds(E[0], nu[0], dim)
        hom = Homogenizer(dim, n, device=device, warm_start=False)
        hom.bulk_modulus(E, nu)
        sec, _ = time_solve(hom, E, nu, device, args.repeats)
        K = float(hom.bulk_modulus(E, nu)[0])
        print(f"| {n}^{dim} | {ref_s:.3f} | {sec:.4f} | {ref_s / sec:.0f}x | {abs(K - K_ref) / K_ref:.1e} |",
              flush=True)


def scaling_table(args, device):
    print("\n### Scaling with the grid (stiff case, batch 1, incl. gradient)\n")
    print("| dim | n | dofs | solver | ms | PCG iterations |")
    print("|---|---|---|---|---|---|")
    grids = {2: [32, 64, 128] if args.quick else [32, 64, 128, 256], 3: [16, 32] if args.quick else [16, 32, 48, 64]}
    for dim, sizes in grids.items():
        for n in sizes:
            E, nu = fields("stiff", dim, n, 1)
            solvers = (["condense", "pcg"] if n <= 128 else ["pcg"]) if dim == 2 else ["pcg"]
            for solver in solvers:
                hom = Homogenizer(dim, n, device=device, solver=solver, warm_start=False)
                sec, its = time_solve(hom, E, nu, device, 1 if n >= 48 else args.repeats)
                print(f"| {dim} | {n} | {dim * (n - 1) ** dim} | {solver} | {sec * 1e3:.0f} | {its} |", flush=True)


def deflation_table(args, device):
    print("\n### PCG with and without the particle rigid-mode coarse space (batch 1 and 50, incl. gradient)\n")
    print("| grid | case | batch | deflation | ms/sample | PCG iterations (median) | particles found |")
    print("|---|---|---|---|---|---|---|")
    setups = [(d, {2: 64, 3: 32}[d]) for d in args.dims]
    for dim, n in setups:
        for case in ("stiff", "rubber"):
            for batch in ([1, 8] if args.quick else [1, 50]):
                E, nu = fields(case, dim, n, batch)
                for deflation in (False, True):
                    hom = Homogenizer(dim, n, device=device, solver="pcg", warm_start=False, deflation=deflation)
                    hom.bulk_modulus(E[:1], nu[:1])  # warm-up
                    sec, its = time_solve(hom, E, nu, device, 1 if batch > 1 else args.repeats)
                    found = hom.last_info.get("particles")
                    found = "-" if found is None else f"{float(np.median(found)):.0f}"
                    print(f"| {n}^{dim} | {case} | {batch} | {'yes' if deflation else 'no'} | {sec * 1e3:.1f} | {its} | "
                          f"{found} |", flush=True)


TABLES = {"main": main_table, "deflation": deflation_table, "warm": warm_table, "reference": reference_table, "scaling": scaling_table}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller batches and grids")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 3], choices=[2, 3], help="main/warm tables: dims")
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES), help="which tables to run")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    print(f"machine: {provenance.machine_line(device)}")
    for name in args.tables:
        TABLES[name](args, device)


if __name__ == "__main__":
    main()
