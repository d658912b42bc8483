"""Paper Figure 5 analogue: effective K of random 3D designs against the Voigt–Reuss bounds.

    python experiments/voigt_reuss.py [--count 500] [--size 16] [--seed 0] [--out docs/voigt_reuss.png]

Designs are drawn like the 3D training data (materials.MaterialTable.builtin, balanced chunk
sampling, microstructure.generate); K by matdesign.fem. Plots E_m/E_p against K/b⁻ (Reuss, clipped
at 2 like the paper) and K/b⁺ (Voigt), and prints the number of samples outside the bounds.
"""

from __future__ import annotations

import argparse
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from matdesign.atomic import save_figure
from matdesign.fem import Homogenizer, bulk_from_young, voigt_reuss_bounds  # noqa: E402
from matdesign.materials import MaterialTable  # noqa: E402
from matdesign.microstructure import generate, sample_design  # noqa: E402


def run(count: int, size: int, seed: int):
    rng = np.random.default_rng(seed)
    table = MaterialTable.builtin()
    hom = Homogenizer(3, size, tol=1e-8)
    rows = []
    for _ in range(count):
        d = sample_design(table, rng, 3)
        ms = generate(d.matrix, d.particle, diameter=d.diameter, volume_fraction=d.volume_fraction,
                      size=size, dim=3, rng=rng)
        K = float(hom.bulk_modulus(ms.fields[0].astype(np.float64), ms.fields[1].astype(np.float64)))
        f = ms.volume_fraction
        # phase properties as stored in the (float32) fields, so the bounds refer to the solved material
        E_p, nu_p = (np.float64(np.float32(v)) for v in (d.particle.E, d.particle.nu))
        E_m, nu_m = (np.float64(np.float32(v)) for v in (d.matrix.E, d.matrix.nu))
        K_phase = np.array([bulk_from_young(E_m, nu_m, 3), bulk_from_young(E_p, nu_p, 3)])
        reuss, voigt = voigt_reuss_bounds(K_phase, np.array([1 - f, f]))
        rows.append((d.matrix.E / d.particle.E, K, reuss, voigt))
    return np.array(rows)


def plot(rows: np.ndarray, path: str, size: int) -> None:
    ratio, K, reuss, voigt = rows.T
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharey=True)
    for ax, q, label in ((axes[0], np.minimum(K / reuss, 2.0), "K / b⁻ (Reuss), clipped at 2"),
                         (axes[1], K / voigt, "K / b⁺ (Voigt)")):
        ax.scatter(q, ratio, s=6, alpha=0.6)
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_xlabel(label)
        ax.set_yscale("log")
    axes[0].set_ylabel("E_matrix / E_particle")
    outside = int(np.sum((K < reuss * (1 - 1e-9)) | (K > voigt * (1 + 1e-9))))
    fig.suptitle(f"{len(K)} random 3D designs ({size}³ voxels): {outside} outside the Voigt–Reuss bounds")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="docs/voigt_reuss.png")
    args = parser.parse_args()
    tic = time.perf_counter()
    rows = run(args.count, args.size, args.seed)
    plot(rows, args.out, args.size)
    ratio, K, reuss, voigt = rows.T
    print(f"{len(K)} samples in {time.perf_counter() - tic:.0f} s; below Reuss: {int(np.sum(K < reuss * (1 - 1e-9)))}, "
          f"above Voigt: {int(np.sum(K > voigt * (1 + 1e-9)))}; min K/b⁻ − 1 = {np.min(K / reuss) - 1:.2e}, "
          f"max K/b⁺ − 1 = {np.max(K / voigt) - 1:.2e}; wrote {args.out}")


if __name__ == "__main__":
    main()
