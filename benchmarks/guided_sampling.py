"""Wall time of FEM-guided sampling: a batch of 2D 64×64 samples with N DDIM steps (the paper's Table 6
setting is batch 50, N = 100: 1,241 s on an A40 + 16 cores, 99.5 % FEM), split into UNet and FEM time.
The sampler builds its warm-started ``Homogenizer`` in ``--fem-dtype`` (GuidanceConfig.fem_dtype).

    python benchmarks/guided_sampling.py [--batch 50] [--steps 100] [--fem-dtype float64] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import torch

from matdesign import provenance
from matdesign.diffusion import make_sampling_scheduler
from matdesign.guidance import GuidanceConfig, TargetBulkModulus, guided_sample
from matdesign.guidance.sampler import FEM_DTYPES
from matdesign.pipeline.models import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--target", type=float, default=125.9, help="K* [GPa] of the absolute J₁ = (K − K*)²")
    ap.add_argument("--fem-dtype", default=GuidanceConfig.fem_dtype, choices=list(FEM_DTYPES),
                    help="precision of the guidance FEM (default %(default)s; see docs/objectives.md)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    model = load_model(None, 2, args.device)
    config = GuidanceConfig(steps=args.steps, fem_dtype=args.fem_dtype)
    tic = time.perf_counter()
    res = guided_sample(model, make_sampling_scheduler(model.config), model.normalization,
                        TargetBulkModulus(args.target), shape=(args.batch, 3, *model.grid), config=config,
                        generator=torch.Generator().manual_seed(0), device=args.device, progress=False)
    total = time.perf_counter() - tic
    load = provenance.machine()["load_average"]
    print(f"machine: {provenance.machine_line(args.device)}; batch {args.batch}, {args.steps} steps, "
          f"2D 64x64, FEM {args.fem_dtype}; load average {load[0] if load else float('nan'):.1f}")
    print(f"total {total:.1f} s; UNet fwd+bwd {res.unet_seconds:.1f} s ({100 * res.unet_seconds / total:.0f} %); "
          f"FEM solve+grad {res.fem_seconds:.1f} s ({100 * res.fem_seconds / total:.0f} %); "
          f"{total / args.batch:.2f} s per sample")


if __name__ == "__main__":
    main()
