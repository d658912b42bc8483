"""Figures of an evaluation: generated samples ordered by error quantile (like the paper's Figures 1–2)
and the distribution of K per target."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from matdesign.atomic import save_figure
from matdesign.evaluate.results import Evaluation, TargetResult


def _errors(result: TargetResult, stage: str = "raw", protocol: str = "paper") -> np.ndarray:
    """ε_r of K_θ per sample (inf where the verification failed)."""
    eps = [s[stage][protocol]["relative_error"] if stage in s else None for s in result.samples]
    return np.array([math.inf if e is None else e for e in eps])


def _values(result: TargetResult, stage: str, key: str) -> np.ndarray:
    """K_θ (paper protocol) of ``stage``, or K_s (``key="K_s"``), finite values only [GPa]."""
    vals = [s.get("K_s") if key == "K_s" else s.get(stage, {}).get("paper", {}).get("K") for s in result.samples]
    vals = np.array([v for v in vals if v is not None], dtype=float)
    return vals[np.isfinite(vals)]


def quantile_picks(errors: np.ndarray, columns: int) -> np.ndarray:
    """Indices of the samples at ``columns`` evenly spaced quantiles of ``errors`` (best first)."""
    order = np.argsort(errors, kind="stable")
    return order[np.round(np.linspace(0, len(order) - 1, min(columns, len(order)))).astype(int)]


def _save(fig, path) -> Path:
    return save_figure(fig, path, dpi=110, bbox_inches="tight")


def sample_grid_png(ev: Evaluation, out, path, columns: int = 6) -> Path:
    """Rows = targets, columns = raw samples at evenly spaced quantiles of ε_r (paper protocol); each
    panel the E field (2D; 3D: mid-slice), log colour scale, labelled K_s, K_θ and ε_r."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    from matdesign.evaluate.store import load_target_fields

    rows = [(r, load_target_fields(out, r.target)) for r in ev.results]
    cols = min(columns, max(len(f) for _, f in rows))
    E = np.concatenate([f[:, 0].ravel() for _, f in rows])
    norm = LogNorm(vmin=max(float(E.min()), 1e-4), vmax=max(float(E.max()), 1e-3))
    fig = Figure(figsize=(1.9 * cols + 1, 2.2 * len(rows)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(rows), cols, squeeze=False))
    for row, (result, fields) in zip(axes, rows):
        errors = _errors(result)
        picks = quantile_picks(errors, cols)
        for j, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(picks):
                ax.axis("off")
                continue
            i = picks[j]
            e = fields[i, 0]
            img = e if e.ndim == 2 else e[:, :, e.shape[2] // 2]
            im = ax.imshow(img.T, origin="lower", cmap="viridis", norm=norm)
            s = result.samples[i]
            K = s["raw"]["paper"]["K"]
            eps = "failed" if not math.isfinite(errors[i]) else f"{100 * errors[i]:.3g} %"
            ax.set_title(f"K_s {s['K_s']:.3g}, K_θ {'–' if K is None else format(K, '.3g')}\nε_r {eps}", fontsize=7)
        row[0].set_ylabel(f"K* = {result.target:.3g} GPa", fontsize=8)
    fig.colorbar(im, ax=axes, shrink=0.6, label="E [GPa]")
    fig.suptitle("Generated samples at evenly spaced quantiles of ε_r (best left); K in GPa", fontsize=9)
    return _save(fig, path)


def k_histograms_png(ev: Evaluation, path) -> Path:
    """Per target: histograms of K_θ (paper protocol; raw and refined) and K_s, K* and its ±5 % band,
    on a log axis when the values span more than a decade."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    n = len(ev.results)
    fig = Figure(figsize=(3.2 * n, 2.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n, squeeze=False)[0])
    for ax, result in zip(axes, ev.results):
        t = result.target
        series = [("K_s (sample)", _values(result, "raw", "K_s"), "0.6"), ("K_θ raw", _values(result, "raw", "K"), "C0")]
        if "refined" in ev.stages:
            series.append(("K_θ refined", _values(result, "refined", "K"), "C2"))
        positive = np.concatenate([v[v > 0] for _, v, _ in series] + [np.array([t])])
        lo, hi = positive.min() * 0.9, positive.max() * 1.1
        log = hi / lo > 10
        bins = np.geomspace(lo, hi, 30) if log else np.linspace(lo, hi, 30)
        for label, values, color in series:
            ax.hist(values[values > 0], bins=bins, histtype="step", lw=1.5, color=color, label=label)
        ax.axvspan(0.95 * t, 1.05 * t, color="C3", alpha=0.15)
        ax.axvline(t, color="C3", ls="--", lw=1, label="K* (±5 %)")
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("K [GPa]")
        ax.set_title(f"K* = {t:.3g} GPa", fontsize=9)
    axes[0].set_ylabel("designs")
    axes[-1].legend(fontsize=7)
    return _save(fig, path)
