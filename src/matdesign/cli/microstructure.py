"""``matdesign microstructure``: generate one random microstructure and write PNG / VTK / .npz."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Random matrix–particle microstructures.", no_args_is_help=True)


@app.command()
def show(
    matrix: str = typer.Option(..., "--matrix", help="Matrix material name (built-in table)."),
    particle: str = typer.Option(..., "--particle", help="Particle material name (built-in table)."),
    diameter: float = typer.Option(..., "--diameter", help="Particle diameter relative to the cell."),
    vf: float = typer.Option(..., "--vf", help="Particle volume fraction."),
    dim: int = typer.Option(2, "--dim", help="Spatial dimension, 2 or 3."),
    size: int = typer.Option(64, "--size", help="Voxels per axis."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the particle placement."),
    out: Path = typer.Option(..., "--out", help="PNG picture to write."),
    vtk: Optional[Path] = typer.Option(None, "--vtk", help="Also write a VTK mesh (.vtu or .vtk)."),
    npz: Optional[Path] = typer.Option(None, "--npz", help="Also write the microstructure (.npz)."),
) -> None:
    """Generate one microstructure and picture it (2D: E, ν, ρ maps; 3D: mid-slices of E)."""
    from matdesign.cli import checks, paths

    checks.dim(dim)
    checks.number("--diameter", diameter, low=0, high=1, low_open=True, hint="a fraction of the cell, e.g. 0.2")
    checks.number("--vf", vf, low=0, high=0.9, hint="a volume fraction, e.g. 0.3")
    checks.grid_size(size, dim)
    checks.seed(seed)
    paths.output_file("--out", out, (".png",))
    paths.output_file("--vtk", vtk, (".vtu", ".vtk"))
    paths.output_file("--npz", npz, (".npz",))
    import numpy as np

    from matdesign.materials import MaterialTable

    table = MaterialTable.builtin()
    matrix = paths.material_name("--matrix", matrix, table.names)
    particle = paths.material_name("--particle", particle, table.names)
    from matdesign.microstructure import generate, render_png  # after the checks: it imports scipy.spatial

    ms = generate(
        table[table.index(matrix)], table[table.index(particle)], diameter=diameter,
        volume_fraction=vf, size=size, dim=dim, rng=np.random.default_rng(seed),
    )
    written = [render_png(ms, out)]
    if vtk is not None:
        written.append(ms.to_vtk(vtk))
    if npz is not None:
        written.append(ms.save(npz))
    typer.echo(
        f"{ms.n_particles} particles, diameter {ms.diameter:.4g}, voxel volume fraction "
        f"{ms.volume_fraction:.4f}; wrote {', '.join(map(str, written))}"
    )
