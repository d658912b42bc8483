"""``matdesign dataset``: generate labelled training datasets and report their statistics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from matdesign.errors import InputError

app = typer.Typer(help="Generate labelled microstructure datasets (HDF5) and their statistics.", no_args_is_help=True)


MAX_SAMPLES = 10_000_000


def check_disk(out: Path, n: int, size: int, dim: int) -> None:
    """InputError when the dataset's fields (float32, before compression) exceed the free disk space."""
    import shutil

    need = 4 * 3 * n * size**dim
    where = out if out.exists() else next(p for p in out.absolute().parents if p.exists())
    free = shutil.disk_usage(where).free
    if need > free:
        raise InputError(f"--n {n} --size {size}: the fields take ≈ {need / 2**30:.3g} GB before compression, "
                         f"{where} has {free / 2**30:.3g} GB free; ask for fewer or smaller samples")


@app.command()
def generate(
    out: Path = typer.Option(..., "--out", help="Output directory (DATA/dataset.h5 is written there)."),
    dim: int = typer.Option(2, "--dim", help="Spatial dimension, 2 or 3."),
    size: int = typer.Option(64, "--size", help="Grid size per axis (voxels)."),
    n: int = typer.Option(..., "--n", help="Number of samples."),
    seed: int = typer.Option(0, "--seed", help="Dataset seed; sample i depends only on (seed, i)."),
    materials: Optional[Path] = typer.Option(None, "--materials", help="Material table CSV (default: built-in)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Local worker processes (default: one per core; 0/1: in-process)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address of an existing dask scheduler, e.g. tcp://host:8786. Dask unpickles what the scheduler sends: connect only to a cluster you trust (docs/cli.md)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in OUT."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the dataset in OUT."),
    chunk: int = typer.Option(64, "--chunk", help="Samples per block (unit of work and of resumption)."),
    labels: str = typer.Option("stiffness", "--labels",
                               help="FEM labels: stiffness (tensor C and K, default), bulk (K only: one load case), "
                                    "none (fields only, K = NaN)."),
    no_labels: bool = typer.Option(False, "--no-labels", help="Same as --labels none."),
    device: Optional[str] = typer.Option(None, "--device", help="cuda: label each block as one batch on the GPU."),
) -> None:
    """Sample designs, generate microstructures, label them with the FEM and store them."""
    from matdesign.cli import checks, paths
    from matdesign.cli.invocation import invocation

    checks.dim(dim)
    checks.grid_size(size, dim, per_item=1)
    checks.integer("--n", n, 1, MAX_SAMPLES, "a dataset is one HDF5 file; split larger sets")
    checks.integer("--chunk", chunk, 1, 100_000, "samples per block")
    checks.seed(seed)
    checks.choice("--labels", labels, ("stiffness", "bulk", "none"))
    checks.parallel_resume(workers, scheduler, resume, overwrite)
    if device is not None:
        checks.device(device)
    paths.materials_csv(materials)
    paths.output_folder("--out", out)
    check_disk(out, n, size, dim)
    from matdesign.data import generate_dataset

    try:
        path = generate_dataset(
            out, dim=dim, size=size, n=n, seed=seed, materials=materials, workers=workers, scheduler=scheduler,
            resume=resume, overwrite=overwrite, chunk=chunk, labels="none" if no_labels else labels, device=device, command=invocation(),
        )
    except KeyboardInterrupt:
        typer.echo(f"interrupted: finished blocks are kept in {out}/parts; continue with --resume", err=True)
        raise typer.Exit(130) from None
    typer.echo(f"wrote {path}")


@app.command()
def stats(
    data: Path = typer.Argument(..., help="Dataset directory (or its dataset.h5)."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Save a histogram of K to this image file."),
) -> None:
    """K percentiles, the five evaluation targets (saved into the dataset metadata), chunk coverage."""
    from matdesign.cli import paths

    paths.output_file("--plot", plot, (".png", ".pdf", ".svg"))
    store = paths.dataset("DATA", data)
    from matdesign.data.store import check_store
    from matdesign.data.stats import dataset_stats, plot_k_histogram, save_targets

    check_store(store, full=True)
    s = dataset_stats(data)
    save_targets(data, s)
    p = s["K_percentiles"]
    c = s["chunks"]
    typer.echo(f"samples: {s['n']}   K range [{s['K_min']:.4g}, {s['K_max']:.4g}] GPa")
    typer.echo("K percentiles [GPa]: " + "  ".join(f"p{k}={v:.4g}" for k, v in p.items()))
    typer.echo("targets K* [GPa]: " + "  ".join(f"{t:.4g}" for t in s["targets"]))
    typer.echo(f"chunk coverage: matrix {c['matrix']}/{c['nonempty']}, particle {c['particle']}/{c['nonempty']}, "
               f"either {c['either']}/{c['nonempty']}")
    if plot is not None:
        typer.echo(f"wrote {plot_k_histogram(data, plot)}")
    typer.echo(json.dumps({"targets": s["targets"]}))
