"""Training loop (paper section 6.2): v-prediction MSE, AdamW, cosine schedule with warm-up,
gradient clipping, optional EMA and bf16 autocast (GPU only), atomic checkpoints and exact resume;
data-parallel over several processes under ``accelerate launch`` (one process, the default, is unchanged).

``out_dir`` receives ``model.safetensors`` + ``config.json`` (the model, EMA weights if enabled),
``train_state.safetensors`` (everything for ``resume``), ``loss.csv`` (step, loss, lr, time) and
``loss.png``. Randomness: the initial weights come from ``training.seed``; the data order is a
torch-Generator-driven stream of permutations that is a function of (seed, step) alone; the noise,
time steps and condition dropout come from a second generator whose state is checkpointed.
With P processes every process draws the whole batch's indices, noise, time steps and dropout and
keeps its 1/P slice, so the global batch and the random stream are those of one process.
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.state import is_initialized
from accelerate.utils import broadcast
from diffusers.optimization import get_cosine_schedule_with_warmup
from torch.utils.data import DataLoader, default_collate
from tqdm.auto import tqdm

from matdesign.atomic import write_text_atomic
from matdesign.diffusion.config import Config, load_config
from matdesign.diffusion.model import DiffusionModel
from matdesign.diffusion.plot import plot_loss
from matdesign.diffusion.scheduler import make_train_scheduler
from matdesign.diffusion.train_state import (
    EMA, STATE_NAME, flatten_optimizer, load_state, save_state, strip_prefix, unflatten_optimizer, with_prefix,
)
from matdesign.diffusion.unet import build_unet
from matdesign.errors import InputError
from matdesign.validate import check_device

LOG_NAME = "loss.csv"
_RESUME_FREE = ("checkpoint_every", "log_every")  # training keys that may change on resume


class BatchStream(torch.utils.data.Sampler):
    """Index batches from the endless concatenation of random permutations of range(n).

    Permutations are drawn from a torch Generator seeded with ``seed``, so batch j is a function of
    (n, batch_size, seed, j): a stream started at ``start`` equals one that consumed ``start`` batches
    (which is the sampler state a checkpoint needs). No sample is dropped at epoch ends.
    ``part`` keeps one slice of every batch (this process's share in data-parallel training).
    """

    def __init__(self, n: int, batch_size: int, seed: int, start: int = 0, part: slice = slice(None)):
        self.n, self.batch_size, self.seed, self.start = int(n), int(batch_size), int(seed), int(start)
        self.part = part

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed)
        first = self.start * self.batch_size
        for _ in range(first // self.n):  # skip whole permutations
            torch.randperm(self.n, generator=g)
        buffer = torch.randperm(self.n, generator=g)[first % self.n:]
        while True:
            while len(buffer) < self.batch_size:
                buffer = torch.cat([buffer, torch.randperm(self.n, generator=g)])
            yield buffer[: self.batch_size][self.part].tolist()
            buffer = buffer[self.batch_size:]

    def __len__(self):  # endless; DataLoader only needs a number for its progress estimates
        return 2**62


class _Fetch(torch.utils.data.Dataset):
    """Map a list of indices to a collated batch (uses the dataset's ``__getitems__`` if it has one)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __getitem__(self, indices):
        getitems = getattr(self.dataset, "__getitems__", None)
        items = getitems(indices) if getitems is not None else [self.dataset[i] for i in indices]
        return default_collate(items)


def check_dataset(dataset, cfg: Config) -> tuple[int, ...]:
    """The dataset's grid; InputError unless its items fit the model config."""
    if len(dataset) < 1:
        raise InputError("training dataset is empty")
    if not hasattr(dataset, "normalization"):
        raise InputError("training dataset has no `normalization` (matdesign.materials.Normalization)")
    item = dataset[0]
    if not isinstance(item, dict) or "x" not in item or "K" not in item:
        raise InputError("training dataset items must be dicts with 'x' (3, *grid) and 'K'")
    shape = tuple(torch.as_tensor(item["x"]).shape)
    m = cfg.model
    if len(shape) != m.dim + 1 or shape[0] != m.in_channels:
        raise InputError(f"dataset fields have shape {shape}, the {m.dim}D config needs ({m.in_channels}, *grid) "
                         f"with {m.dim} spatial axes")
    if any(s % m.downsampling for s in shape[1:]):
        raise InputError(f"dataset grid {shape[1:]} must be divisible by {m.downsampling} for this UNet")
    return shape[1:]


def _condition_range(dataset) -> dict:
    """{"K_min", "K_max"} [GPa] over the dataset: the conditional model maps this range to [−1, 1]."""
    K = getattr(dataset, "K", None)
    K = torch.as_tensor(K if K is not None else [float(dataset[i]["K"]) for i in range(len(dataset))]).double()
    lo, hi = float(K.min()), float(K.max())
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise InputError(f"conditional training needs finite, non-constant K labels, got range [{lo}, {hi}]")
    return {"K_min": lo, "K_max": hi}


class LossLog:
    """Rows (step, loss, lr, time [s]) kept in memory and rewritten atomically to ``loss.csv``."""

    def __init__(self, path: Path, keep_until: int | None = None):
        self.path = path
        self.rows: list[tuple[int, float, float, float]] = []
        if keep_until is not None and path.is_file():
            for r in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))):
                if int(r["step"]) <= keep_until:
                    self.rows.append((int(r["step"]), float(r["loss"]), float(r["lr"]), float(r["time"])))

    def add(self, step: int, loss: float, lr: float, elapsed: float) -> None:
        self.rows.append((step, loss, lr, elapsed))

    def write(self) -> None:
        lines = ["step,loss,lr,time"] + [f"{s},{l:.6g},{r:.6g},{t:.2f}" for s, l, r, t in self.rows]
        write_text_atomic(self.path, "\n".join(lines) + "\n")
        if self.rows:
            steps, losses, lrs, _ = zip(*self.rows)
            plot_loss(steps, losses, lrs, self.path.with_suffix(".png"))


def _dataset_info(dataset) -> dict:
    meta = dict(getattr(dataset, "meta", {}) or {})
    return {"material_sha256": meta.get("material_sha256"), "dataset": {"n": len(dataset), **meta}}


def train(config: Config | dict | str | os.PathLike, dataset, out_dir: str | os.PathLike, *, resume: bool = False,
          device: str | torch.device = "cpu", max_steps: int | None = None, num_workers: int = 0,
          time_limit: float | None = None, progress: bool = True) -> DiffusionModel:
    """Train a diffusion model on ``dataset`` and return it (EMA weights if enabled).

    config: :class:`Config`, its dict, or a YAML path; dataset: torch Dataset of dicts {"x": (3, *grid)
    float32 in [−1, 1], "K": scalar [GPa]} with attributes ``normalization`` and ``meta``;
    resume: continue from ``out_dir/train_state.safetensors`` (same config required);
    max_steps: stop after this many total steps (the schedule still spans ``training.steps``);
    time_limit: checkpoint and stop after the first step that ends this many seconds into the call
    (for fixed-length jobs; ``resume`` continues exactly).
    Under ``accelerate launch`` with P processes each takes its own device (cuda:<local rank> for
    ``device="cuda"``) and 1/P of every batch; gradients are averaged (DDP), only the main process
    writes files, and every process returns the same model.
    """
    cfg = config if isinstance(config, Config) else (
        Config.from_dict(config) if isinstance(config, dict) else load_config(config))
    tc = cfg.training
    device = torch.device(check_device(device))
    # bf16 autocast stays ours (training.mixed_precision). accelerate's state is process-wide and keeps
    # its first device (cpu=True after cuda would raise); a single process trains on `device` anyway.
    accelerator = Accelerator(cpu=device.type == "cpu" and not is_initialized(), mixed_precision="no")
    world, rank, main = accelerator.num_processes, accelerator.process_index, accelerator.is_main_process
    if world > 1:
        device = accelerator.device
    if tc.batch_size % world:
        raise InputError(f"training.batch_size {tc.batch_size} does not split evenly over {world} processes")
    part = slice(rank * tc.batch_size // world, (rank + 1) * tc.batch_size // world)
    grid = check_dataset(dataset, cfg)
    out = Path(out_dir)
    state_path = out / STATE_NAME
    if not resume and state_path.exists():
        raise InputError(f"{out} already holds a training run; pass --resume or choose another --out")

    T = cfg.scheduler.num_train_timesteps
    unet = build_unet(cfg.model, T, seed=tc.seed).to(device)
    net = accelerator.prepare_model(unet, device_placement=False)  # DDP (gradient all-reduce) if world > 1
    params = [p for p in unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=tc.lr, weight_decay=tc.weight_decay)
    lr_scheduler = get_cosine_schedule_with_warmup(optimizer, tc.warmup_steps, tc.steps)
    ema = EMA(unet, tc.ema_decay) if tc.ema else None
    noise_gen = torch.Generator(device=device).manual_seed(tc.seed + 1)
    info = _dataset_info(dataset)
    if cfg.model.conditional:
        info["condition"] = _condition_range(dataset)
    step, elapsed = 0, 0.0
    if resume:
        step, elapsed, info = _restore(state_path, cfg, unet, optimizer, lr_scheduler, ema, noise_gen, grid)
    log = LossLog(out / LOG_NAME, keep_until=step if resume else None)
    stop = tc.steps if max_steps is None else min(int(max_steps), tc.steps)
    deadline = None if time_limit is None else time.monotonic() + float(time_limit)

    def checkpoint(done: int) -> DiffusionModel:
        weights = ema.state_dict_for(unet) if ema is not None else unet.state_dict()
        export_unet = build_unet(cfg.model, T)
        export_unet.load_state_dict({k: v.cpu() for k, v in weights.items()})
        model = DiffusionModel(export_unet, cfg, grid=grid, normalization=dataset.normalization,
                               info={**info, "step": done, "weights": "ema" if ema is not None else "raw"})
        if not main:
            return model
        model.save(out)
        opt_tensors, opt_meta = flatten_optimizer(optimizer)
        tensors = {**with_prefix("model", unet.state_dict()), **opt_tensors, "rng/noise": noise_gen.get_state()}
        if ema is not None:
            tensors.update(with_prefix("ema", ema.shadow))
        save_state(state_path, tensors, {
            "step": done, "elapsed": elapsed, "config": cfg.to_dict(), "grid": list(grid), "info": info,
            "optimizer": opt_meta, "lr_scheduler": lr_scheduler.state_dict(),
            "ema_updates": ema.updates if ema is not None else None,
        })
        log.write()
        return model

    noise_scheduler = make_train_scheduler(cfg)
    sampler = BatchStream(len(dataset), tc.batch_size, tc.seed, start=step, part=part)
    loader = DataLoader(_Fetch(dataset), sampler=sampler, batch_size=None, num_workers=num_workers)
    amp = device.type == "cuda" and tc.mixed_precision == "bf16"
    model = None
    unet.train()
    bar = tqdm(total=stop, initial=step, desc="training", disable=not (progress and main), dynamic_ncols=True)
    loss_sum, loss_count = torch.zeros((), device=device), 0
    batches = iter(loader)
    tic = time.perf_counter()
    last = False
    while step < stop and not last:
        batch = next(batches)
        x0 = batch["x"].to(device=device, dtype=torch.float32)
        b = tc.batch_size  # the global batch; this process keeps x0, noise, t, drop [part]
        noise = torch.randn((b, *x0.shape[1:]), generator=noise_gen, device=device)[part]
        t = torch.randint(0, T, (b,), generator=noise_gen, device=device)[part]
        cond = None
        if cfg.model.conditional:
            K = batch["K"].to(device=device, dtype=torch.float32).reshape(-1)
            lo, hi = info["condition"]["K_min"], info["condition"]["K_max"]
            drop = torch.rand(b, generator=noise_gen, device=device)[part] < tc.cond_dropout
            cond = torch.where(drop, torch.full_like(K, float("nan")), 2.0 * (K - lo) / (hi - lo) - 1.0)
        x_t = noise_scheduler.add_noise(x0, noise, t)
        target = noise_scheduler.get_velocity(x0, noise, t)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            pred = net(x_t, t, cond)
        loss = F.mse_loss(pred.float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, tc.grad_clip)
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        lr_scheduler.step()
        if ema is not None:
            ema.update(unet)
        step += 1
        loss_sum += loss.detach()
        loss_count += 1
        bar.update(1)
        over = deadline is not None and time.monotonic() >= deadline
        if deadline is not None and world > 1:  # all processes stop where the main one's clock says
            over = bool(broadcast(torch.tensor(int(over), device=device)))
        last = step == stop or over
        if step % tc.log_every == 0 or step % tc.checkpoint_every == 0 or last:
            now = time.perf_counter()
            elapsed, tic = elapsed + now - tic, now
            mean_loss = float(accelerator.reduce(loss_sum, "mean")) / loss_count
            log.add(step, mean_loss, lr, elapsed)
            bar.set_postfix(loss=f"{mean_loss:.4g}", lr=f"{lr:.2e}")
            loss_sum.zero_()
            loss_count = 0
        if step % tc.checkpoint_every == 0 or last:
            model = checkpoint(step)
    bar.close()
    if model is None:  # nothing left to train (resumed at the end): return the saved model
        model = DiffusionModel.load(out, device="cpu")
    return model.to(device).eval()


def _restore(path: Path, cfg: Config, unet, optimizer, lr_scheduler, ema, noise_gen, grid) -> tuple[int, float, dict]:
    """Load a training state into the given objects; returns (step, elapsed seconds, model info)."""
    tensors, meta = load_state(path)
    saved = meta.get("config", {})
    now = cfg.to_dict()
    for section in ("model", "scheduler", "training"):
        for key, value in now[section].items():
            old = saved.get(section, {}).get(key)
            if section == "training" and key in _RESUME_FREE:
                continue
            if old != value:
                raise InputError(f"resume: config {section}.{key} is {value!r} but the checkpoint in {path.parent} "
                                 f"was trained with {old!r}")
    if tuple(meta.get("grid", ())) != tuple(grid):
        raise InputError(f"resume: the dataset grid {tuple(grid)} differs from the checkpoint's {tuple(meta.get('grid', ()))}")
    try:
        unet.load_state_dict(strip_prefix("model", tensors))
        unflatten_optimizer(optimizer, tensors, meta["optimizer"])
        lr_scheduler.load_state_dict(meta["lr_scheduler"])
        noise_gen.set_state(tensors["rng/noise"])
        if ema is not None:
            ema.shadow = {k: v.to(unet.conv_in.weight.device) for k, v in strip_prefix("ema", tensors).items()}
            ema.updates = int(meta["ema_updates"])
    except (KeyError, RuntimeError, ValueError, TypeError) as err:
        raise InputError(f"resume: training state {path} does not fit this model ({err})") from err
    return int(meta["step"]), float(meta["elapsed"]), meta["info"]
