"""``definition="paper"`` (the official release's K) — ours against the release's solver on the same fields.

    python benchmarks/fem_release.py [--repeats 3] [--threads N]

Fields and the official solver's K and timings: tests/data/official_release/ (its README says how the
official numbers were measured). Ours: :func:`matdesign.fem.release.release_with_gradient`, float64, batch
1, 2D direct (SuperLU), 3D multigrid PCG (tol 1e-10); "forward" = K only, "with gradient" = K, dK/dE,
dK/dν (one extra adjoint right-hand side). Median over ``--repeats`` after one warm-up call per field.
Prints a markdown table with the relative difference of K and the speed ratio official/ours.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from matdesign import provenance
from matdesign.fem.release import release_with_gradient

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "official_release"


def timed(E: torch.Tensor, nu: torch.Tensor, dim: int, gradient: bool, repeats: int) -> tuple[float, float]:
    """(median seconds, K) of one call after a warm-up."""
    release_with_gradient(E, nu, dim, gradient=gradient)
    times, K = [], None
    for _ in range(repeats):
        tic = time.perf_counter()
        K = release_with_gradient(E, nu, dim, gradient=gradient)[0]
        times.append(time.perf_counter() - tic)
    return statistics.median(times), float(K)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    official = json.loads((DATA / "official.json").read_text())
    print(f"{provenance.machine_line()}; "
          f"official: {official['machine']}\n")
    print("| field | K official [GPa] | rel. diff ours | official fwd [s] | ours fwd [s] | ratio | "
          "official grad [s] | ours grad [s] | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    with np.load(DATA / "fields.npz") as f:
        for name, ref in official["fields"].items():
            labels, table = f[f"{name}__labels"], f[f"{name}__table"]
            E, nu = (torch.from_numpy(table[labels, i]) for i in (0, 1))
            t_fwd, K = timed(E, nu, ref["dim"], False, args.repeats)
            t_grad, _ = timed(E, nu, ref["dim"], True, args.repeats)
            o_fwd, o_grad = ref["seconds_forward"], ref["seconds_with_gradient"]
            print(f"| {name} | {ref['K']:.6f} | {abs(K - ref['K']) / ref['K']:.1e} | {o_fwd:.3f} | {t_fwd:.3f} | "
                  f"{o_fwd / t_fwd:.2g}× | {o_grad:.3f} | {t_grad:.3f} | {o_grad / t_grad:.2g}× |", flush=True)


if __name__ == "__main__":
    main()
