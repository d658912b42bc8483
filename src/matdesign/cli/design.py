"""``matdesign design``: from a target bulk modulus (or G, E, ν) to ranked, verified, buildable designs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    """Add the ``design`` command to ``app``."""
    app.command("design")(design_command)


def design_command(
    target_K: Optional[float] = typer.Option(None, "--target-K", help="Target effective bulk modulus K* [GPa] (2D: plane-stress K); same as --property K --target."),
    prop: str = typer.Option("K", "--property", help="Target property: K (bulk), G (shear), E (Young's) modulus [GPa] or nu (Poisson ratio); isotropic estimates, 2D plane stress."),
    target: Optional[float] = typer.Option(None, "--target", help="Target value of --property [GPa; ν dimensionless]."),
    dim: int = typer.Option(2, "--dim", help="2 (64×64) or 3 (32³)."),
    samples: Optional[int] = typer.Option(None, "--samples", help="Number of guided samples to draw (default 16 in 2D, 4 in 3D)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="DDIM steps per sample (default 100 in 2D, 50 in 3D)."),
    materials: Optional[Path] = typer.Option(None, "--materials", help="CSV of your own materials (name,E,nu,rho)."),
    density_weight: float = typer.Option(0.0, "--density-weight", help="λ of the density penalty (paper's J₂)."),
    objective: Optional[str] = typer.Option(None, "--objective", help="absolute (paper's J₁; default for K, G, E) or relative (X_ref²·(X/X*−1)²; default for nu)."),
    step_clip: Optional[float] = typer.Option(None, "--step-clip", help="Guidance trust region C: each guidance step's RMS ≤ C·σ_t (beyond the paper; default 0.01; inf: off, the unclipped DPS step, which this package called the paper's sampler before the official release: docs/official_release.md)."),
    refine: bool = typer.Option(True, "--refine/--no-refine", help="Tune the volume fraction to the target (beyond the paper; not for nu)."),
    tolerance: float = typer.Option(1.0, "--tolerance", help="Tolerance for robust ranking [% of the target; for nu: hundredths, 1 → ±0.01]."),
    rank: str = typer.Option("robust", "--rank", help="robust (P within tolerance) or error."),
    verify_n: int = typer.Option(10, "--verify-n", help="Random arrangements per verification."),
    definition: str = typer.Option("composite", "--definition", help="composite (the bulk composite's K: periodic RVEs, no walls; default), composite-fine (the same at twice the resolution, slower), cell (the paper's walled cell with affine boundary conditions) or paper (that cell under the official release's uniaxial load, K only). Verification, refinement, tolerance and ranking use it; with composite the paper-cell value is shown beside it."),
    top: int = typer.Option(5, "--top", help="How many distinct designs within the tolerance to find and show."),
    closure: bool = typer.Option(True, "--closure/--no-closure", help="Design closure (K): also try material pairs near each sample's phases and from the whole table, screened by a mean-field estimate, refined and verified on fresh arrangements, until --top designs are found or --time-limit passes. --no-closure refines each sample's own pair only (the behaviour before 2026-12-07)."),
    search: str = typer.Option("both", "--search", help="Where closure takes pairs from: both (the samples' neighbourhoods, then the whole table; default), model or physics (the table alone, no sampling)."),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", help="Wall-time budget in seconds (default 110 in 2D, 480 in 3D): guidance stops after half of it (the remaining steps run unguided), closure starts no new candidate or refinement step after it."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model folder (default: the shipped model)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same results)."),
    out: Path = typer.Option(Path("design-out"), "--out", help="Output folder: written as one unit (a hidden partial folder beside it, renamed into place at the end, manifest.json last)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier run in --out."),
) -> None:
    """Design composites whose FEM-verified bulk modulus matches --target-K (or --property G/E/nu matches --target)."""
    from matdesign.cli.common import check_design_options, run_staged

    chosen, model = check_design_options(target=target, target_K=target_K, prop=prop, dim=dim, samples=samples, steps=steps,
                                  materials=materials, density_weight=density_weight, objective=objective,
                                  step_clip=step_clip, tolerance=tolerance, rank=rank, verify_n=verify_n,
                                  definition=definition, top=top, search=search, time_limit=time_limit,
                                  model=model, device=device, seed=seed, out=out)
    with run_staged(out, kind="design", overwrite=overwrite) as (folder, command):
        from matdesign.pipeline.inverse_design import design
        from matdesign.pipeline.output import print_result, save_result
        from matdesign.pipeline.sampling import DEFAULT_STEP_CLIP
        from matdesign.provenance import versions

        result = design(chosen, property=prop, dim=dim, samples=samples, steps=steps,
                        materials=materials, density_weight=density_weight, objective=objective, refine=refine,
                        tolerance=tolerance / 100.0, rank=rank, verify_n=verify_n, model=model, device=device,
                        seed=seed, step_clip=DEFAULT_STEP_CLIP if step_clip is None else step_clip, definition=definition, closure=closure, search=search,
                        top=top, time_limit=time_limit)
        print_result(result, top)
        save_result(result, folder, top=top, command=command, versions=versions())
    print(f"results: {out}/results.json, report: {out}/report.html")
