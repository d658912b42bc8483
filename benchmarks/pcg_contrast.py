"""Why PCG slows down for stiff particles in a soft matrix, and what the particle coarse space does.

    python benchmarks/pcg_contrast.py [--threads 1]

One 32³ steel-in-rubber field (benchmarks/fem.py "rubber", vf 0.3): PCG iterations (K, tol 1e-10) as
the matrix's E contrast and ν change, with and without the rigid-mode coarse space; then the smallest
eigenvalues of the V-cycle-preconditioned operator M⁻¹A (Ritz values from 120 PCG steps' Lanczos
coefficients, no coarse space), whose tail is the particles' near-rigid motions.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from fem import fields
from matdesign.fem import Homogenizer
from matdesign.fem.grid import VoxelGrid
from matdesign.fem.moduli import lame
from matdesign.fem.multigrid import MultigridPreconditioner


def iterations(E, nu, deflation: bool) -> int:
    hom = Homogenizer(3, 32, solver="pcg", warm_start=False, deflation=deflation)
    hom.bulk_modulus(E[None], nu[None])
    return int(hom.last_info["iterations"][0])


def ritz_values(E, nu, steps: int = 120) -> np.ndarray:
    """Eigenvalues of the Lanczos matrix of ``steps`` PCG steps on M⁻¹A (V-cycle M, no coarse space)."""
    g, g32 = VoxelGrid(3, 32), VoxelGrid(3, 32, dtype=torch.float32)
    lam, mu = lame(torch.tensor(E.reshape(1, -1)), torch.tensor(nu.reshape(1, -1)), 3)
    mg = MultigridPreconditioner(g32, lam.float(), mu.float())
    u_aff = g.affine(torch.eye(3, dtype=torch.float64)[None])[0]
    r = -g.apply_lame(u_aff * (1 - g.interior), lam, mu) * g.interior
    z = mg(r.float()).double()
    p, rz, alphas, betas = z, (r * z).sum(), [], []
    for _ in range(steps):
        Ap = g.apply_lame(p, lam, mu) * g.interior
        a = rz / (p * Ap).sum()
        r = r - a * Ap
        z = mg(r.float()).double()
        rz_new = (r * z).sum()
        b = rz_new / rz
        p, rz = z + b * p, rz_new
        alphas.append(float(a))
        betas.append(float(b))
    T = np.diag([1 / alphas[0]] + [1 / alphas[k] + betas[k - 1] / alphas[k - 1] for k in range(1, steps)])
    off = [np.sqrt(betas[k]) / alphas[k] for k in range(steps - 1)]
    return np.linalg.eigvalsh(T + np.diag(off, 1) + np.diag(off, -1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    torch.set_num_threads(ap.parse_args().threads)
    E, nu = (a[0] for a in fields("rubber", 3, 32, 1))
    soft = E < 1
    print("| matrix (steel particles 205 GPa, ν 0.29) | PCG iterations | with coarse space |")
    print("|---|---|---|")
    for label, E_m, nu_m in [("PU rubber E 0.016, ν 0.49 (contrast 1e4)", None, None),
                             ("E 0.016, ν 0.45", None, 0.45), ("E 0.016, ν 0.3", None, 0.3),
                             ("E 0.2, ν 0.49 (contrast 1e3)", 0.2, None), ("E 2, ν 0.49 (contrast 1e2)", 2.0, None)]:
        E2, nu2 = E.copy(), nu.copy()
        if E_m is not None:
            E2[soft] = E_m
        if nu_m is not None:
            nu2[soft] = nu_m
        print(f"| {label} | {iterations(E2, nu2, False)} | {iterations(E2, nu2, True)} |", flush=True)
    ev = ritz_values(E, nu)
    print(f"\nM⁻¹A Ritz values (120 steps, rubber): smallest {ev[0]:.1e}, {int((ev < 0.1).sum())} below 0.1, "
          f"{int((ev < 0.3).sum())} below 0.3, largest {ev[-1]:.3f}")


if __name__ == "__main__":
    main()
