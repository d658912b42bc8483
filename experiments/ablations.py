"""Ablations of the paper's Table 3, raw designs (the paper's method, no refinement): frac(ε_r < 1 %, 5 %)
and the mean density of the designs for each DDIM step count N and density weight λ of
J₂ = J₁ + λ·mean density.

    python experiments/ablations.py --targets 125.9 188.8 --samples 16 --steps 50 --out docs/density_sweep.json
    python experiments/ablations.py --targets 125.9 188.8 --samples 16 --steps 50 100 200 --lambdas 0 \
        --out docs/steps_ablation.json
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from common import RowLog, frac_below

from matdesign.verification import density
from matdesign.pipeline.inverse_design import design
from matdesign.pipeline.sampling import DEFAULT_STEP_CLIP


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", type=float, nargs="+", default=[125.9, 188.8])
    ap.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 1e-4, 1e-3, 1e-2])
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--steps", type=int, nargs="+", default=[50])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--step-clip", type=float, default=DEFAULT_STEP_CLIP,
                    help="guidance trust region C (default: the package's; inf: the paper's unclipped sampler)")
    ap.add_argument("--out", default="docs/density_sweep.json")
    args = ap.parse_args()
    log = RowLog(args.out, vars(args))
    for target, steps, lam in itertools.product(args.targets, args.steps, args.lambdas):
        tic = time.perf_counter()
        res = design(target, dim=2, samples=args.samples, steps=steps, density_weight=lam, refine=False,
                     seed=args.seed, step_clip=args.step_clip, progress=False)
        err = np.array([res.error(c, refined=False) for c in res.candidates])
        rho = np.array([density(c.design) for c in res.candidates])
        hit = np.nan_to_num(err, nan=np.inf) < 0.05
        log.add({"target": target, "steps": steps, "lambda": lam, "frac_5": frac_below(err, 0.05),
                 "frac_1": frac_below(err, 0.01), "rho_mean": float(np.nanmean(rho)),
                 "rho_mean_hits": float(rho[hit].mean()) if hit.any() else None,
                 "seconds": time.perf_counter() - tic})


if __name__ == "__main__":
    main()
