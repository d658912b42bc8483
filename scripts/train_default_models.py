"""Train the default models on one GPU inside a fixed time budget (how the shipped models were made).

    python scripts/train_default_models.py --out runs --budget 480 [--data2d data/2d-64] [--bench]

Phases, all logged to OUT/logs/:
1. the 3D training set (10,000 fields of 32³, seed 0, no FEM labels: the unconditional model does not
   use them) is generated on CPU workers in the background (`matdesign dataset generate --no-labels`);
2. with ``--bench``: the GPU benchmarks (UNet, FEM, guided sampling), alone on the GPU;
3. three trainings share the GPU until the budget ends: 2D unconditional (configs/default-2d.yaml),
   2D K-conditional (default-2d-cond.yaml, the CFG baseline) and 3D unconditional (default-3d.yaml),
   each stopped by ``--time-limit`` with a checkpoint, so a later call with the same OUT resumes them.

The 2D runs read ``--data2d`` (made by `matdesign dataset generate --dim 2 --size 64 --n 10000 --seed 0`,
generated here if missing). Budget: seconds from the start of this script to the end of training.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

CLI = [sys.executable, "-m", "matdesign"]
RUNS = {  # name: (config, dataset key)
    "2d": ("configs/default-2d.yaml", "2d"),
    "2d-cond": ("configs/default-2d-cond.yaml", "2d"),
    "3d": ("configs/default-3d.yaml", "3d"),
}


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    print(f"[{time.strftime('%H:%M:%S')}] start: {' '.join(cmd)}  > {log}", flush=True)
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def run(cmd: list[str], log: Path, timeout: float) -> int:
    try:
        return start(cmd, log).wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"  timed out after {timeout:.0f} s: {log}", flush=True)
        return -1


def dataset_cmd(dim: int, n: int, out: Path, workers: int, labels: bool) -> list[str]:
    size = 64 if dim == 2 else 32
    return [*CLI, "dataset", "generate", "--dim", str(dim), "--size", str(size), "--n", str(n), "--seed", "0",
            "--out", str(out), "--workers", str(workers), "--chunk", "64",
            *(["--resume"] if out.exists() else []), *([] if labels else ["--no-labels"])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs"))
    ap.add_argument("--budget", type=float, default=480.0, help="seconds until every training stops")
    ap.add_argument("--data2d", type=Path, default=Path("data/2d-64"))
    ap.add_argument("--data3d", type=Path, default=Path("data/3d-32-fields"))
    ap.add_argument("--workers", type=int, default=10, help="CPU workers for the 3D dataset")
    ap.add_argument("--n", type=int, default=10000, help="samples per generated dataset")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--bench", action="store_true", help="run the GPU benchmarks first (alone on the GPU)")
    ap.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    args = ap.parse_args()
    t_end = time.monotonic() + args.budget
    logs = args.out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    data = {"2d": args.data2d, "3d": args.data3d}

    gen = {}
    for key, dim, labels in (("2d", 2, True), ("3d", 3, False)):
        if any(RUNS[r][1] == key for r in args.runs) and not (data[key] / "dataset.h5").exists():
            gen[key] = start(dataset_cmd(dim, args.n, data[key], args.workers, labels), logs / f"dataset-{key}.log")

    if args.bench:
        for name, cmd, limit in (
            ("bench-diffusion", [sys.executable, "benchmarks/diffusion.py", "--device", args.device, "--dims", "2", "3",
                                 "--train-batch", "128", "--sample-batch", "50", "--repeats", "5"], 60),
            ("bench-guided", [sys.executable, "benchmarks/guided_sampling.py", "--device", args.device], 60),
            ("bench-fem", [sys.executable, "benchmarks/fem.py", "--device", args.device, "--repeats", "3"], 90),
        ):
            rc = run(cmd, logs / f"{name}.log", min(limit, t_end - time.monotonic() - 120))
            print(f"  {name}: exit {rc}", flush=True)

    procs = {}
    pending = [r for r in args.runs]
    while pending or procs:
        for name in list(pending):
            config, key = RUNS[name]
            if key in gen and gen[key].poll() is None:
                continue  # its dataset is still being generated
            pending.remove(name)
            if key in gen and gen[key].returncode != 0:
                print(f"  {name}: dataset failed (exit {gen[key].returncode}), not trained", flush=True)
                continue
            left = t_end - time.monotonic() - 40  # dataset load + final checkpoint
            if left < 30:
                print(f"  {name}: no time left", flush=True)
                continue
            run_dir = args.out / name
            cmd = [*CLI, "train", "--data", str(data[key]), "--config", config, "--out", str(run_dir),
                   "--device", args.device, "--in-memory", "--time-limit", f"{left:.0f}"]
            if (run_dir / "train_state.safetensors").exists():
                cmd.append("--resume")
            procs[name] = start(cmd, logs / f"train-{name}.log")
        for name, p in list(procs.items()):
            if p.poll() is not None:
                print(f"[{time.strftime('%H:%M:%S')}] {name}: exit {p.returncode}", flush=True)
                del procs[name]
            elif time.monotonic() > t_end + 60:
                p.kill()
                print(f"  {name}: killed (past the budget)", flush=True)
        time.sleep(2)
    for key, p in gen.items():
        if p.poll() is None:
            p.kill()


if __name__ == "__main__":
    main()
