"""Backprojection accuracy on clean generated microstructures, and robustness to noise.

Clean: N designs from sample_design (2D 64², 3D 32³), one random microstructure each, backprojected;
counts wrong materials (d_m > 1e-5, the paper's criterion), non-zero volume-fraction errors and the
radius error (relative to the cell), for the default ("edt") and the paper's ("paper") particle
finder. Designs whose two materials have identical (E, ν, ρ) cannot show particles and are counted
separately. Noise: Gaussian noise of std σ per channel added in normalized space (then clipped to
[−1, 1] like a diffusion sample) to 2D samples; accuracy vs σ is plotted.

    python experiments/backprojection_accuracy.py --n 10000 --n3d 1000 --noise-n 300
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from matdesign.atomic import save_figure, write_text_atomic
from matdesign.backproject import backproject
from matdesign.materials import MaterialTable
from matdesign.microstructure import generate, sample_design

SIZES = {2: 64, 3: 32}
SIGMAS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4)


def clean_samples(table, dim: int, n: int, rng):
    """n (true microstructure) samples from the paper's design distribution."""
    for _ in range(n):
        d = sample_design(table, rng, dim)
        yield generate(d.matrix, d.particle, diameter=d.diameter, volume_fraction=d.volume_fraction,
                       size=SIZES[dim], dim=dim, rng=rng)


def _props(m):
    return np.array([m.E, m.nu, m.rho])


def score(m, design) -> dict:
    """Errors of one backprojected design against the true microstructure ``m``."""
    same = np.array_equal(_props(m.matrix), _props(m.particle))
    right = (np.array_equal(_props(design.matrix), _props(m.matrix))
             and (len(m.centers) == 0 or same or np.array_equal(_props(design.particle), _props(m.particle))))
    return {
        "indistinguishable": bool(same and len(m.centers) > 0),
        "d_m": design.diagnostics["d_m"],
        "right": bool(right),
        "vf_err": abs(design.volume_fraction - m.volume_fraction),
        "r_err": abs(design.diameter / 2 - m.radius) if len(m.centers) and not same else np.nan,
        "valid": design.diagnostics["valid"],
    }


def summarize(rows: list[dict]) -> dict:
    rows = [r for r in rows if not r["indistinguishable"]]
    d_m = np.array([r["d_m"] for r in rows])
    vf = np.array([r["vf_err"] for r in rows])
    rad = np.array([r["r_err"] for r in rows])
    rad = rad[np.isfinite(rad)]
    return {
        "n": len(rows),
        "wrong_materials_dm": int((d_m > 1e-5).sum()),
        "wrong_materials": int(sum(not r["right"] for r in rows)),
        "d_m_mean": float(d_m.mean()), "d_m_p99": float(np.percentile(d_m, 99)), "d_m_max": float(d_m.max()),
        "vf_nonzero": int((vf > 0).sum()),
        "vf_err_mean": float(vf.mean()), "vf_err_p99": float(np.percentile(vf, 99)), "vf_err_max": float(vf.max()),
        "r_err_mean": float(rad.mean()), "r_err_p99": float(np.percentile(rad, 99)), "r_err_max": float(rad.max()),
        "invalid": int(sum(not r["valid"] for r in rows)),
    }


def run_clean(table, dim, n, seed):
    rng = np.random.default_rng(seed)
    rows = {"edt": [], "paper": []}
    skipped = 0
    start = time.perf_counter()
    for m in clean_samples(table, dim, n, rng):
        skipped += bool(np.array_equal(_props(m.matrix), _props(m.particle)) and len(m.centers) > 0)
        for method in rows:
            design = backproject(m.fields, table, rng=np.random.default_rng(0), method=method)
            rows[method].append(score(m, design))
    out = {method: summarize(r) for method, r in rows.items()}
    out.update(indistinguishable=skipped, seconds=time.perf_counter() - start, samples=n)
    return out


def run_noise(table, n, seed, sigmas):
    rng = np.random.default_rng(seed)
    norm = table.normalization
    clean = [m for m in clean_samples(table, 2, n, rng)
             if len(m.centers) and not np.array_equal(_props(m.matrix), _props(m.particle))]
    curve = []
    for sigma in sigmas:
        noise_rng = np.random.default_rng([seed, int(sigma * 1e6)])
        rows = []
        for m in clean:
            x = norm.normalize(m.fields.astype(np.float64), axis=0)
            x = np.clip(x + noise_rng.normal(0.0, sigma, x.shape), -1.0, 1.0)
            design = backproject(norm.denormalize(x, axis=0), table, rng=np.random.default_rng(0))
            rows.append(score(m, design))
        curve.append({
            "sigma": sigma,
            "materials_right": float(np.mean([r["right"] for r in rows])),
            "vf_err_mean": float(np.mean([r["vf_err"] for r in rows])),
            "r_err_mean": float(np.nanmean([r["r_err"] for r in rows])),
            "valid": float(np.mean([r["valid"] for r in rows])),
        })
    return {"samples": len(clean), "curve": curve}


def plot_noise(noise: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = noise["curve"]
    s = [p["sigma"] for p in c]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    a.plot(s, [p["materials_right"] for p in c], "o-", label="both materials right")
    a.plot(s, [p["valid"] for p in c], "s--", label="valid backprojection")
    a.set_xlabel("noise σ (normalized units)")
    a.set_ylabel("fraction of samples")
    a.set_ylim(-0.02, 1.02)
    a.legend()
    b.plot(s, [p["vf_err_mean"] for p in c], "o-", label="|volume fraction error|")
    b.plot(s, [p["r_err_mean"] for p in c], "s-", label="|radius error| (cell units)")
    b.set_xlabel("noise σ (normalized units)")
    b.set_yscale("log")
    b.legend()
    fig.suptitle(f"Backprojection under noise, {noise['samples']} clean 2D 64² samples")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000, help="2D clean samples")
    p.add_argument("--n3d", type=int, default=None, help="3D clean samples (default n/10)")
    p.add_argument("--noise-n", type=int, default=200, help="2D samples per noise level")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", type=Path, default=Path("docs/backprojection_noise.png"))
    p.add_argument("--json", type=Path, default=None, help="also write all numbers here")
    args = p.parse_args(argv)
    table = MaterialTable.builtin()
    n3d = args.n // 10 if args.n3d is None else args.n3d
    result = {"command": " ".join(["python experiments/backprojection_accuracy.py"] + (argv or [])),
              "2d": run_clean(table, 2, args.n, args.seed),
              "3d": run_clean(table, 3, n3d, args.seed + 1) if n3d else None,
              "noise": run_noise(table, args.noise_n, args.seed + 2, SIGMAS) if args.noise_n else None}
    print(json.dumps(result, indent=1))
    if result["noise"]:
        plot_noise(result["noise"], args.plot)
    if args.json:
        write_text_atomic(args.json, json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
