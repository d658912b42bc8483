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

from matdesign.guidance.sampler import clip_step
from matdesign.materials import MaterialTable
from matdesign.pipeline.candidates import verified_candidates
from matdesign.pipeline.models import load_model
from matdesign.pipeline.sampling import guidance_config, guided_fields, target_objective


def floored_rule(floor: float, first_rms: list[float]):
    """The dps step rule with the trust region max(C·σ_t, floor); records the RMS of the first, unclipped step."""
    def rule(grad, config, scale, alpha_bar):
        step = config.rho_D * scale * grad
        if not first_rms:  # the first guidance step, before any clip
            first_rms.append(float(step.pow(2).flatten(1).mean(1).sqrt().mean()))
        return clip_step(step, max(float(config.step_clip) * float(1.0 - alpha_bar) ** 0.5, floor))
    return rule


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
    net, table = load_model(None, 2, "cpu"), MaterialTable.builtin()
    for floor, target in itertools.product(args.floors, args.targets):
        first_rms: list[float] = []
        tic = time.perf_counter()
        fields, _ = guided_fields(net, target_objective("K", target), guidance_config(steps=args.steps),
                                  samples=args.samples, seed=args.seed, progress=False,
                                  step_rule=floored_rule(floor, first_rms))
        candidates = verified_candidates(fields, table, net.normalization, size=net.grid[0], n=10, seed=args.seed,
                                         definition="composite", progress=False)  # raw designs, as design(refine=False)
        K_s = np.array([c.value_s for c in candidates])
        err_s = np.abs(K_s / target - 1.0)
        raw = [abs(c.verification.mean - target) / target if c.verification.ok else np.nan for c in candidates]
        log.add({"floor": floor, "target": target, "K_s_within_5": frac_below(err_s, 0.05),
                 "K_s_within_1": frac_below(err_s, 0.01), "K_s_median": float(np.median(K_s)),
                 "raw_frac_5": frac_below(raw, 0.05), "first_step_rms": first_rms[0],
                 "seconds": time.perf_counter() - tic})


if __name__ == "__main__":
    main()
