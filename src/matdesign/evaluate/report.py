"""The files of an evaluation: Table-1-style tables per stage and protocol, ``summary.md``,
``evaluation.json`` and the figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

from matdesign.atomic import write_text_atomic
from matdesign.evaluate.figures import k_histograms_png, sample_grid_png
from matdesign.evaluate.results import OTHER, PROTOCOLS, Evaluation
from matdesign.evaluate.store import json_ready


def save_evaluation(ev: Evaluation, out) -> Path:
    """Write the tables (``table-<stage>-<protocol>.md/.csv/.json``), ``summary.md``,
    ``evaluation.json`` and the figures ``samples.png`` / ``k-histograms.png`` into ``out``."""
    out = Path(out)
    for stage in ev.stages:
        for protocol in PROTOCOLS:
            for ext in (".md", ".csv", ".json"):
                ev.table(stage, protocol).save(out / f"table-{stage}-{protocol}{ext}")
    write_text_atomic(out / "summary.md", summary_markdown(ev))
    payload = {"settings": ev.settings, "seconds": ev.seconds, "skipped": ev.skipped,
               "targets": [{"target": r.target, "seconds": r.seconds, "metrics": r.metrics} for r in ev.results]}
    write_text_atomic(out / "evaluation.json", json.dumps(json_ready(payload), indent=1) + "\n")
    sample_grid_png(ev, out, out / "samples.png")
    k_histograms_png(ev, out / "k-histograms.png")
    return out


def comparison_markdown(ev: Evaluation) -> str:
    """frac(ε_r < 1 %), frac(ε_r < 5 %) and the spread per stage and protocol, columns = targets."""
    head = "| | " + " | ".join(f"K* = {t:.4g}" for t in ev.targets) + " |"
    lines = [head, "|---" * (len(ev.targets) + 1) + "|"]
    rows = [("frac_1", "frac ε_r < 1 %", ".3f"), ("frac_5", "frac ε_r < 5 %", ".3f"),
            ("spread_median", "median spread std/K", ".3f"), ("n_arrangements", "mean arrangements", ".1f")]
    for stage in ev.stages:
        for protocol in PROTOCOLS:
            label = f"{stage}, paper (n = {ev.settings['verify_n']})" if protocol == "paper" else f"{stage}, converged"
            for key, name, spec in rows:
                values = [r.metrics_of(stage, protocol).get(key) for r in ev.results]
                cells = ["–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec) for v in values]
                lines.append(f"| {label}: {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def summary_markdown(ev: Evaluation) -> str:
    """The human-readable report: settings, the paper-vs-converged comparison and the full tables."""
    s = ev.settings
    work = [r.work_seconds for r in ev.results]
    per_target = ", ".join(f"{r.target:.4g}: {w:.0f} s" for r, w in zip(ev.results, work))
    other = OTHER[s["definition"]][1]
    other_seconds = sum(r.seconds_other_definition for r in ev.results)
    text = [f"# Evaluation of `{s['model']}` (step {s['model_step']}, {s['model_weights'] or 'weights'})", "",
            f"{s['dim']}D {s['size']}^{s['dim']}, {s['samples']} samples per target, {s['steps']} DDIM steps, "
            f"seed {s['seed']}, sampler {s.get('sampler', 'dps')}"
            f"{' (grad_max_mag ' + format(s['grad_max_mag'], 'g') + ')' if s.get('grad_max_mag') else ''}"
            f"{' (step clip ' + format(s['step_clip'], 'g') + ')' if s.get('step_clip') else ''} guided on the "
            f"{s.get('guide', 'cell')} K, K in the {s['definition']} definition (each final design also carries its "
            f"{other}, n = {s['verify_n']}), "
            f"paper protocol n = {s['verify_n']}, converged protocol sem < "
            f"{100 * s['sem_tol']:g} % of K (at most {s['max_arrangements']} arrangements), "
            f"refinement {'on' if s['refine'] else 'off'}; device {s['device']}.", "",
            f"Time: {sum(work):.0f} s of sampling, backprojection and verification (per target {per_target}; "
            f"{other}: {other_seconds:.0f} s of worker time); "
            f"{ev.seconds:.0f} s for this call (targets stored by an earlier call are not recomputed).", ""]
    if s.get("command"):
        text += ["```", s["command"], "```", ""]
    if ev.skipped:
        text += ["Skipped targets: " + "; ".join(f"{d['target']:g} GPa ({d['reason']})" for d in ev.skipped), ""]
    text += ["## Paper protocol vs converged", "", comparison_markdown(ev)]
    for stage in ev.stages:
        for protocol in PROTOCOLS:
            text += [f"## {stage}, {protocol} protocol", "", ev.table(stage, protocol).to_markdown()]
    return "\n".join(text)
