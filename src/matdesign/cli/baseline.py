"""``matdesign baseline bo|cfg``: the paper's alternative inverse-design methods, with ``design``'s outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Baselines the paper compares against (Table 2).", no_args_is_help=True)


@app.command("bo")
def bo_command(
    target_K: float = typer.Option(..., "--target-K", help="Target effective bulk modulus K* [GPa] (2D: plane-stress K)."),
    samples: int = typer.Option(200, "--samples", help="Designs drawn from each run's final surrogate (paper: 200)."),
    iterations: int = typer.Option(1000, "--iterations", help="UCB iterations per run (paper: 1,000)."),
    runs: int = typer.Option(1, "--runs", help="Independent optimisations (paper: 3 seeds)."),
    init_points: int = typer.Option(5, "--init-points", help="Random evaluations before the first UCB step."),
    kappa: float = typer.Option(1.0, "--kappa", help="UCB exploration weight κ (paper: 1)."),
    objective: str = typer.Option("relative", "--objective", help="relative ((K−K*)/K*)² or absolute (paper's J₁)."),
    relaxed: bool = typer.Option(False, "--relaxed", help="Evaluate continuous materials during the search "
                                 "(default, as in the paper: nearest real materials)."),
    dim: int = typer.Option(2, "--dim", help="2 or 3."),
    size: Optional[int] = typer.Option(None, "--size", help="Grid size per axis of the paper's cell (--definition cell or paper; default 64 in 2D, 32 in 3D)."),
    eval_n: int = typer.Option(10, "--eval-n", help="Random arrangements per objective evaluation."),
    verify_n: int = typer.Option(10, "--verify-n", help="Random arrangements per final verification."),
    definition: str = typer.Option("composite", "--definition", help="composite (the bulk composite's K: periodic RVEs, no walls; default), cell (the paper's walled cell with affine boundary conditions) or paper (that cell under the official release's uniaxial load, K only). Verification, the search's objective and ranking use it; with composite the paper-cell K is shown beside it."),
    materials: Optional[Path] = typer.Option(None, "--materials", help="CSV of your own materials (name,E,nu,rho)."),
    tolerance: float = typer.Option(1.0, "--tolerance", help="Tolerance on K for robust ranking [%]."),
    rank: str = typer.Option("robust", "--rank", help="robust (P within tolerance) or error."),
    top: int = typer.Option(5, "--top", help="How many designs to show."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same results)."),
    out: Path = typer.Option(Path("bo-out"), "--out", help="Output folder (written as one unit, manifest.json last)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier run in --out."),
) -> None:
    """Bayesian optimisation (GP + UCB) of the relaxed design, backprojected to real materials."""
    from matdesign.cli import checks, paths
    from matdesign.cli.common import OBJECTIVES, RANKS, check_reachable, run_staged

    checks.target("K", target_K, "--target-K")
    checks.dim(dim)
    for option, value, high in (("--samples", samples, 100_000), ("--iterations", iterations, 100_000),
                                ("--runs", runs, 100), ("--init-points", init_points, 10_000),
                                ("--eval-n", eval_n, 10_000), ("--verify-n", verify_n, 10_000)):
        checks.integer(option, value, 1, high)
    if size is not None:
        checks.grid_size(size, dim, per_item=eval_n)
    checks.number("--kappa", kappa, low=0)
    checks.choice("--objective", objective, OBJECTIVES)
    checks.choice("--definition", definition, checks.DEFINITIONS)
    checks.choice("--rank", rank, RANKS)
    checks.percent("--tolerance", tolerance, "1 for ±1 %")
    checks.top(top)
    checks.seed(seed)
    paths.materials_csv(materials)
    check_reachable("K", target_K, dim, "--target-K", materials)
    paths.output_folder("--out", out)
    with run_staged(out, kind="baseline-bo", overwrite=overwrite) as (folder, command):
        from matdesign.atomic import write_text_atomic
        from matdesign.baselines.bo import bayesian_optimization
        from matdesign.provenance import versions
        from matdesign.pipeline.output import print_result, save_result

        result = bayesian_optimization(target_K, dim=dim, size=size, samples=samples, runs=runs, iterations=iterations,
                                       init_points=init_points, kappa=kappa, objective=objective, eval_n=eval_n,
                                       verify_n=verify_n, relaxed=relaxed, materials=materials,
                                       tolerance=tolerance / 100.0, rank=rank, seed=seed, definition=definition)
        print_result(result, top)
        summary = (f"Bayesian optimisation baseline: target K* = {result.target_K:g} GPa, "
                   f"{dim}D {result.size}^{dim} grid, {runs} run(s) × {iterations} UCB iterations, "
                   f"{samples} designs per run, K in the {result.settings['definition']} definition, "
                   f"total {result.total_seconds:.1f} s")
        save_result(result, folder, top=top, command=command,
                    versions={**versions(), "bayes_opt": result.settings["bayes_opt"]}, summary=summary,
                    title="matdesign BO baseline report")
        write_text_atomic(folder / "bo_trace.json", json.dumps(
            [{"run": r.run, "seed": r.seed, "seconds": r.seconds, "evaluations": r.trace} for r in result.runs],
            indent=1, default=float))
    print(f"results: {out}/results.json, trace: {out}/bo_trace.json, report: {out}/report.html")


@app.command("cfg")
def cfg_command(
    target_K: float = typer.Option(..., "--target-K", help="Target effective bulk modulus K* [GPa] (2D: plane-stress K)."),
    samples: int = typer.Option(200, "--samples", help="Conditional samples to draw (paper: 200)."),
    steps: int = typer.Option(100, "--steps", help="DDIM steps per sample (paper: 100)."),
    guidance_scale: float = typer.Option(0.5, "--guidance-scale", help="CFG weight w, v = (1+w)·v(K*) − w·v(∅) "
                                         "(Ho & Salimans; paper: 0.5; 0 = conditional, −1 = unconditional)."),
    model: Optional[Path] = typer.Option(None, "--model", help="K-conditional model: a folder or a shipped model's name (default: 2d-cond)."),
    materials: Optional[Path] = typer.Option(None, "--materials", help="CSV of your own materials (name,E,nu,rho)."),
    verify_n: int = typer.Option(10, "--verify-n", help="Random arrangements per verification."),
    definition: str = typer.Option("composite", "--definition", help="composite (the bulk composite's K: periodic RVEs, no walls; default), cell (the paper's walled cell with affine boundary conditions) or paper (that cell under the official release's uniaxial load, K only). Verification and ranking use it; with composite the paper-cell K is shown beside it."),
    tolerance: float = typer.Option(1.0, "--tolerance", help="Tolerance on K for robust ranking [%]."),
    rank: str = typer.Option("robust", "--rank", help="robust (P within tolerance) or error."),
    top: int = typer.Option(5, "--top", help="How many designs to show."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same results)."),
    out: Path = typer.Option(Path("cfg-out"), "--out", help="Output folder (written as one unit, manifest.json last)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier run in --out."),
) -> None:
    """Classifier-free guidance of a K-conditional diffusion model, backprojected to real materials."""
    from matdesign.cli import checks, paths
    from matdesign.cli.common import RANKS, check_reachable, check_sampling, run_staged

    checks.target("K", target_K, "--target-K")
    checks.number("--guidance-scale", guidance_scale)
    checks.integer("--verify-n", verify_n, 1, 10_000)
    checks.choice("--definition", definition, checks.DEFINITIONS)
    checks.choice("--rank", rank, RANKS)
    checks.percent("--tolerance", tolerance, "1 for ±1 %")
    checks.top(top)
    checks.seed(seed)
    checks.device(device)
    model = paths.model(model, 2)
    check_sampling(model, "2d-cond", samples, steps)
    paths.materials_csv(materials)
    check_reachable("K", target_K, 2, "--target-K", materials)  # the conditional models are 2D
    paths.output_folder("--out", out)
    with run_staged(out, kind="baseline-cfg", overwrite=overwrite) as (folder, command):
        from matdesign.baselines.cfg import classifier_free_guidance
        from matdesign.provenance import versions
        from matdesign.pipeline.output import print_result, save_result

        result = classifier_free_guidance(target_K, model=model, samples=samples, steps=steps,
                                          guidance_scale=guidance_scale, seed=seed, materials=materials,
                                          verify_n=verify_n, tolerance=tolerance / 100.0, rank=rank, device=device,
                                          definition=definition)
        print_result(result, top)
        s = result.settings
        summary = (f"Classifier-free guidance baseline: target K* = {result.target_K:g} GPa, {result.dim}D "
                   f"{result.size}^{result.dim} grid, {samples} samples, {steps} steps, w = {guidance_scale:g}, "
                   f"model {s['model']} (step {s['model_step']}, K range {s['condition_K'][0]:.3g}–"
                   f"{s['condition_K'][1]:.3g} GPa), K in the {s['definition']} definition, "
                   f"total {result.total_seconds:.1f} s")
        save_result(result, folder, top=top, command=command, versions=versions(), summary=summary,
                    title="matdesign CFG baseline report")
    print(f"results: {out}/results.json, report: {out}/report.html")
