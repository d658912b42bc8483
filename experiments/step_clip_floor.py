"""A floor on the guidance trust region (docs/results.md §1b, tried and not adopted): each sample's
guidance step RMS ≤ max(C·σ_t, F) instead of C·σ_t, so that late steps can still pull an extreme
target. F = 0 is the shipped sampler. Raw designs (no refinement), the samples' own K (K_s) against K*,
and the RMS of the first, unclipped guidance step (the paper's sampler takes exactly that step).

    python experiments/step_clip_floor.py --floors 0 0.002 0.005 --targets 0.019815 62.949
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from common import RowLog, frac_below

from matdesign.guidance import sampler
from matdesign.pipeline.design import design


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--floors", type=float, nargs="+", default=[0.0, 0.002, 0.005])
    ap.add_argument("--targets", type=float, nargs="+", default=[0.019815, 62.949])
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/step_clip_floor.json")
    args = ap.parse_args()
    log = RowLog(args.out, vars(args))
    clip_step = sampler.clip_step
    for floor, target in itertools.product(args.floors, args.targets):
        first_rms = []

        def floored(step, max_rms):
            if not first_rms:  # the first guidance step, before any clip
                first_rms.append(float(step.pow(2).flatten(1).mean(1).sqrt().mean()))
            return clip_step(step, max(max_rms, floor))

        sampler.clip_step = floored
        tic = time.perf_counter()
        res = design(target, dim=2, samples=args.samples, steps=args.steps, seed=args.seed, refine=False,
                     progress=False)
        K_s = np.array([c.value_s for c in res.candidates])
        err_s = np.abs(K_s / target - 1.0)
        log.add({"floor": floor, "target": target, "K_s_within_5": frac_below(err_s, 0.05),
                 "K_s_within_1": frac_below(err_s, 0.01), "K_s_median": float(np.median(K_s)),
                 "raw_frac_5": frac_below([res.error(c, refined=False) for c in res.candidates], 0.05),
                 "first_step_rms": first_rms[0], "seconds": time.perf_counter() - tic})
    sampler.clip_step = clip_step


if __name__ == "__main__":
    main()
