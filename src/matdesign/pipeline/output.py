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
from matdesign.evaluate import density
from matdesign.microstructure import generate, render_png
from matdesign.pipeline.design import Candidate, DesignResult
from matdesign.pipeline.report import figure_png, write_report


def _fmt(x: float, spec: str = ".3g") -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def candidate_record(result: DesignResult, c: Candidate, rank: int) -> dict:
    """Everything about one candidate, raw and refined, as JSON-ready values."""

    def part(design, ver, err):
        return {
            "matrix": design.matrix.name, "particle": design.particle.name,
            "diameter": design.diameter, "volume_fraction": design.volume_fraction,
            "particle_count": design.expected_particle_count(result.dim),
            "K_mean": ver.K, "K_std": ver.std, "K_sem": ver.sem, "K_ci95": list(ver.ci95),
            "n_arrangements": ver.n, "arrangement_seeds": ver.seeds, "relative_error": err,
            "density": density(design), "flags": list(ver.flags) + list(design.diagnostics.get("flags", [])),
        }

    record = {"rank": rank, "sample": c.sample, "K_s": c.K_s, "p_within_tolerance": c.p_within,
              "raw": part(c.design, c.verification, result.error(c, refined=False))}
    if c.refinement:
        record["refined"] = part(c.refinement.design, c.refinement.verification, result.error(c))
        record["refined"]["vf_trace"] = c.refinement.trace
        record["refined"]["bracketed"] = c.refinement.bracketed
    return record


def summary_rows(result: DesignResult, n: int) -> list[dict]:
    """The human-readable table rows of the top ``n`` designs."""
    rows = []
    for rank, c in enumerate(result.top(n), 1):
        d, v = c.final_design, c.final_verification
        rows.append({
            "#": rank, "matrix": d.matrix.name, "particle": d.particle.name,
            "diameter": _fmt(d.diameter, ".3f"), "vf": _fmt(d.volume_fraction, ".3f"),
            "particles": _fmt(d.expected_particle_count(result.dim), ".1f"),
            "K [GPa]": f"{_fmt(v.K, '.4g')} ± {_fmt(v.std, '.2g')}",
            "error": f"{_fmt(100 * result.error(c), '.2f')} %",
            "raw error": f"{_fmt(100 * result.error(c, refined=False), '.2f')} %",
            f"P(±{100 * result.settings['tolerance']:g} %)": _fmt(c.p_within, ".2f"),
            "ρ [g/cm³]": _fmt(density(d), ".3g"),
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


def _k_distribution_png(result: DesignResult, n: int) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.6))
    ax = fig.add_subplot()
    all_K = [c.final_verification.K for c in result.candidates if c.final_verification.ok]
    if all_K:
        ax.hist(all_K, bins=min(30, max(5, len(all_K))), color="#bbb", label="all designs (mean K)")
    for rank, c in enumerate(result.top(n), 1):
        s = c.final_verification.samples
        if len(s):
            ax.plot(s, np.full(len(s), -0.15 * rank), "|", ms=10, label=f"#{rank} arrangements")
    ax.axvline(result.target_K, color="k", ls="--", label="target K*")
    ax.axvspan(result.target_K * (1 - result.settings["tolerance"]), result.target_K * (1 + result.settings["tolerance"]),
               color="tab:green", alpha=0.15, label="tolerance")
    ax.set_xlabel("K [GPa]")
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="upper right")
    return figure_png(fig)


def save_result(result: DesignResult, out: str | Path, *, top: int = 5, command: str = "",
                versions: dict | None = None, summary: str | None = None, title: str = "matdesign design report") -> Path:
    """Write every output file into ``out`` (created if missing); ``summary``/``title`` override the report's."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records = [candidate_record(result, c, i) for i, c in enumerate(result.candidates, 1)]
    payload = {"target_K": result.target_K, "settings": result.settings, "seconds": result.seconds,
               "command": command, "versions": versions or {}, "designs": records}
    write_text_atomic(out / "results.json", json.dumps(payload, indent=2, default=float))
    write_text_atomic(out / "results.csv", _csv(records))

    images = []
    for rank, c in enumerate(result.top(top), 1):
        d = c.final_design
        v = c.final_verification
        if not v.ok or not v.seeds:
            continue
        ms = generate(d.matrix, d.particle, diameter=d.diameter, volume_fraction=d.volume_fraction,
                      size=result.size, dim=result.dim, rng=np.random.default_rng(v.seeds[0]),
                      n_particles=v.n_particles[0])
        png = render_png(ms, out / f"design_{rank}.png")
        images.append((f"#{rank}: {d.matrix.name} + {d.particle.name}, K = {v.K:.4g} GPa", png.read_bytes()))
        if rank == 1:
            ms.save(out / "best.npz")
            ms.to_vtk(out / "best.vtu")
    rows = summary_rows(result, top)
    summary = summary or (f"Target K* = {result.target_K:g} GPa, {result.dim}D {result.size}^{result.dim} grid, "
                          f"{result.settings['samples']} samples, {result.settings['steps']} steps, "
                          f"total {result.total_seconds:.1f} s")
    write_report(out / "report.html", title=title, summary=summary, rows=rows,
                 designs=images, figures=[("K of the designs and the arrangements of the top designs",
                                           _k_distribution_png(result, top))],
                 command=command, versions=versions or {})
    return out


def _csv(records: list[dict]) -> str:
    buf = io.StringIO()
    cols = ["rank", "sample", "stage", "matrix", "particle", "diameter", "volume_fraction", "particle_count",
            "K_mean", "K_std", "K_sem", "relative_error", "density", "K_s", "p_within_tolerance", "arrangement_seeds"]
    writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in records:
        for stage in ("raw", "refined"):
            if stage in r:
                writer.writerow({**r[stage], "rank": r["rank"], "sample": r["sample"], "stage": stage, "K_s": r["K_s"],
                                 "p_within_tolerance": r["p_within_tolerance"],
                                 "arrangement_seeds": " ".join(map(str, r[stage]["arrangement_seeds"]))})
    return buf.getvalue()


def print_result(result: DesignResult, top: int = 5, file=None) -> None:
    """The readable summary printed by the CLI (to ``file``, default the current ``sys.stdout``)."""
    file = sys.stdout if file is None else file
    print(f"\nTop {min(top, len(result.candidates))} designs for K* = {result.target_K:g} GPa "
          f"({result.dim}D, refined={result.settings['refine']}, ranked by {result.settings['rank']}):\n", file=file)
    print(format_table(summary_rows(result, top)), file=file)
    total = result.total_seconds
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    print(f"\ntotal {total:.1f} s ({parts})", file=file)
