"""PNG pictures of a microstructure (matplotlib, Agg backend)."""

from __future__ import annotations

import os
from pathlib import Path

from matdesign.atomic import save_figure

_CHANNELS = (("E", "E [GPa]"), ("nu", "ν [-]"), ("rho", "ρ [g/cm³]"))


def render_png(ms, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Write a PNG of ``ms`` (a Microstructure), atomically.

    2D: the E, ν and ρ maps side by side, each with a colorbar. 3D: the E field on the three
    orthogonal mid-slices (normal x, y, z) with one colorbar. Axis 0 is drawn horizontally (x).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4), layout="constrained")
    axes = fig.subplots(1, 3)
    mid = ms.size // 2
    if ms.dim == 2:
        panels = [(ms.fields[c], label, "x", "y") for c, (_, label) in enumerate(_CHANNELS)]
    else:
        e = ms.fields[0]
        panels = [
            (e[mid, :, :], f"E [GPa], x = {(mid + 0.5) / ms.size:.3f}", "y", "z"),
            (e[:, mid, :], f"E [GPa], y = {(mid + 0.5) / ms.size:.3f}", "x", "z"),
            (e[:, :, mid], f"E [GPa], z = {(mid + 0.5) / ms.size:.3f}", "x", "y"),
        ]
    lo, hi = float(ms.fields[0].min()), float(ms.fields[0].max())
    for ax, (img, title, xlabel, ylabel) in zip(axes, panels):
        limits = dict(vmin=lo, vmax=hi) if ms.dim == 3 else {}
        im = ax.imshow(img.T, origin="lower", extent=(0, 1, 0, 1), cmap="viridis", **limits)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        if ms.dim == 2:
            fig.colorbar(im, ax=ax, shrink=0.8)
    if ms.dim == 3:
        fig.colorbar(im, ax=list(axes), shrink=0.8)
    fig.suptitle(
        f"matrix {ms.matrix.name}, particle {ms.particle.name}: {ms.n_particles} particles, "
        f"d = {ms.diameter:.3g}, vf = {ms.volume_fraction:.3f} ({ms.size}^{ms.dim} voxels)"
    )
    return save_figure(fig, path, format="png", dpi=dpi)
