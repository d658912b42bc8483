"""Raw guided samples against the target, before any backprojection (issue 7's table).

For each of the five 2D evaluation targets: FEM K_s of every raw sample (x̂₀ clipped, denormalized) for
unguided sampling and for guidance with the paper's absolute J₁ = (K − K*)² and with our relative
form (K_ref·(K/K* − 1))², all from the same seeds. Prints one JSON line per row and writes the table.

    python experiments/guided_vs_unguided.py --samples 16 --steps 50 --out docs/guided_vs_unguided.json
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from common import TARGETS_2D, RowLog, frac_below

from matdesign.verification.verify import sample_K
from matdesign.guidance import GuidanceConfig, TargetBulkModulus
from matdesign.pipeline.models import load_model
from matdesign.pipeline.sampling import sample_with_model


def raw_K(model, x0: torch.Tensor) -> np.ndarray:
    """K_s [GPa] of normalized samples (B, 3, *grid)."""
    fields = model.normalization.denormalize(x0.clamp(-1, 1).double().cpu(), axis=1)
    return sample_K(fields, dim=model.dim)


def summary(K: np.ndarray, target: float) -> dict:
    err = np.abs(K - target) / target
    return {"mean_K": float(K.mean()), "median_K": float(np.median(K)), "median_rel_err": float(np.median(err)),
            "frac_5": frac_below(err, 0.05), "frac_1": frac_below(err, 0.01)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model directory (default: the shipped 2D model)")
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--targets", type=float, nargs="+", default=list(TARGETS_2D))
    ap.add_argument("--forms", nargs="+", default=["absolute", "relative"], choices=["absolute", "relative"])
    ap.add_argument("--no-unguided", action="store_true", help="skip the unguided run")
    ap.add_argument("--out", default="docs/guided_vs_unguided.json")
    args = ap.parse_args()
    model = load_model(args.model, 2, "cpu")

    def run(objective, mode: str):
        tic = time.perf_counter()
        res = sample_with_model(model, objective, samples=args.samples, seed=args.seed, progress=False,
                                config=GuidanceConfig(steps=args.steps, mode=mode))
        return raw_K(model, res.x0), time.perf_counter() - tic

    K_unguided, t_unguided = (None, 0.0) if args.no_unguided else run(None, "unguided")
    log = RowLog(args.out, {**vars(args), "model_step": model.step})
    for target in args.targets:
        row = {"target": target}
        if K_unguided is not None:
            row["unguided"] = {**summary(K_unguided, target), "seconds": t_unguided, "K": K_unguided.tolist()}
        for name in args.forms:
            K, sec = run(TargetBulkModulus(target, relative=name == "relative"), "guided")
            row[name] = {**summary(K, target), "seconds": sec, "K": K.tolist()}
        log.add(row)


if __name__ == "__main__":
    main()
