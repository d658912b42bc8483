"""Write a :class:`DesignResult`: table for the terminal, results.json/.csv, images, VTK/npz, report.html."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from pathlib import Path

import numpy as np

from matdesign.atomic import write_text_atomic
from matdesign.verification import PROPERTIES, density
from matdesign.verification.verify import arrangement
from matdesign.microstructure import render_png
from matdesign.pipeline.ranking import shown_candidates
from matdesign.pipeline.results import Candidate, DesignResult
from matdesign.pipeline.report import figure_png, write_report


def _fmt(x: float, spec: str = ".3g") -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _quantity(result: DesignResult) -> tuple[str, str]:
    """(symbol, unit suffix) of the targeted property: ("K", " GPa") … ("ν", "")."""
    symbol, _, unit = PROPERTIES[result.prop]
    return symbol, f" {unit}" if unit else ""


def _error_text(result: DesignResult, err: float) -> str:
    """An error for people: percent of the target for a modulus, absolute for ν."""
    return _fmt(err, ".3f") if result.prop == "nu" else f"{_fmt(100 * err, '.2f')} %"


def candidate_record(result: DesignResult, c: Candidate, rank: int) -> dict:
    """Everything about one candidate, raw and refined, as JSON-ready values (keys named after the
    property: ``K_mean``, ``G_mean``, ``nu_mean``…; ``relative_error`` is absolute for ν)."""
    p = result.prop

    def part(design, ver, err):
        return {
            "matrix": design.matrix.name, "particle": design.particle.name,
            "diameter": design.diameter, "volume_fraction": design.volume_fraction,
            "particle_count": design.expected_particle_count(result.dim),
            f"{p}_mean": ver.mean, f"{p}_std": ver.std, f"{p}_sem": ver.sem, f"{p}_ci95": list(ver.ci95),
            "n_arrangements": ver.n, "arrangement_seeds": ver.seeds, "arrangement_particles": ver.n_particles,
            "relative_error": err,
            "density": density(design), "flags": list(ver.flags) + list(design.diagnostics.get("flags", [])),
        }

    record = {"rank": rank, "sample": c.sample, f"{p}_s": c.value_s, "p_within_tolerance": c.p_within,
              "within_tolerance": result.found(c), "validity_flags": list(c.flags),
              "source": c.source, "definition": c.final_verification.definition,
              "raw": part(c.design, c.verification, result.error(c, refined=False))}
    if c.cell is not None:
        record[f"{p}_cell"] = {f"{p}_mean": c.cell.mean, f"{p}_std": c.cell.std, f"{p}_sem": c.cell.sem,
                               "n_arrangements": c.cell.n, "arrangement_seeds": c.cell.seeds}
    if c.refinement:
        record["refined"] = part(c.refinement.design, c.refinement.verification, result.error(c))
        record["refined"]["vf_trace"] = c.refinement.trace
        record["refined"]["bracketed"] = c.refinement.bracketed
        if c.refinement.selection is not None:
            sel = c.refinement.selection
            record["refined"]["selection"] = {f"{p}_mean": sel.mean, "arrangement_seeds": sel.seeds}
    return record


def shown(result: DesignResult, n: int) -> tuple[list[Candidate], list[Candidate]]:
    """The candidates a run shows: up to ``n`` found designs, and the closest misses (up to ``n`` minus
    the found ones, at least 3) — never a miss among the designs."""
    both = shown_candidates(result, n)
    found = [c for c in both if result.found(c)]
    return found, both[len(found):]


def found_line(result: DesignResult, n: int) -> str:
    """"found N of n within ±tol" and, when short, the nearest verified value and the range the table's phases span."""
    symbol, unit = _quantity(result)
    tol = result.settings["tolerance"]
    tol_text = f"±{tol:g}" if result.prop == "nu" else f"±{100 * tol:g} %"
    found, misses = shown(result, n)
    line = f"found {len(found)} of {n} designs within {tol_text} of {symbol}* = {result.target:g}{unit}"
    if len(found) < n and misses:
        best = min(misses, key=lambda c: result.error(c) if math.isfinite(result.error(c)) else math.inf)
        v = best.final_verification
        if v.ok:
            line += (f"; nearest miss {symbol} = {v.mean:.4g}{unit} ({_error_text(result, result.error(best))} off, "
                     f"{best.final_design.matrix.name} + {best.final_design.particle.name}"
                     + (f", {', '.join(best.flags)}" if best.flags else "") + ")")
        reach = result.settings.get("reachable")
        if reach:
            line += f"; the material table's phases span {reach[0]:.3g}–{reach[1]:.3g}{unit}"
    return line


def summary_rows(result: DesignResult, n: int, candidates: list[Candidate] | None = None) -> list[dict]:
    """The human-readable table rows of ``candidates`` (default: the shown designs and misses)."""
    symbol, unit = _quantity(result)
    value_col = f"{symbol} [{unit.strip()}]" if unit else symbol
    tol = result.settings["tolerance"]
    rows = []
    if candidates is None:
        candidates = shown_candidates(result, n)
    for rank, c in enumerate(candidates, 1):
        d, v = c.final_design, c.final_verification
        rows.append({
            "#": rank, "matrix": d.matrix.name, "particle": d.particle.name,
            "diameter": _fmt(d.diameter, ".3f"), "vf": _fmt(d.volume_fraction, ".3f"),
            "particles": _fmt(d.expected_particle_count(result.dim), ".1f"),
            value_col: f"{_fmt(v.mean, '.4g')} ± {_fmt(v.std, '.2g')}",
            "error": _error_text(result, result.error(c)),
            "raw error": _error_text(result, result.error(c, refined=False)) if c.source == "sample" else "—",
            **({f"{symbol} cell": _fmt(c.cell.mean, '.4g') if c.cell is not None else "—"}
               if result.settings.get("definition") != "cell" else {}),
            f"P(±{tol:g})" if result.prop == "nu" else f"P(±{100 * tol:g} %)": _fmt(c.p_within, ".2f"),
            "ρ [g/cm³]": _fmt(density(d), ".3g"),
            "status": _status(result, c),
        })
    return rows


def format_table(rows: list[dict]) -> str:
    """Aligned plain-text table."""
    if not rows:
        return "(no designs)"
    keys = list(rows[0])
    width = {k: max(len(str(k)), *(len(str(r[k])) for r in rows)) for k in keys}
    line = lambda r: "  ".join(str(r[k]).rjust(width[k]) if k not in ("matrix", "particle") else str(r[k]).ljust(width[k]) for k in keys)  # noqa: E731
    return "\n".join([line({k: k for k in keys}), "  ".join("-" * width[k] for k in keys), *map(line, rows)])


def legend(result: DesignResult) -> list[tuple[str, str]]:
    """(column, meaning with unit) of the report's table and of results.csv."""
    symbol, unit = _quantity(result)
    tol = result.settings["tolerance"]
    tol_text = f"±{tol:g}" if result.prop == "nu" else f"±{100 * tol:g} %"
    value = f"[{unit.strip()}]" if unit else "(dimensionless)"
    return [
        ("#", "rank: the designs within the tolerance first (in the order of 'ranked by'), then the closest misses"),
        ("matrix, particle", "the two real materials of the table (E [GPa], ν, ρ [g/cm³] in results.csv)"),
        ("diameter", "particle diameter as a fraction of the design cell's edge (dimensionless)"),
        ("vf", "particle volume fraction of the design (dimensionless); one realised arrangement differs slightly"),
        ("particles", "expected particle count per design cell (a mean, hence fractional, e.g. 15.5); "
                      "each arrangement places a whole number"),
        (f"{symbol} {value}", f"mean over fresh random arrangements ± their standard deviation, in the "
                              f"{result.settings.get('definition', 'cell')} definition"),
        ("error", f"|{symbol} − {symbol}*| relative to the target" + (" (absolute for ν)" if result.prop == "nu" else " [%]")),
        ("raw error", "the sample's own pair before volume-fraction refinement (— for a pair closure proposed)"),
        (f"{symbol} cell", f"the same design in the paper's single walled cell {value}"),
        (f"P({tol_text})", f"fraction of random arrangements within {tol_text} of the target; 'ranked by robust' "
                           "sorts by it (ties by error), 'ranked by error' by the error"),
        ("ρ [g/cm³]", "density of the composite"),
        ("status", "design (mean within the tolerance by at least one standard error, every validity rule kept) or miss, with the rules it breaks "
                   "('unrefined': the time budget ended before its pair was refined)"),
        ("results.csv", "the same designs in plain columns (moduli in GPa, diameter in cell edges, density in "
                        "g/cm³); results_columns.csv gives the unit and meaning of every column"),
        ("best.npz / best.vtu", "one realised arrangement of design #1 (its own voxel vf and particle count, "
                                "stored in best.json), not the table's nominal values"),
    ]


def _csv_legend(result: DesignResult) -> str:
    """results_columns.csv: unit and meaning of every column of results.csv."""
    p = result.prop
    unit = PROPERTIES[p][2] or "-"
    rows = [("rank", "-", "rank of the shown design (found designs first)"),
            ("matrix", "-", "matrix material"), ("particle", "-", "particle material"),
            ("E_matrix", "GPa", "Young's modulus of the matrix"), ("nu_matrix", "-", "Poisson ratio of the matrix"),
            ("E_particle", "GPa", "Young's modulus of the particles"), ("nu_particle", "-", "Poisson ratio of the particles"),
            ("diameter", "cell edge", "particle diameter as a fraction of the design cell's edge"),
            ("volume_fraction", "-", "particle volume fraction of the design"),
            (p, unit, "mean over fresh random arrangements"), (f"{p}_sem", unit, "standard error of that mean"),
            (f"{p}_std", unit, "standard deviation over the arrangements"),
            (f"{p}_cell", unit, "the paper's single walled cell"),
            ("within_tolerance", "-", "true when the design is a found design: valid, distinct, its mean within the "
                                       "tolerance of the target by at least one standard error"),
            ("relative_error", "-", "|value − target| / target (absolute for nu); 0.01 = 1 %"),
            ("p_within_tolerance", "-", "fraction of random arrangements within the tolerance"),
            ("density", "g/cm³", "composite density"),
            ("particle_count", "-", "expected particles per design cell (a mean, may be fractional)"),
            ("flags", "-", "validity rules broken"), ("source", "-", "sample or closure"),
            ("definition", "-", "the definition of the value (composite, composite-fine, cell, paper)"),
            ("sample", "-", "index of the guided sample"), ("refined", "-", "whether the volume fraction was refined")]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["column", "unit", "meaning"])
    writer.writerows(rows)
    return buf.getvalue()


def _distribution_png(result: DesignResult, n: int) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.6))
    ax = fig.add_subplot()
    symbol, unit = _quantity(result)
    means = [c.final_verification.mean for c in result.candidates if c.final_verification.ok]
    if means:
        ax.hist(means, bins=min(30, max(5, len(means))), color="#bbb", label=f"all designs (mean {symbol})")
    for rank, c in enumerate(result.top(n), 1):
        s = c.final_verification.samples
        if len(s):
            ax.plot(s, np.full(len(s), -0.15 * rank), "|", ms=10, label=f"#{rank} arrangements")
    half = result.settings["tolerance"] * result.scale
    ax.axvline(result.target, color="k", ls="--", label=f"target {symbol}*")
    ax.axvspan(result.target - half, result.target + half, color="tab:green", alpha=0.15, label="tolerance")
    ax.set_xlabel(f"{symbol} [{unit.strip()}]" if unit else symbol)
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="upper right")
    return figure_png(fig)


def save_result(result: DesignResult, out: str | Path, *, top: int = 5, command: str = "",
                versions: dict | None = None, summary: str | None = None, title: str = "matdesign design report") -> Path:
    """Write every output file into ``out`` (created if missing); ``summary``/``title`` override the report's."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records = [candidate_record(result, c, i) for i, c in enumerate(result.candidates, 1)]
    symbol, unit = _quantity(result)
    payload = {f"target_{result.prop}": result.target, "property": result.prop, "unit": unit.strip(),
               "settings": result.settings, "seconds": result.seconds,
               "command": command, "versions": versions or {}, "designs": records}
    write_text_atomic(out / "results.json", json.dumps(payload, indent=2, default=float))
    write_text_atomic(out / "results.csv", _csv(result))
    write_text_atomic(out / "results_columns.csv", _csv_legend(result))

    images = []
    for rank, c in enumerate(shown(result, top)[0], 1):
        d = c.final_design
        v = c.final_verification
        if not v.ok or not v.seeds:
            continue
        ms = arrangement(d, size=result.size, dim=result.dim, seed=v.seeds[0], n_particles=v.n_particles[0],
                         definition=v.definition)
        png = render_png(ms, out / f"design_{rank}.png")
        images.append((f"#{rank}: {d.matrix.name} + {d.particle.name}, {symbol} = {v.mean:.4g}{unit}",
                       png.read_bytes()))
        if rank == 1:
            ms.save(out / "best.npz")
            ms.to_vtk(out / "best.vtu")
            write_text_atomic(out / "best.json", json.dumps({
                "what": "one realised arrangement of design #1 (best.npz, best.vtu), not its nominal values",
                "arrangement_seed": v.seeds[0], "definition": v.definition,
                "realised_volume_fraction": float(ms.volume_fraction), "realised_particles": int(len(ms.centers)),
                "design_volume_fraction": d.volume_fraction,
                "design_expected_particles": d.expected_particle_count(result.dim)}, indent=1) + "\n")
    rows = summary_rows(result, top)
    note = result.settings.get("refine_note")
    summary = summary or (f"Target {symbol}* = {result.target:g}{unit} ({PROPERTIES[result.prop][1]}), "
                          f"{result.dim}D {result.size}^{result.dim} grid, "
                          f"{result.settings['samples']} samples, {result.settings['steps']} steps, "
                          f"total {result.total_seconds:.1f} s: {found_line(result, top)}" + (f"; {note}" if note else ""))
    write_report(out / "report.html", title=title, summary=summary, rows=rows,
                 designs=images, figures=[(f"{symbol} of the designs and the arrangements of the top designs",
                                           _distribution_png(result, top))],
                 command=command, versions=versions or {}, legend=legend(result))
    return out


def _csv(result: DesignResult) -> str:
    """One row per shown design and shown miss (final: refined where refined), found designs first: the
    plain columns of the design and its verified property — ``K`` (the run's definition: composite by
    default), ``K_sem``, ``K_cell`` (the paper's cell), ``within_tolerance`` (false for every miss;
    named after the property for G, E, ν), ``flags`` (validity rules broken), ``source``."""
    p = result.prop
    buf = io.StringIO()
    cols = ["rank", "matrix", "particle", "E_matrix", "nu_matrix", "E_particle", "nu_particle", "diameter",
            "volume_fraction", p, f"{p}_sem", f"{p}_std", f"{p}_cell", "within_tolerance", "relative_error",
            "p_within_tolerance", "density", "particle_count", "flags", "source", "definition", "sample", "refined"]
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    found, misses = shown(result, result.settings.get("top", 5))
    for rank, c in enumerate(found + misses, 1):
        d, v = c.final_design, c.final_verification
        cell = c.cell.mean if c.cell is not None else (v.mean if v.definition == "cell" else math.nan)
        writer.writerow({
            "rank": rank, "matrix": d.matrix.name, "particle": d.particle.name, "E_matrix": d.matrix.E,
            "nu_matrix": d.matrix.nu, "E_particle": d.particle.E, "nu_particle": d.particle.nu,
            "diameter": d.diameter, "volume_fraction": d.volume_fraction, p: v.mean, f"{p}_sem": v.sem,
            f"{p}_std": v.std, f"{p}_cell": cell, "within_tolerance": result.found(c),
            "relative_error": result.error(c), "p_within_tolerance": c.p_within, "density": density(d),
            "particle_count": d.expected_particle_count(result.dim), "flags": " ".join(c.flags),
            "source": c.source, "definition": v.definition, "sample": c.sample, "refined": c.refinement is not None})
    return buf.getvalue()


def print_result(result: DesignResult, top: int = 5, file=None) -> None:
    """The readable summary printed by the CLI (to ``file``, default the current ``sys.stdout``): the found
    designs, then — below a line, never as designs — the closest misses with their errors and reasons."""
    file = sys.stdout if file is None else file
    symbol, unit = _quantity(result)
    note = result.settings.get("refine_note")
    found, misses = shown(result, top)
    print(f"\n{found_line(result, top)} ({result.dim}D, {result.settings.get('definition', 'cell')} "
          f"definition, refined={result.settings['refine']}, ranked by {result.settings['rank']}):\n", file=file)
    if note:
        print(f"note: {note}\n", file=file)
    guided, steps = result.settings.get("guided_steps"), result.settings.get("steps")
    if guided is not None and steps and guided < steps:
        print(f"note: guidance stopped after {guided} of {steps} steps (half the time budget, --time-limit); "
              "the remaining steps ran unguided\n", file=file)
    if found:
        print(format_table([_drop_status(r) for r in summary_rows(result, top, found)]), file=file)
    if misses:
        print("\nmisses — not designs (outside the tolerance or breaking a validity rule):\n", file=file)
        print(format_table(summary_rows(result, top, misses)), file=file)
    total = result.total_seconds
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    print(f"\ntotal {total:.1f} s ({parts})", file=file)


def _status(result: DesignResult, c: Candidate) -> str:
    """"design", or "miss" with the rules it breaks; "unrefined" when the budget ended before its pair was tried."""
    if result.found(c):
        return "design"
    why = list(c.flags) + (["unrefined"] if result.settings.get("refine") and c.refinement is None else [])
    return "miss: " + ", ".join(why) if why else "miss"


def _drop_status(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "status"}
