"""Guided vs unguided sampling on targets beyond K: shear modulus G, Young's modulus E, Poisson ratio ν.

For each target the same seeds are sampled unguided and guided (relative objective, the paper's
gradient scales); the isotropic moduli of the raw samples' FEM stiffness are compared with the
target. Writes a JSON record (default docs/guidance_other_properties.json).

    python experiments/guidance_other_properties.py --samples 6 --steps 50 --G 80 --E 200 --nu 0.2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from matdesign import provenance
from matdesign.atomic import write_text_atomic
from matdesign.diffusion import make_sampling_scheduler
from matdesign.fem import Homogenizer, effective_stiffness, isotropic_projection
from matdesign.guidance import (
    GuidanceConfig,
    TargetPoissonRatio,
    TargetShearModulus,
    TargetYoungsModulus,
    guided_sample,
)
from matdesign.pipeline.models import shipped_model_path, load_model


def sample(net, objective, *, samples: int, steps: int, seed: int, mode: str = "guided") -> torch.Tensor:
    """Normalized samples (samples, 3, *grid); the FEM is a warm-started Homogenizer (K and stiffness)."""
    hom = Homogenizer(net.dim, net.grid[0])
    return guided_sample(net, make_sampling_scheduler(net.config), net.normalization, objective,
                         shape=(samples, 3, *net.grid), config=GuidanceConfig(steps=steps, mode=mode),
                         generator=torch.Generator().manual_seed(seed), solver=hom, progress=False).x0


def moduli(net, x0: torch.Tensor) -> dict:
    """Isotropic K, G, E [GPa] and ν of normalized samples (B, 3, *grid): dict of lists."""
    fields = net.normalization.denormalize(x0.double().cpu(), axis=1).numpy()
    iso = isotropic_projection(effective_stiffness(fields[:, 0], fields[:, 1], dim=net.dim), net.dim)
    return {k: np.asarray(v).tolist() for k, v in iso.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(shipped_model_path(2)), help="model folder (default: shipped 2D)")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--G", type=float, default=80.0, help="target shear modulus [GPa]")
    ap.add_argument("--E", type=float, default=200.0, help="target Young's modulus [GPa]")
    ap.add_argument("--nu", type=float, default=0.2, help="target Poisson ratio")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="docs/guidance_other_properties.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net = load_model(args.model, 2, "cpu")
    objectives = {
        "G": TargetShearModulus(args.G, relative=True),
        "E": TargetYoungsModulus(args.E, relative=True),
        "nu": TargetPoissonRatio(args.nu, relative=True, dim=net.dim),
    }
    targets = {"G": args.G, "E": args.E, "nu": args.nu}
    config = {"steps": args.steps, "samples": args.samples, "seed": args.seed}
    tic = time.perf_counter()
    unguided = sample(net, None, samples=args.samples, steps=args.steps, seed=args.seed, mode="unguided")
    record = {"model": args.model, "machine": provenance.machine()["processor"], **config,
              "unguided": moduli(net, unguided), "guided": {}}
    for name, J in objectives.items():
        m = moduli(net, sample(net, J, samples=args.samples, steps=args.steps, seed=args.seed))
        record["guided"][name] = {"target": targets[name], "objective": repr(J), "moduli": m}
        t = targets[name]
        err_g = np.abs(np.array(m[name]) - t)
        err_u = np.abs(np.array(record["unguided"][name]) - t)
        print(f"{name}: target {t:g}  unguided mean {np.mean(record['unguided'][name]):.4g} "
              f"(mean |err| {err_u.mean():.3g})  guided mean {np.mean(m[name]):.4g} (mean |err| {err_g.mean():.3g})",
              flush=True)
    record["seconds"] = time.perf_counter() - tic
    write_text_atomic(Path(args.out), json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
