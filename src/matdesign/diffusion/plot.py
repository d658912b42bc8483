"""Figures of the diffusion part: the training loss curve and RGB grids of sampled fields."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from matdesign.atomic import atomic_path, save_figure


def _save(fig, path: str | os.PathLike) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    return save_figure(fig, path, dpi=120, bbox_inches="tight")


def plot_loss(steps, losses, lrs, path: str | os.PathLike) -> Path:
    """Loss (log scale) and learning rate against the training step, saved as an image."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5))
    ax = fig.add_subplot()
    ax.plot(steps, losses, lw=1, color="C0")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (v-prediction MSE)", color="C0")
    ax2 = ax.twinx()
    ax2.plot(steps, lrs, lw=1, color="C1")
    ax2.set_ylabel("learning rate", color="C1")
    fig.tight_layout()
    return _save(fig, path)


def fields_to_rgb(x: np.ndarray) -> np.ndarray:
    """Normalized fields (B, 3, *grid) → RGB images (B, H, W, 3) in [0, 1]: (E, ν, ρ) → (r, g, b).

    3D fields show their three orthogonal mid-slices side by side (a 1-pixel white gap between).
    """
    x = np.clip((np.asarray(x, dtype=np.float32) + 1.0) / 2.0, 0.0, 1.0)
    if x.ndim == 4:
        return x.transpose(0, 2, 3, 1)
    if x.ndim != 5:
        raise ValueError(f"fields must be (B, 3, H, W) or (B, 3, D, H, W), got {x.shape}")
    d, h, w = x.shape[2:]
    slices = [x[:, :, d // 2], x[:, :, :, h // 2], x[:, :, :, :, w // 2]]
    height = max(s.shape[2] for s in slices)
    gap = np.ones((x.shape[0], 3, height, 1), np.float32)
    padded = []
    for s in slices:
        pad = np.ones((x.shape[0], 3, height, s.shape[3]), np.float32)
        pad[:, :, : s.shape[2]] = s
        padded += [pad, gap]
    return np.concatenate(padded[:-1], axis=3).transpose(0, 2, 3, 1)


def save_sample_grid(x: np.ndarray, path: str | os.PathLike, ncols: int | None = None) -> Path:
    """Tile the RGB images of normalized fields ``x`` (B, 3, *grid) into one PNG (2-pixel white gaps)."""
    import matplotlib.image

    rgb = fields_to_rgb(x)
    n, h, w, _ = rgb.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    g = 2
    canvas = np.ones((nrows * (h + g) - g, ncols * (w + g) - g, 3), np.float32)
    for i in range(n):
        r, c = divmod(i, ncols)
        canvas[r * (h + g): r * (h + g) + h, c * (w + g): c * (w + g) + w] = rgb[i]
    path = Path(path)
    with atomic_path(path, suffix=path.suffix or ".png") as tmp:
        matplotlib.image.imsave(tmp, canvas, format=(path.suffix.lstrip(".") or "png"))
    return path
