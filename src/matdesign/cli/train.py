"""``matdesign train`` (train a diffusion model on a dataset) and ``matdesign sample`` (unguided samples as an image)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from matdesign.errors import InputError


def train(
    data: Path = typer.Option(..., "--data", help="Dataset directory (or its dataset.h5) from `matdesign dataset generate`."),
    config: Path = typer.Option(..., "--config", help="Diffusion config YAML, e.g. configs/paper-2d.yaml."),
    out: Path = typer.Option(..., "--out", help="Run directory: model, training state, loss.csv/png."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in OUT exactly where its last checkpoint left off."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after this many total steps (schedule unchanged)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda (bf16 autocast on cuda); under `accelerate launch` "
                               "each process takes its own GPU."),
    workers: int = typer.Option(0, "--workers", help="DataLoader worker processes (0: load in the training process)."),
    in_memory: bool = typer.Option(False, "--in-memory", help="Read the whole dataset into memory first (fast on GPU)."),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", help="Checkpoint and stop after this many seconds."),
) -> None:
    """Train the denoising UNet (paper section 6.2); checkpoints are resumable with --resume.

    Multi-GPU: `accelerate launch --multi_gpu --num_processes N -m matdesign train ... --device cuda`
    (the config's batch_size is the global batch, split over the N processes).
    """
    from matdesign.cli import checks, paths
    from matdesign.cli.invocation import invocation
    from matdesign.cli.rundir import in_place

    paths.config_yaml("--config", config)
    paths.dataset("--data", data)
    checks.integer("--max-steps", max_steps, 1)
    checks.device(device)
    checks.workers(workers)
    checks.time_limit(time_limit)
    paths.output_folder("--out", out)
    has_state = (out / "train_state.safetensors").exists()
    if has_state and not resume:
        raise InputError(f"--out {out}: already holds a training run; pass --resume to continue it or choose another folder")
    if resume and not has_state:
        raise InputError(f"--resume: {out} holds no training state (train_state.safetensors) to continue; drop --resume")
    with in_place(out, kind="train", command=invocation(), legacy=("train_state.safetensors", "model.safetensors")):
        from matdesign.data import FieldDataset
        from matdesign.diffusion import load_config
        from matdesign.diffusion import train as run_training

        cfg = load_config(config)
        model = run_training(cfg, FieldDataset(data, in_memory=in_memory), out, resume=resume, device=device,
                             max_steps=max_steps, num_workers=workers, time_limit=time_limit)
    typer.echo(f"trained {model.step} steps; model in {out}")


def sample(
    model: Path = typer.Option(..., "--model", help="Model: a folder (model.safetensors + config.json) or a shipped model's name (2d, 2d-cond, 3d)."),
    n: int = typer.Option(16, "--n", help="Number of samples."),
    steps: int = typer.Option(100, "--steps", help="DDIM steps."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampling generator."),
    out: Path = typer.Option(Path("samples.png"), "--out", help="Image of the samples (E, ν, ρ as r, g, b)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    K: Optional[float] = typer.Option(None, "--K", help="Target bulk modulus [GPa] (conditional models only)."),
    guidance_scale: float = typer.Option(0.0, "--guidance-scale", help="Classifier-free guidance weight w (with --K)."),
) -> None:
    """Draw unguided samples and save them as an RGB grid (3D: three mid-slices per sample)."""
    from matdesign.cli import checks, paths
    from matdesign.cli.common import check_sampling

    checks.seed(seed)
    checks.device(device)
    checks.number("--K", K, low=0, low_open=True)
    checks.number("--guidance-scale", guidance_scale)
    model = paths.model(model)
    check_sampling(model, "2d", n, steps, samples_option="--n")
    paths.output_file("--out", out, (".png",))

    import torch

    from matdesign.diffusion import DiffusionModel
    from matdesign.diffusion import sample as draw
    from matdesign.diffusion.plot import save_sample_grid

    m = DiffusionModel.load(model, device=device)
    g = torch.Generator().manual_seed(seed)
    x = draw(m, n, steps=steps, generator=g, K=K, guidance_scale=guidance_scale, progress=True)
    save_sample_grid(x.cpu().numpy(), out)
    typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add the ``train`` and ``sample`` commands to the top-level app."""
    app.command("train")(train)
    app.command("sample")(sample)
