"""``matdesign evaluate``: the paper's evaluation protocol (Table 1) of a model over five targets."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from matdesign.errors import InputError


def register(app: typer.Typer) -> None:
    """Add the ``evaluate`` command to ``app``."""
    app.command("evaluate")(evaluate_command)


def evaluate_command(
    targets: str = typer.Option(..., "--targets", help="dataset (needs --data), paper, or K1,K2,… [GPa]."),
    data: Optional[Path] = typer.Option(None, "--data", help="Dataset store whose five targets --targets dataset uses."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model: a folder or a shipped model's name (2d, 3d; default: the shipped model of --dim)."),
    dim: int = typer.Option(2, "--dim", help="2 or 3."),
    materials: Optional[Path] = typer.Option(None, "--materials", help="CSV of your own materials (name,E,nu,rho) that designs are backprojected onto (default: the built-in table)."),
    samples: int = typer.Option(50, "--samples", help="Guided samples per target."),
    steps: int = typer.Option(100, "--steps", help="DDIM steps per sample."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same results)."),
    objective: str = typer.Option("absolute", "--objective", help="absolute (paper's J₁, default) or relative."),
    mode: str = typer.Option("guided", "--mode", help="guided (default), unguided or project (Table 3 variants)."),
    step_clip: Optional[float] = typer.Option(None, "--step-clip", help="Guidance trust region C of the dps sampler: each guidance step's RMS ≤ C·σ_t (beyond the paper; default 0.01; inf: off, the same as --sampler dps-unclipped)."),
    sampler: str = typer.Option("dps", "--sampler", help="dps (ours: DPS step with the trust region --step-clip; default), dps-unclipped (the DPS step without it; called the paper's sampler here before the official release) or tfg (the official release's sampler: Training-Free Guidance, gradient L2 norm clipped to --grad-max-mag per sample, ρ = 1; docs/official_release.md)."),
    grad_max_mag: float = typer.Option(2.5, "--grad-max-mag", help="tfg only: per-sample L2 bound of the guidance gradient in normalized units (the release's 2.5; inf: off)."),
    guide: str = typer.Option("cell", "--guide", help="The K the guidance objective measures on the sampled field: cell (our affine cell K, what the shipped models were trained on; default) or paper (the official release's K; use it with --definition paper to target the paper's own numbers)."),
    definition: str = typer.Option("cell", "--definition", help="cell (the paper's walled cell with affine boundary conditions, in which the documented tables are stated; default), paper (the same cell under the official release's uniaxial load: the quantity of the paper's Table 1 numbers, K only) or composite (the bulk composite: periodic RVEs). Each design's record also holds the other one's K (--verify-n arrangements)."),
    refine: bool = typer.Option(True, "--refine/--no-refine", help="Also evaluate the volume-fraction refinement."),
    verify_n: int = typer.Option(10, "--verify-n", help="Arrangements per design in the paper's protocol."),
    sem_tol: float = typer.Option(0.25, "--sem-tol", help="Converged protocol: standard error of K below this [% of K]."),
    max_arrangements: int = typer.Option(200, "--max-arrangements", help="Converged protocol: at most this many arrangements."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Local Dask worker processes (default: one per core; 0: in-process)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://host:port) of a cluster. Dask unpickles what the scheduler sends: connect only to a cluster you trust (docs/cli.md)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda (guided sampling)."),
    out: Path = typer.Option(Path("evaluate-out"), "--out", help="Output folder (manifest.json, written last, says whether it is complete; an earlier run there needs --resume or --overwrite)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out with the same settings: finished targets are kept, damaged ones named and recomputed."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier evaluate run in --out."),
) -> None:
    """Guided sampling, backprojection and verification (paper and converged protocols) for each target;
    writes Table-1-style tables, summary.md, evaluation.json and figures into --out."""
    from matdesign.cli import checks, paths
    from matdesign.cli.common import OBJECTIVES, check_sampling, check_targets
    from matdesign.cli.invocation import invocation
    from matdesign.cli.rundir import in_place

    checks.dim(dim)
    paths.materials_csv(materials)
    check_targets(targets, data, dim, definition, materials)
    checks.choice("--objective", objective, OBJECTIVES)
    checks.choice("--mode", mode, ("guided", "unguided", "project"))
    checks.choice("--definition", definition, checks.DEFINITIONS)
    checks.number("--step-clip", step_clip, low=0, low_open=True, allow_inf=True, hint="inf turns the clip off")
    checks.choice("--sampler", sampler, ("dps", "dps-unclipped", "tfg"))
    checks.number("--grad-max-mag", grad_max_mag, low=0, low_open=True, allow_inf=True, hint="inf turns the clip off")
    checks.choice("--guide", guide, ("cell", "paper"))
    if step_clip is not None and sampler != "dps" and not (sampler == "dps-unclipped" and step_clip == float("inf")):
        raise InputError(f"--step-clip belongs to --sampler dps (this run has --sampler {sampler})")
    checks.integer("--verify-n", verify_n, 2, 10_000, "the protocols need a spread over at least 2 arrangements")
    checks.percent("--sem-tol", sem_tol, "0.25 for a standard error of 0.25 % of K")
    checks.integer("--max-arrangements", max_arrangements, verify_n, 100_000,
                   f"the converged protocol starts with the paper protocol's --verify-n {verify_n} arrangements")
    checks.parallel_resume(workers, scheduler, resume, overwrite)
    checks.seed(seed)
    checks.device(device)
    model = paths.model(model, dim)
    check_sampling(model, f"{dim}d", samples, steps)
    paths.output_folder("--out", out)
    try:
        with in_place(out, kind="evaluate", command=invocation(), legacy=("evaluation.json", "targets/K*.json"),
                      resume=resume, overwrite=overwrite):
            from matdesign.evaluate.report import comparison_markdown
            from matdesign.evaluate.runner import run_evaluation
            from matdesign.evaluate.targets import resolve_targets

            from matdesign.pipeline.checks import resolve_table

            table = resolve_table(materials)
            chosen, skipped = resolve_targets(targets, dim, data=data, table=table, definition=definition)
            for s in skipped:
                print(f"skipping target {s['target']:g} GPa: {s['reason']}")
            ev = run_evaluation(chosen, model=model, dim=dim, samples=samples, steps=steps, seed=seed, objective=objective,
                                mode=mode, step_clip=step_clip, sampler=sampler, grad_max_mag=grad_max_mag,
                                guide=guide, definition=definition, refine=refine, verify_n=verify_n,
                                sem_tol=sem_tol / 100.0, max_arrangements=max_arrangements, out=out, workers=workers,
                                scheduler=scheduler, device=device, materials=materials, skipped=skipped,
                                command=invocation())
            print("\n" + comparison_markdown(ev))
    except KeyboardInterrupt:
        typer.echo(f"interrupted: finished targets are kept in {out}/targets; continue with --resume", err=True)
        raise typer.Exit(130) from None
    print(f"total {ev.seconds:.1f} s; tables, summary.md and figures in {out}/")
