"""Time to the composite K of one design: its periodic RVE ensemble until the standard error ≤ 0.25 %.

    python benchmarks/composite_k.py [--dim 2|3] [--threads N]

``matdesign.verification.verify(design, definition="composite", adaptive=True, rel_sem_tol=0.0025)``
(8 RVEs — fewer give an unreliable standard error — then 4 more at a time, at most 200) for designs from low to high contrast. Prints a markdown
table: RVEs needed, K, standard error, wall seconds (placement + FEM).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from matdesign import provenance
from matdesign.verification import verify
from matdesign.materials import MaterialTable
from matdesign.microstructure import Design

DESIGNS = [("Fe (element)", "Ti-6Al-2Sn-4Zr-2Mo", 0.173, 0.367),
           ("Epoxy (cast unfilled)", "Alumina 99.5% (AD-995)", 0.3, 0.3),
           ("Polycarbonate", "Silicon carbide (sintered alpha)", 0.2, 0.4),
           ("Polyurethane elastomer", "AISI 1018 steel (cold drawn)", 0.25, 0.3)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=2, choices=[2, 3])
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    table = MaterialTable.builtin()
    print(f"machine: {provenance.machine_line()}, "
          f"dim {args.dim}\n")
    print("| design | RVEs | K [GPa] | sem [%] | seconds |")
    print("|---|---|---|---|---|")
    for matrix, particle, d, vf in DESIGNS:
        design = Design(table[table.index(matrix)], table[table.index(particle)], d, vf)
        tic = time.perf_counter()
        v = verify(design, size=64 if args.dim == 2 else 32, dim=args.dim, n=8, adaptive=True, batch=4,
                   rel_sem_tol=0.0025, rng=np.random.default_rng(0), definition="composite")
        sec = time.perf_counter() - tic
        print(f"| {matrix} / {particle}, d {d}, vf {vf} | {v.n} | {v.mean:.4g} | {100 * v.sem / v.mean:.2f} | "
              f"{sec:.2f} |", flush=True)


if __name__ == "__main__":
    main()
