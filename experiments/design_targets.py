"""frac(ε_r < 1 %) and frac(ε_r < 5 %) of `matdesign.design` on the five 2D targets, raw (paper method)
and refined, with the time per target. Reduced CPU setting by default (see --samples/--steps).

    python experiments/design_targets.py --samples 16 --steps 50 --out docs/results_design.json
"""

from __future__ import annotations

import argparse
import time

from common import TARGETS_2D, RowLog, frac_below

from matdesign.pipeline.inverse_design import design


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/results_design.json")
    args = ap.parse_args()
    log = RowLog(args.out, vars(args))
    for target in TARGETS_2D:
        tic = time.perf_counter()
        res = design(target, dim=2, samples=args.samples, steps=args.steps, seed=args.seed, progress=False)
        raw = [res.error(c, refined=False) for c in res.candidates]
        ref = [res.error(c) for c in res.candidates]
        log.add({"target": target, "seconds": time.perf_counter() - tic,
                 "raw_frac_1": frac_below(raw, 0.01), "raw_frac_5": frac_below(raw, 0.05),
                 "refined_frac_1": frac_below(ref, 0.01), "refined_frac_5": frac_below(ref, 0.05)})

if __name__ == "__main__":
    main()
