"""Sample quality of the shipped diffusion models (issue 6).

For each model: N unguided DDIM samples (fixed seed; every 2D model starts from the same noise),
each backprojected onto the built-in material table with the model's normalization. Reported: the
fraction of valid two-phase designs (see :mod:`matdesign.evaluate.quality`), the FEM K of every raw
sample (K_s) and of every valid design on one fresh random arrangement (K_design), and the
Wasserstein-1 distances of both K samples to the training dataset's K labels, in GPa and in
log₁₀ K (decades). Beside them: the same distance for N samples of a freshly generated dataset
(another seed) and the noise floor: mean ± sd over 200 random subsets of the fresh dataset of the
same size as each K sample.

2D models: the shipped one (EMA weights), the raw (non-EMA) weights of the same run (from its
training state ``--state``, ``model/`` tensors; the state is not in git, see docs/diffusion.md, "What is
not in git") and an older model (``--old``, skipped if absent). 3D: the
shipped model against the K labels of the labelled 3D set ``--data3d`` with the noise floor of a fresh
3D set ``--fresh3d`` (other seed); without them, against K of ``--n3d`` freshly generated 3D designs.

    python experiments/sample_quality.py --state runs/2d/train_state.safetensors
                                                    # all entries: the run in docs/diffusion.md
                                                    # (23 min on a busy 2-core CPU, 1 torch thread)
    python experiments/sample_quality.py --only shipped old 3d   # without the training state
    python experiments/sample_quality.py --only 3d  # recompute one entry, keep the others in --json

Results (per-sample K included) go to ``--json``; the 2D histogram figure to ``--figure``; the
markdown table to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from matdesign import provenance
from matdesign.atomic import save_figure, write_text_atomic
from matdesign.data import open_store
from matdesign.data.store import store_path
from matdesign.data.samples import make_sample
from matdesign.diffusion import DiffusionModel, build_unet, sample
from matdesign.diffusion.train_state import load_state, strip_prefix
from matdesign.errors import InputError
from matdesign.verification import sample_K
from matdesign.evaluate.quality import DEGENERATE, evaluate_samples, k_distance, noise_floor
from matdesign.materials import MaterialTable
from matdesign.pipeline.models import shipped_model_path

ENTRIES = ("shipped", "raw", "old", "3d")


def raw_model(state_path: Path, like: DiffusionModel) -> DiffusionModel:
    """The raw (non-EMA) weights of the training state ``state_path`` in ``like``'s architecture;
    InputError if the state is from another step than ``like``."""
    tensors, meta = load_state(state_path)
    if int(meta["step"]) != like.step:
        raise InputError(f"{state_path} is at step {meta['step']}, the model at step {like.step}: not the same run")
    unet = build_unet(like.config.model, like.config.scheduler.num_train_timesteps)
    unet.load_state_dict(strip_prefix("model", tensors))
    return DiffusionModel(unet.eval(), like.config, grid=like.grid, normalization=like.normalization,
                          info={**like.info, "weights": "raw"})


def draw(model: DiffusionModel, n: int, steps: int, seed: int, batch: int) -> np.ndarray:
    """n unguided samples in physical units (n, 3, *grid) float64, batches drawn from one generator."""
    gen = torch.Generator().manual_seed(seed)
    xs = [sample(model, min(batch, n - i), steps=steps, generator=gen, progress=True) for i in range(0, n, batch)]
    return model.normalization.denormalize(torch.cat(xs).double(), axis=1).numpy()


def run_model(name: str, model: DiffusionModel, path: str, args, table) -> dict:
    n, steps = (args.n, args.steps) if model.dim == 2 else (args.n3d, args.steps3d)
    print(f"[{name}] {n} samples × {steps} DDIM steps, {model.dim}D, step {model.step}", file=sys.stderr)
    tic = time.perf_counter()
    fields = draw(model, n, steps, args.seed, args.batch if model.dim == 2 else args.batch3d)
    sampling = time.perf_counter() - tic
    tic = time.perf_counter()
    ev = evaluate_samples(fields, table, model.normalization, seed=args.seed, progress=True)
    return {"path": path, "dim": model.dim, "train_step": model.step, "weights": model.info.get("weights"),
            "n": n, "ddim_steps": steps, "seed": args.seed, "valid_fraction": ev.valid_fraction,
            "counts": ev.counts(), "seconds": {"sampling": sampling, "evaluation": time.perf_counter() - tic},
            "K_sample": ev.K_sample.tolist(), "K_design": ev.K_design.tolist()}


def fresh_entry(args, table, normalization) -> dict:
    """N random samples of the fresh dataset: their K labels and the valid fraction of their
    backprojection (what a perfect model would score)."""
    with open_store(args.fresh) as f:
        idx = np.sort(np.random.default_rng(args.seed).choice(len(f["K"]), args.n, replace=False))
        K, fields = f["K"][idx], f["fields"][idx].astype(np.float64)
    ev = evaluate_samples(fields, table, normalization, seed=args.seed)
    return {"path": str(args.fresh), "n": args.n, "valid_fraction": ev.valid_fraction, "counts": ev.counts(),
            "K": K.tolist()}


def reference_3d(args, table, normalization) -> dict:
    """The 3D reference K: the labels of ``--data3d`` and ``--fresh3d`` where both exist (the fresh set also
    gets the backprojection check, like the 2D fresh entry); else K of ``n3d`` fresh 3D 32³ designs
    (the samples of make_block(range(n3d), seed=0, dim=3, size=32)). ``normalization``: the 3D model's,
    for the fresh set's backprojection."""
    tic = time.perf_counter()
    if store_path(args.data3d).exists() and store_path(args.fresh3d).exists():
        with open_store(args.fresh3d) as f:
            n = min(args.n3d, len(f["K"]))
            K, fields = f["K"][:n], f["fields"][:n].astype(np.float64)
        ev = evaluate_samples(fields, table, normalization, seed=args.seed)
        return {"data": str(args.data3d), "fresh": str(args.fresh3d), "n": n, "K": K.tolist(),
                "valid_fraction": ev.valid_fraction, "counts": ev.counts(), "seconds": time.perf_counter() - tic}
    K = [sample_K(make_sample(table, 0, i, dim=3, size=32)[1].fields) for i in range(args.n3d)]
    return {"n": args.n3d, "seed": 0, "K": K, "seconds": time.perf_counter() - tic}


def summarize(entry: dict, data_K: np.ndarray, fresh_K: np.ndarray | None, seed: int) -> dict:
    """W₁ of K_s and K_design to ``data_K`` (GPa and decades), medians, and noise floors at equal size."""
    out = {}
    for key in ("K_sample", "K_design"):
        K = np.asarray(entry[key], dtype=np.float64)
        K = K[np.isfinite(K)]
        row = {"n": int(K.size), "median": float(np.median(K)) if K.size else float("nan")}
        for log, unit in ((False, "GPa"), (True, "dec")):
            row[f"W_{unit}"] = k_distance(K, data_K, log=log) if K.size else float("nan")
            if fresh_K is not None and K.size:
                floor = noise_floor(data_K, fresh_K, K.size, rng=np.random.default_rng(seed), log=log)
                row[f"floor_{unit}"] = [float(floor.mean()), float(floor.std(ddof=1))]
        out[key] = row
    return out


def machine() -> dict:
    info = {**provenance.machine(), **provenance.versions()}
    return {key: info[key] for key in ("cpu", "cores", "torch_threads", "torch", "python", "load_average")}


def _fmt(row: dict, unit: str) -> str:
    w, floor = row.get(f"W_{unit}", float("nan")), row.get(f"floor_{unit}")
    digits = 1 if unit == "GPa" else 3
    return f"{w:.{digits}f}" + (f" ({floor[0]:.{digits}f} ± {floor[1]:.{digits}f})" if floor else "")


def _row(label: str, valid: float, counts: dict, cells: list[str]) -> str:
    degenerate = " / ".join(str(counts[k]) for k in (*DEGENERATE, "unplaceable"))
    return f"| {label} | {valid:.1%} | {degenerate} | " + " | ".join(cells) + " |"


def table_markdown(result: dict) -> str:
    """The results table (2D models, the fresh dataset, 3D) as markdown."""
    s = result["summary"]
    lines = [f"| model | valid two-phase | {' / '.join((*DEGENERATE, 'unplaceable'))} "
             "| W₁ K_s [GPa] | W₁ K_design [GPa] | W₁ log₁₀K_s [dec] | W₁ log₁₀K_design [dec] "
             "| median K_s / K_design [GPa] |", "|---|---|---|---|---|---|---|---|"]
    models = result["models"]
    fresh3 = ["fresh3d"] if "fresh3d" in s else []
    for name in [n for n in ENTRIES if n in models and models[n]["dim"] == 2] + ["fresh"] + \
            [n for n in ENTRIES if n in models and models[n]["dim"] == 3] + fresh3:
        if name in ("fresh", "fresh3d"):
            f, t = (result["fresh"], s["fresh"]) if name == "fresh" else (result["reference3d"], s["fresh3d"])
            what = "fresh dataset" if name == "fresh" else "fresh 3D dataset"
            lines.append(_row(f"{what} (seed 1, N = {f['n']}; K = its labels)", f["valid_fraction"], f["counts"],
                              [f"{t['W_GPa']:.1f}", f"{t['W_GPa']:.1f}", f"{t['W_dec']:.3f}", f"{t['W_dec']:.3f}",
                               f"{t['median']:.1f}"]))
            continue
        e, t = models[name], s[name]
        lines.append(_row(f"{name} ({e['dim']}D, {e['weights']} weights, {e['train_step']} steps; N = {e['n']})",
                          e["valid_fraction"], e["counts"],
                          [_fmt(t["K_sample"], "GPa"), f"{_fmt(t['K_design'], 'GPa')} (n = {t['K_design']['n']})",
                           _fmt(t["K_sample"], "dec"), _fmt(t["K_design"], "dec"),
                           f"{t['K_sample']['median']:.1f} / {t['K_design']['median']:.1f}"]))
    return "\n".join(lines) + "\n"


def plot(result: dict, data_K: np.ndarray, fresh_K: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in ENTRIES if n in result["models"] and result["models"][n]["dim"] == 2]
    if not names:
        print(f"no 2D entry in the results: {path} not drawn", file=sys.stderr)
        return
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), squeeze=False, sharey=True)
    bins = np.linspace(-3.5, 2.8, 43)
    for ax, name in zip(axes[0], names):
        e = result["models"][name]
        ax.hist(np.log10(data_K), bins, density=True, color="0.82", label=f"training dataset ({len(data_K)})")
        ax.hist(np.log10(fresh_K), bins, density=True, histtype="step", color="k", lw=1.4,
                label=f"fresh dataset ({len(fresh_K)})")
        for key, color, what in (("K_sample", "tab:blue", "raw samples K_s"),
                                 ("K_design", "tab:orange", "backprojected K_design")):
            K = np.asarray(e[key], dtype=np.float64)
            K = K[np.isfinite(K) & (K > 0)]
            if K.size:
                ax.hist(np.log10(K), bins, density=True, histtype="step", color=color, lw=1.4,
                        label=f"{what} ({len(K)})")
        ax.set_title(f"{name}: {e['weights']} weights, {e['train_step']} training steps", fontsize=10)
        ax.set_xlabel("log₁₀ K [GPa]")
        ax.legend(fontsize=7, loc="upper left")
    axes[0][0].set_ylabel("density")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=shipped_model_path(2), help="shipped 2D model (EMA weights)")
    p.add_argument("--state", type=Path, default=None,
                   help="training state (train_state.safetensors) of --model's run, for the 'raw' entry (its raw "
                        "weights); not in git: docs/diffusion.md, 'What is not in git'")
    p.add_argument("--old", type=Path, default=Path("/tmp/oldmodel/2d"), help="an older 2D model (skipped if absent)")
    p.add_argument("--model3d", type=Path, default=shipped_model_path(3))
    p.add_argument("--data", type=Path, default=Path("data/2d-64"), help="training dataset (K labels)")
    p.add_argument("--fresh", type=Path, default=Path("data/2d-64-targets"), help="a fresh dataset, other seed")
    p.add_argument("--n", type=int, default=256, help="2D samples per model")
    p.add_argument("--steps", type=int, default=20, help="2D DDIM steps")
    p.add_argument("--data3d", type=Path, default=Path("data/3d-32"), help="labelled 3D training set")
    p.add_argument("--fresh3d", type=Path, default=Path("data/3d-32-fresh"), help="labelled fresh 3D set, other seed")
    p.add_argument("--n3d", type=int, default=16, help="3D samples (and fresh 3D designs without --data3d)")
    p.add_argument("--steps3d", type=int, default=20)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--batch3d", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--only", nargs="*", choices=ENTRIES, default=list(ENTRIES),
                   help="entries to (re)compute; the others are kept from --json")
    p.add_argument("--json", type=Path, default=Path("docs/sample_quality.json"))
    p.add_argument("--figure", type=Path, default=Path("docs/sample_quality_2d.png"))
    args = p.parse_args(argv)
    if "raw" in args.only and (args.state is None or not args.state.is_file()):
        what = "needs --state PATH" if args.state is None else f"reads --state {args.state}, which does not exist"
        p.error(f"the 'raw' entry {what}: the training state (train_state.safetensors) of the shipped 2D model's "
                "run, which is not in git; regenerate it as docs/diffusion.md, 'What is not in git' says, or leave "
                "the entry out (--only shipped old 3d)")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    table = MaterialTable.builtin()
    result = json.loads(args.json.read_text()) if args.json.exists() else {"models": {}}
    if args.only:  # a run that computes something records itself; a summary-only run keeps the record
        result["machine"] = machine()
        result["command"] = " ".join(["python experiments/sample_quality.py", *(argv or [])])
    shipped = DiffusionModel.load(args.model, dim=2)
    loaders = {"shipped": lambda: (shipped, args.model), "raw": lambda: (raw_model(args.state, shipped), args.state),
               "old": lambda: (DiffusionModel.load(args.old, dim=2), args.old),
               "3d": lambda: (DiffusionModel.load(args.model3d, dim=3), args.model3d)}
    if "fresh" not in result or "shipped" in args.only:
        result["fresh"] = fresh_entry(args, table, shipped.normalization)
    for name in args.only:
        if name == "old" and not (args.old / "model.safetensors").exists():
            print(f"[old] no model at {args.old}: skipped", file=sys.stderr)
            continue
        model, path = loaders[name]()
        result["models"][name] = run_model(name, model, str(path), args, table)
        if name == "3d":
            result["reference3d"] = reference_3d(args, table, model.normalization)
        write_text_atomic(args.json, json.dumps(result, indent=1) + "\n")  # keep finished entries
    with open_store(args.data) as f:
        data_K = f["K"][:]
    fresh_K = np.asarray(result["fresh"]["K"])
    with open_store(args.fresh) as f:
        fresh_all = f["K"][:]
    ref3d = result.get("reference3d", {})
    if "data" in ref3d:
        with open_store(ref3d["data"]) as f:
            data3_K = f["K"][:]
        with open_store(ref3d["fresh"]) as f:
            fresh3_all = f["K"][:]
    else:
        data3_K, fresh3_all = np.asarray(ref3d.get("K", [])), None
    result["summary"] = {name: summarize(e, data_K if e["dim"] == 2 else data3_K,
                                         fresh_all if e["dim"] == 2 else fresh3_all, args.seed)
                         for name, e in result["models"].items()}
    if "data" in ref3d:
        fresh3 = np.asarray(ref3d["K"])
        result["summary"]["fresh3d"] = {"W_GPa": k_distance(fresh3, data3_K), "W_dec": k_distance(fresh3, data3_K, log=True),
                                        "median": float(np.median(fresh3))}
    result["summary"]["fresh"] = {"W_GPa": k_distance(fresh_K, data_K), "W_dec": k_distance(fresh_K, data_K, log=True),
                                  "median": float(np.median(fresh_K))}
    if args.only:
        result["seconds_total"] = time.perf_counter() - start
    write_text_atomic(args.json, json.dumps(result, indent=1) + "\n")
    plot(result, data_K, fresh_K, args.figure)
    print(table_markdown(result))


if __name__ == "__main__":
    main(sys.argv[1:])
