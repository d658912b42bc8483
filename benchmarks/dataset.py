"""Dataset generation throughput (samples/s with FEM labels) on this machine.

Runs ``generate_dataset`` for 2D 64×64 and 3D 32³ on a local dask cluster of ``--workers``
single-threaded processes (started once, outside the timing), and projects the time for 10,000
samples. Usage: ``python benchmarks/dataset.py [--workers 2] [--n2 256] [--n3 32] [--labels stiffness|bulk]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from distributed import LocalCluster

from matdesign.data import generate_dataset


def rate(address: str, dim: int, size: int, n: int, chunk: int, labels: str) -> float:
    """Samples per second of a full run (generation, labels, parts, store) on the cluster."""
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        generate_dataset(os.path.join(d, "ds"), dim=dim, size=size, n=n, seed=0, chunk=chunk,
                         scheduler=address, progress=False, labels=labels)
        return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--n2", type=int, default=256, help="2D samples to time")
    ap.add_argument("--n3", type=int, default=16, help="3D samples to time (0: skip)")
    ap.add_argument("--labels", default="stiffness", choices=["stiffness", "bulk"], help="FEM labels (bulk: K only)")
    args = ap.parse_args()
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        for dim, size, n in ((2, 64, args.n2), (3, 32, args.n3)):
            if n <= 0:
                continue
            chunk = max(1, n // (4 * args.workers))
            r = rate(cluster.scheduler_address, dim, size, n, chunk, args.labels)
            print(f"{dim}D {size}^{dim}: {n} samples, workers={args.workers}, labels {args.labels}: {r:.2f} samples/s; "
                  f"10,000 samples ≈ {10_000 / r / 3600:.2f} h")


if __name__ == "__main__":
    main()
