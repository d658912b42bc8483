"""``matdesign materials list|check|plot``: inspect the built-in table or a user CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from matdesign.errors import InputError

app = typer.Typer(help="The table of real materials (E [GPa], ν, ρ [g/cm³]).", no_args_is_help=True)

_CSV_HELP = "Material CSV (name,E,nu,rho[,category,source]; GPa, -, g/cm³) instead of the built-in table."
_ALL_HELP = "Also show materials outside the paper's box (0 < E ≤ 500 GPa, 0 < ν < 0.5, 0 < ρ < 10 g/cm³)."


def _load(csv: Optional[Path], include_all: bool):
    """(shown table, number of rows hidden by the paper's filter)."""
    from matdesign.cli import paths
    from matdesign.materials import PAPER_FILTER, MaterialTable

    paths.input_file("--csv", csv)
    full = MaterialTable.from_csv(csv) if csv else MaterialTable.builtin(filter=None)
    if include_all:
        return full, 0
    try:
        shown = full.select(PAPER_FILTER)
    except InputError as err:
        raise InputError(f"{err}; use --all to list them anyway") from None
    return shown, len(full) - len(shown)


@app.command("list")
def list_materials(
    csv: Optional[Path] = typer.Option(None, "--csv", help=_CSV_HELP),
    include_all: bool = typer.Option(False, "--all", help=_ALL_HELP),
) -> None:
    """Print the materials as an aligned table followed by a count line."""
    table, hidden = _load(csv, include_all)
    header = ("name", "category", "E [GPa]", "nu", "rho [g/cm3]", "source")
    rows = [(m.name, m.category, f"{m.E:.4g}", f"{m.nu:.4g}", f"{m.rho:.4g}", m.source) for m in table]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    for r in [header, *rows]:
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1]), *(r[i].rjust(widths[i]) for i in (2, 3, 4)), r[5]]
        typer.echo("  ".join(cells).rstrip())
    note = f"; {hidden} outside the paper's box not shown (--all shows them)" if hidden else ""
    typer.echo(f"{table.summary()}; {len(table.nonempty_chunks())} of 1000 chunks non-empty{note}")


@app.command("check")
def check(file: Path = typer.Argument(..., help="Material CSV to validate.")) -> None:
    """Validate a material CSV: one 'ok: ...' line (exit 0) or the error (exit 2)."""
    from matdesign.cli import paths
    from matdesign.materials import PAPER_FILTER, MaterialTable

    paths.input_file("FILE", file)
    table = MaterialTable.from_csv(file)
    outside = len(table) - int(PAPER_FILTER.mask(table.E, table.nu, table.rho).sum())
    typer.echo(f"ok: {table.summary()}; {outside} outside the paper's box; "
               f"{len(table.nonempty_chunks())} of 1000 chunks non-empty")


@app.command("plot")
def plot(
    out: Path = typer.Option(Path("materials.png"), "--out", help="PNG to write."),
    csv: Optional[Path] = typer.Option(None, "--csv", help=_CSV_HELP),
    include_all: bool = typer.Option(False, "--all", help=_ALL_HELP),
) -> None:
    """Scatter E–ν, E–ρ, ν–ρ coloured by category, with the non-empty chunks shaded."""
    from matdesign.cli import paths

    paths.output_file("--out", out, (".png", ".pdf", ".svg"))
    table, _ = _load(csv, include_all)
    from matdesign.materials.plot import plot_table

    plot_table(table, out)
    typer.echo(f"wrote {out} ({len(table)} materials, {len(table.nonempty_chunks())} non-empty chunks)")
