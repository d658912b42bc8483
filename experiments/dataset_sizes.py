"""Dataset sizes (the paper's Table 5), reduced: unguided samples of one model, backprojected.

Per entry: ``V_m`` and ``d_m`` (means over all samples of the backprojection's GMM variance sum and
distance to the nearest table materials, in the model's normalized space, as in the paper),
``cov`` = distinct material chunks used by all designs (matrix, and particle when vf > 0) / non-empty
chunks of the table (the paper's Table 5 cov, without an error margin), the fraction of valid
two-phase designs, the median FEM K of the samples themselves (K_s) and the Wasserstein-1 distance
of log₁₀ K_s to the K labels of ``--ref-data`` (a fresh dataset), in decades.

``--model`` evaluates a trained model (unguided DDIM, one generator for all batches);
``--data`` the first ``--n`` fields of a dataset itself (what a model reproducing its training data
would score at the same n). Each call adds or replaces its ``--label`` in ``--out``:

    python experiments/dataset_sizes.py --label 1k --model runs/dsize/train-1k --n 128 --steps 100
    python experiments/dataset_sizes.py --label "data (10k set)" --data data/2d-64 --n 128
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from sample_quality import draw

from matdesign import provenance
from matdesign.atomic import write_text_atomic
from matdesign.data import open_store, read_meta
from matdesign.diffusion import DiffusionModel
from matdesign.evaluate.metrics import design_chunks
from matdesign.evaluate.quality import evaluate_samples, k_distance
from matdesign.materials import MaterialTable, Normalization


def quality(fields: np.ndarray, normalization, table, ref_K: np.ndarray, seed: int) -> dict:
    """The entry's metrics for ``fields`` (n, 3, *grid) in physical units."""
    ev = evaluate_samples(fields, table, normalization, seed=seed)
    chunks = set().union(*(design_chunks(d) for d in ev.designs))
    K_s = ev.K_sample[np.isfinite(ev.K_sample) & (ev.K_sample > 0)]
    return {"V_m": float(np.mean([d.diagnostics["V_m"] for d in ev.designs])),
            "d_m": float(np.mean([d.diagnostics["d_m"] for d in ev.designs])),
            "cov": len(chunks) / len(table.nonempty_chunks()), "chunks": len(chunks),
            "valid_fraction": ev.valid_fraction, "counts": ev.counts(),
            "K_s_median": float(np.median(K_s)), "W_dec_K_s": k_distance(K_s, ref_K, log=True)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", type=Path, help="a trained 2D model folder")
    src.add_argument("--data", type=Path, help="a dataset: evaluate its first --n fields")
    p.add_argument("--label", required=True, help="row name in --out")
    p.add_argument("--n", type=int, default=128, help="samples")
    p.add_argument("--steps", type=int, default=100, help="DDIM steps")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--ref-data", type=Path, default=Path("data/2d-64-targets"), help="fresh dataset: K labels")
    p.add_argument("--out", type=Path, default=Path("docs/table5_dataset_sizes.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    table = MaterialTable.builtin()
    with open_store(args.ref_data) as f:
        ref_K = f["K"][:]
    tic = time.perf_counter()
    if args.model is not None:
        model = DiffusionModel.load(args.model, dim=2)
        fields = draw(model, args.n, args.steps, args.seed, args.batch)
        norm = model.normalization
        row = {"model": str(args.model), "train_step": model.step, "train_n": model.info["dataset"]["n"],
               "n": args.n, "ddim_steps": args.steps}
    else:
        with open_store(args.data) as f:
            fields = f["fields"][:args.n].astype(np.float64)
        norm = Normalization.from_dict(read_meta(args.data)["normalization"])
        row = {"data": str(args.data), "n": len(fields)}
    sampling = time.perf_counter() - tic
    row.update(quality(fields, norm, table, ref_K, args.seed))
    m = provenance.machine()
    row.update(seed=args.seed, seconds={"sampling": sampling, "evaluation": time.perf_counter() - tic - sampling},
               torch_threads=m["torch_threads"], load_average=m["load_average"])
    result = json.loads(args.out.read_text()) if args.out.exists() else {"rows": {}}
    result["rows"][args.label] = row
    write_text_atomic(args.out, json.dumps(result, indent=1) + "\n")
    print(json.dumps({args.label: {k: v for k, v in row.items() if k != "counts"}}))


if __name__ == "__main__":
    main()
