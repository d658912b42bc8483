"""Wall time of FEM-guided sampling: a batch of 2D 64×64 samples with N DDIM steps (the paper's Table 6
setting is batch 50, N = 100: 1,241 s on an A40 + 16 cores, 99.5 % FEM), split into UNet and FEM time.

    python benchmarks/guided_sampling.py [--batch 50] [--steps 100] [--device cpu]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from matdesign.guidance import GuidanceConfig, TargetBulkModulus
from matdesign.pipeline.design import load_model, sample_with_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--target", type=float, default=125.9)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    model = load_model(None, 2, args.device)
    tic = time.perf_counter()
    res = sample_with_model(model, TargetBulkModulus(args.target), samples=args.batch,
                            config=GuidanceConfig(steps=args.steps), seed=0, device=args.device, progress=False)
    total = time.perf_counter() - tic
    cpu = platform.processor() or platform.machine()
    print(f"device {args.device} ({cpu}, {torch.get_num_threads()} threads); batch {args.batch}, {args.steps} steps, 2D 64x64")
    print(f"total {total:.1f} s; UNet fwd+bwd {res.unet_seconds:.1f} s ({100 * res.unet_seconds / total:.0f} %); "
          f"FEM solve+grad {res.fem_seconds:.1f} s ({100 * res.fem_seconds / total:.0f} %); "
          f"{total / args.batch:.2f} s per sample")


if __name__ == "__main__":
    main()
