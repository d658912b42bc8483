"""Throughput of the paper's UNet: training steps/s and DDIM sampling steps/s (one UNet forward each).

    python benchmarks/diffusion.py [--device cpu|cuda] [--dims 2 3] [--train-batch 8 32 128]
                                   [--sample-batch 16 50] [--repeats 3] [--config configs/paper-2d.yaml]

Grids: 2D 64², 3D 32³ (the paper's). A training step is the full step of ``matdesign.diffusion.train``
(noise, v-target, forward, backward, clipping, AdamW, lr schedule; bf16 autocast on GPU). Prints a
Markdown table; times are medians over ``--repeats`` after one warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from diffusers.optimization import get_cosine_schedule_with_warmup
from torch.utils.flop_counter import FlopCounterMode

from matdesign import provenance
from matdesign.diffusion import load_config, make_sampling_scheduler, make_train_scheduler
from matdesign.diffusion.unet import build_unet

GRID = {2: 64, 3: 32}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _median_time(fn, repeats: int, device) -> float:
    fn()  # warm-up
    _sync(device)
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def bench_train(cfg, dim: int, batch: int, device, repeats: int) -> float:
    """Seconds per training step."""
    unet = build_unet(cfg.model).to(device)
    params = [p for p in unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.training.lr, weight_decay=cfg.training.weight_decay)
    lrs = get_cosine_schedule_with_warmup(opt, cfg.training.warmup_steps, cfg.training.steps)
    sched = make_train_scheduler(cfg)
    g = torch.Generator(device=device).manual_seed(0)
    x0 = torch.rand((batch, 3) + (GRID[dim],) * dim, generator=g, device=device) * 2 - 1
    amp = device.type == "cuda"

    def step():
        noise = torch.randn(x0.shape, generator=g, device=device)
        t = torch.randint(0, 1000, (batch,), generator=g, device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            pred = unet(sched.add_noise(x0, noise, t), t)
        loss = F.mse_loss(pred.float(), sched.get_velocity(x0, noise, t))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        lrs.step()

    return _median_time(step, repeats, device)


def bench_sample(cfg, dim: int, batch: int, device, repeats: int) -> float:
    """Seconds per DDIM step (UNet forward + scheduler update)."""
    unet = build_unet(cfg.model).to(device).eval()
    sched = make_sampling_scheduler(cfg)
    sched.set_timesteps(100, device=device)
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randn((batch, 3) + (GRID[dim],) * dim, generator=g, device=device)
    t = sched.timesteps[50]

    @torch.no_grad()
    def step():
        sched.step(unet(x, t.expand(batch)), t, x, eta=1.0, generator=g)

    return _median_time(step, repeats, device)


def model_stats(cfg, dim: int) -> tuple[int, float]:
    """(trainable parameters, forward GFLOP per sample) at the paper grid."""
    unet = build_unet(cfg.model)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        unet(torch.zeros((1, 3) + (GRID[dim],) * dim), torch.tensor([500]))
    return sum(p.numel() for p in unet.parameters() if p.requires_grad), fc.get_total_flops() / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dims", type=int, nargs="+", default=[2, 3])
    ap.add_argument("--train-batch", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--sample-batch", type=int, nargs="+", default=[16, 50])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--config", default="configs/paper-{dim}d.yaml", help="config path; {dim} is filled in")
    args = ap.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    load = provenance.machine()["load_average"]
    print(f"machine: {provenance.machine_line(device)}, load average {load[0] if load else float('nan'):.1f}\n")
    print("| dim | grid | params | GFLOP/fwd/sample | what | batch | s/step | steps/s | samples/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for dim in args.dims:
        cfg = load_config(args.config.format(dim=dim))
        params, gflop = model_stats(cfg, dim)
        grid = "×".join([str(GRID[dim])] * dim)
        runs = [("train", b, bench_train) for b in args.train_batch]
        runs += [("DDIM step", b, bench_sample) for b in args.sample_batch]
        for what, batch, fn in runs:
            s = fn(cfg, dim, batch, device, args.repeats)
            print(f"| {dim}D | {grid} | {params:,} | {gflop:.2f} | {what} | {batch} | {s:.3f} | {1 / s:.2f} | "
                  f"{batch / s:.1f} |", flush=True)


if __name__ == "__main__":
    main()
