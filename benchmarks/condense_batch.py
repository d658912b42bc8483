"""Guidance-sized FEM call: K + gradient of a batch of 2D 64² fields with the exact condensation.

Times ``Homogenizer.bulk_with_gradient`` on ``--batch`` stiff particle fields (float32 in, like the
UNet's output; float64 solve) and prints the best and median wall time per sample and the load
average. Run it under different checkouts (``PYTHONPATH=<export>/src``) to compare versions.

    python benchmarks/condense_batch.py [--batch 50] [--threads 1] [--repeats 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from fem import fields  # the FEM benchmark's field generator (this script's folder is on sys.path)

from matdesign.fem import Homogenizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--repeats", type=int, default=4)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    E, nu = fields("stiff", 2, 64, args.batch)
    E, nu = torch.tensor(E, dtype=torch.float32), torch.tensor(nu, dtype=torch.float32)
    hom = Homogenizer(2, 64, solver="condense")
    hom.bulk_with_gradient(E[:4], nu[:4])  # warm-up (work arrays, threads)
    times = []
    for _ in range(args.repeats):
        tic = time.perf_counter()
        hom.bulk_with_gradient(E, nu)
        times.append((time.perf_counter() - tic) / args.batch * 1e3)
    print(f"batch {args.batch}, {torch.get_num_threads()} threads: best {min(times):.2f}, median "
          f"{statistics.median(times):.2f} ms per sample; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
