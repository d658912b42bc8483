"""A reduced Table 1 (2D) in the paper's own definition of K and at its own targets, beside the paper's values.

K is the official release's quantity (``definition="paper"``: tr⟨σ⟩/(3 tr⟨ε⟩) under its uniaxial load,
the 2D field as a one-element hex plate; docs/official_release.md) for everything: the guidance objective
(J = (K − K*)², ``guide="paper"``), K_s of each sample and K_θ of each backprojected design (the paper's
protocol: mean over 10 fresh arrangements). Two samplers on the shipped 2D model: "tfg" (the release's
sampling command) and "dps" (ours, with the step clip 0.01). Raw designs only (the paper's method, no
refinement). Reduced: a few samples per target instead of the paper's 200 × 3 model seeds.

Each sampler runs as its own process (resumable: finished targets are kept in OUT/<sampler>/):

    OMP_NUM_THREADS=1 python experiments/table1_paper_definition.py run --sampler tfg --samples 8
    OMP_NUM_THREADS=1 python experiments/table1_paper_definition.py run --sampler dps --samples 8
    python experiments/table1_paper_definition.py collect --json docs/table1_paper_definition.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from matdesign import provenance
from matdesign.evaluate.runner import run_evaluation
from matdesign.evaluate.targets import PAPER_TARGETS

#: The paper's Table 1a (2D, 200 samples per target averaged over 3 model seeds; its own K definition).
PAPER_TABLE_1A = {
    "targets": [4.8, 86.6, 168.5, 250.4, 332.2],
    "frac_1": [0.003, 0.052, 0.110, 0.043, 0.033],
    "cov_1": [0.008, 0.097, 0.171, 0.038, 0.036],
    "frac_5": [0.033, 0.278, 0.500, 0.195, 0.107],
    "cov_5": [0.056, 0.321, 0.458, 0.127, 0.075],
}
KEYS = ("frac_1", "cov_1", "frac_5", "cov_5", "frac_sample_1", "frac_sample_5", "eps_median", "valid", "n")


def machine() -> dict:
    m = provenance.machine()
    return {"platform": m["platform"], "processor": m["processor"], "cpus": m["cores"],
            "torch": provenance.version("torch"), "torch_threads": m["torch_threads"],
            "OMP_NUM_THREADS": m["OMP_NUM_THREADS"]}


def run(args) -> None:
    torch.set_num_threads(args.threads)
    targets = args.targets or list(PAPER_TARGETS[2])
    tic = time.perf_counter()
    ev = run_evaluation(targets, dim=2, samples=args.samples, steps=args.steps, seed=args.seed, objective="absolute",
                        sampler=args.sampler, guide="paper", definition="paper", refine=False, verify_n=10,
                        max_arrangements=10, out=Path(args.out) / args.sampler, workers=0, progress=False,
                        command=" ".join(["python experiments/table1_paper_definition.py run",
                                          f"--sampler {args.sampler} --samples {args.samples} --steps {args.steps}"]))
    for r in ev.results:
        m = r.metrics_of("raw", "paper")
        print(f"{args.sampler} K*={r.target:g}: frac1 {m['frac_1']:.3f} frac5 {m['frac_5']:.3f} "
              f"K_s frac5 {m['frac_sample_5']:.3f} eps_median {m['eps_median']:.3f} "
              f"seconds {r.work_seconds:.0f} (sampling {r.seconds['sampling']:.0f}, "
              f"FEM {r.seconds_sampling_fem:.0f})", flush=True)
    print(f"wall {time.perf_counter() - tic:.0f} s", flush=True)


def collect(args) -> None:
    out = {"description": __doc__.split("\n\n")[0], "reduced": True, "paper_table_1a": PAPER_TABLE_1A,
           "machine": machine(), "run_note": args.note, "samplers": {}}
    for sampler_dir in sorted(Path(args.out).iterdir()):
        results = sorted((json.loads(p.read_text()) for p in (sampler_dir / "targets").glob("K*.json")),
                         key=lambda r: r["target"])
        if not results:
            continue
        s = results[0]["settings"]
        out["samplers"][sampler_dir.name] = {
            "settings": {k: s[k] for k in ("samples", "steps", "seed", "objective", "sampler", "step_clip",
                                            "grad_max_mag", "guide", "definition", "verify_n", "refine", "model",
                                            "model_sha256", "device", "command")},
            "targets": [r["target"] for r in results],
            "metrics_raw_paper_protocol": {k: [r["metrics"]["raw/paper"].get(k) for r in results] for k in KEYS},
            "K_s": [[x["K_s"] for x in r["samples"]] for r in results],
            "K_theta": [[x["raw"]["paper"]["K"] for x in r["samples"]] for r in results],
            "seconds": [r["seconds"] for r in results],
            "seconds_sampling_fem": [r.get("seconds_sampling_fem") for r in results],
        }
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    print(markdown(out))


def markdown(out: dict) -> str:
    paper = out["paper_table_1a"]
    cols = paper["targets"]
    lines = ["| | " + " | ".join(f"K* = {t:g}" for t in cols) + " |", "|---" * (len(cols) + 1) + "|"]

    def cell(values, targets, t, spec=".3f"):
        if t not in targets:
            return "–"
        v = values[targets.index(t)]
        return "–" if v is None else format(v, spec)

    for key, name in (("frac_1", "frac ε_r < 1 %"), ("cov_1", "cov ε_r < 1 %"), ("frac_5", "frac ε_r < 5 %"),
                      ("cov_5", "cov ε_r < 5 %")):
        lines.append(f"| paper (200 × 3 seeds): {name} | " + " | ".join(format(v, ".3f") for v in paper[key]) + " |")
        for sampler, r in out["samplers"].items():
            m = r["metrics_raw_paper_protocol"]
            lines.append(f"| {sampler} (n = {r['settings']['samples']}): {name} | "
                         + " | ".join(cell(m[key], r["targets"], t) for t in cols) + " |")
    for sampler, r in out["samplers"].items():
        m = r["metrics_raw_paper_protocol"]
        lines.append(f"| {sampler}: K_s frac ε_r < 5 % | " + " | ".join(cell(m["frac_sample_5"], r["targets"], t)
                                                                      for t in cols) + " |")
        lines.append(f"| {sampler}: median ε_r of K_θ | " + " | ".join(cell(m["eps_median"], r["targets"], t)
                                                                      for t in cols) + " |")
        walls = [sum(s.values()) for s in r["seconds"]]
        lines.append(f"| {sampler}: wall time per target [s] | " + " | ".join(cell(walls, r["targets"], t, ".0f")
                                                                            for t in cols) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--sampler", choices=("tfg", "dps", "dps-unclipped"), required=True)
    r.add_argument("--targets", type=float, nargs="+", default=None, help="default: the paper's five 2D targets")
    r.add_argument("--samples", type=int, default=8)
    r.add_argument("--steps", type=int, default=100)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--out", default="runs/table1-paper-definition")
    c = sub.add_parser("collect")
    c.add_argument("--out", default="runs/table1-paper-definition")
    c.add_argument("--json", default="docs/table1_paper_definition.json")
    c.add_argument("--note", default="", help="how the runs were made (threads, load): the collecting process "
                                              "only knows its own machine")
    args = ap.parse_args()
    (run if args.cmd == "run" else collect)(args)


if __name__ == "__main__":
    main()
