"""Scatter plots of a material table (E–ν, E–ρ, ν–ρ) with the paper's chunk grid and coverage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from matdesign.atomic import save_figure
from matdesign.materials.chunks import N_SEGMENTS, PAPER_FILTER, chunk_segments
from matdesign.materials.table import MaterialTable

_AXES = (("E", "E [GPa]"), ("nu", "ν"), ("rho", "ρ [g/cm³]"))
_PANELS = ((0, 1), (0, 2), (1, 2))


def plot_table(table: MaterialTable, path, *, dpi: int = 80) -> Path:
    """Write a PNG with three projections of ``table`` coloured by category.

    Grey cells: projections of the non-empty chunks of the 10×10×10 grid over the paper's box.
    """
    values = (table.E, table.nu, table.rho)
    bounds = PAPER_FILTER.bounds
    covered = chunk_segments(table.nonempty_chunks())
    categories = sorted(set(table.categories))
    colors = {c: f"C{i % 10}" for i, c in enumerate(categories)}
    fig = Figure(figsize=(13, 4.4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    for ax, (a, b) in zip(axes, _PANELS):
        wa, wb = (bounds[a, 1] - bounds[a, 0]) / N_SEGMENTS, (bounds[b, 1] - bounds[b, 0]) / N_SEGMENTS
        for ia, ib in {(int(s[a]), int(s[b])) for s in covered}:
            ax.add_patch(Rectangle((bounds[a, 0] + ia * wa, bounds[b, 0] + ib * wb), wa, wb,
                                   facecolor="0.88", edgecolor="none", zorder=0))
        for k in range(N_SEGMENTS + 1):
            ax.axvline(bounds[a, 0] + k * wa, color="0.75", lw=0.4, zorder=1)
            ax.axhline(bounds[b, 0] + k * wb, color="0.75", lw=0.4, zorder=1)
        for cat in categories:
            rows = np.array([c == cat for c in table.categories])
            ax.scatter(values[a][rows], values[b][rows], s=12, color=colors[cat], label=cat or "(none)", zorder=2)
        ax.set_xlim(min(bounds[a, 0], values[a].min()), max(bounds[a, 1], values[a].max()))
        ax.set_ylim(min(bounds[b, 0], values[b].min()), max(bounds[b, 1], values[b].max()))
        ax.set_xlabel(_AXES[a][1])
        ax.set_ylabel(_AXES[b][1])
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.suptitle(f"{len(table)} materials; {len(covered)} of {N_SEGMENTS ** 3} chunks non-empty "
                 "(grey: projections of non-empty chunks)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=dpi, format="png")
