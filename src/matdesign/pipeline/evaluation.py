"""The paper's evaluation protocol (sec. 6.2, Table 1) behind ``matdesign evaluate``.

For each target K* [GPa]: guided samples of a model → backprojection → verification of every design
under two protocols, side by side (issue 11):

* ``paper``: K_θ = mean FEM K of n = 10 fresh random arrangements (the paper's Table 1);
* ``converged``: arrangements are added 10 at a time until the standard error of K_θ is below
  ``sem_tol``·K_θ or ``max_arrangements`` is reached (its first 10 arrangements are the paper's 10).

Two stages: ``raw`` (the backprojected design, the paper's method) and, unless ``refine=False``,
``refined`` (its volume fraction tuned to K* as in ``matdesign design``, then re-verified on fresh
arrangements, so the selection of the refinement does not bias its own score). Seeds follow
:func:`matdesign.pipeline.design.design`: with the same settings the raw designs and their paper-protocol
K_θ are the ones ``matdesign design`` reports. Verification runs on Dask workers
(:func:`matdesign.data.map_blocks`). Each target's result is written atomically to
``OUT/targets/K<K*>.json`` (fields in ``.npz``, their SHA-256 in the JSON) as soon as it is done; a rerun
with the same settings skips those targets, and names and recomputes a damaged one (JSON or npz).

``definition`` (:mod:`matdesign.verification.definition`): what K_θ is — "cell" (default: the paper's walled
cell with affine boundary conditions, in which the documented tables are stated; called "paper" in results
written before 2026-12-07), "paper" (the official release's uniaxial quantity, in which the paper's Table 1
numbers are) or "composite" (the bulk composite: periodic RVEs). Every final design also carries the other definition's
K on ``verify_n`` arrangements (``K_composite`` or ``K_cell``).

``sampler`` (:data:`matdesign.guidance.SAMPLERS`): "dps" (ours, with the step clip), "dps-unclipped" (the DPS
step without it; what "the paper's sampler" meant here before the official release) or "tfg" (the official
release's sampling command); ``guide``: the K the guidance objective measures on the sampled field, "cell"
(our affine-cell K, default) or "paper" (the release's K, :class:`~matdesign.guidance.TargetPaperBulkModulus`),
so that a run in ``definition="paper"`` can guide on the quantity it is scored in (docs/official_release.md).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from matdesign.atomic import atomic_path, write_text_atomic
from matdesign.backproject import backproject_batch
from matdesign.errors import InputError, InputNote
from matdesign.evaluate import MetricsTable, Record, metrics
from matdesign.verification import sample_K, verify
from matdesign.verification.definition import get_definition
from matdesign.guidance import SAMPLERS, sampler_config
from matdesign.guidance.objectives import GUIDE_DEFINITIONS
from matdesign.guidance.sampler import TFG_GRAD_MAX_MAG
from matdesign.materials import MaterialTable
from matdesign.pipeline.design import (check_target, default_model_path, guided_fields, load_model,
                                       reachable_range, resolve_step_clip, sample_with_model)
from matdesign.pipeline.refine import refine_volume_fraction
from matdesign.targets import parse_target_list

#: The paper's five evaluation targets K* [GPa] (Table 1; its own 2D K convention, see docs/physics.md).
PAPER_TARGETS = {2: (4.8, 86.6, 168.5, 250.4, 332.2), 3: (0.9, 83.3, 165.6, 248.0, 330.3)}
STAGES = ("raw", "refined")
PROTOCOLS = ("paper", "converged")
#: Settings that must match for a stored target result to be reused.
RESUME_KEYS = ("dim", "samples", "steps", "seed", "objective", "mode", "step_clip", "sampler", "grad_max_mag", "guide",
               "definition", "refine", "verify_n", "sem_tol", "max_arrangements", "model_sha256", "material_sha256")
#: The run's definition → (the other definition, the key of its value in each sample's record).
OTHER = {"cell": ("composite", "K_composite"), "composite": ("cell", "K_cell"), "paper": ("cell", "K_cell")}


@dataclass
class Evaluation:
    """Per-target results (JSON-ready dicts, in target order), the skipped targets and the settings."""

    settings: dict
    results: list[dict]
    skipped: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def targets(self) -> list[float]:
        return [r["target"] for r in self.results]

    def table(self, stage: str, protocol: str) -> MetricsTable:
        """Table-1-style metrics (columns = targets) of one stage and protocol."""
        return MetricsTable([_nan(r["metrics"][f"{stage}/{protocol}"]) for r in self.results])

    @property
    def stages(self) -> tuple[str, ...]:
        return STAGES if self.settings["refine"] else STAGES[:1]


def resolve_targets(spec: str, dim: int, *, data=None, table: MaterialTable | None = None, definition: str = "cell"):
    """Targets K* [GPa] from ``spec``: "paper", "dataset" (five targets of the store ``data``) or "K1,K2,…".

    Returns (targets, skipped): a preset's targets outside the range the material table can reach are
    skipped (list of {"target", "reason"}); an explicit list with such a target is an InputError. In the
    ``definition`` "paper" (the release's uniaxial K, which is not bounded by the phases' bulk moduli) the
    range is not checked: the paper's preset targets are in that definition (2D 332.2 GPa is above our
    table's stiffest plane-stress K, 295 GPa, but below its stiffest E/(3(1−2ν)), 387 GPa).
    """
    table = table or MaterialTable.builtin()
    spec = spec.strip()
    unbounded = get_definition(definition).fem == "paper"
    if spec == "paper":
        preset = list(PAPER_TARGETS[dim])
    elif spec == "dataset":
        if data is None:
            raise InputError("--targets dataset needs --data DIR (a dataset store with K labels)")
        from matdesign.data import dataset_targets, read_meta

        if read_meta(data)["dim"] != dim:
            raise InputError(f"{data} is a {read_meta(data)['dim']}D dataset, --dim is {dim}")
        preset = [float(t) for t in dataset_targets(data)]
    else:
        values = parse_target_list(spec)
        if unbounded:
            bad = [v for v in values if not (math.isfinite(v) and v > 0)]
            if bad:
                raise InputError(f"target K*={bad[0]}: must be a positive number of GPa")
            return values, []
        return [check_target(v, table, dim) for v in values], []
    if unbounded:
        return preset, []
    lo, hi = reachable_range(table, dim)
    keep = [t for t in preset if lo <= t <= hi]
    skipped = [{"target": t, "reason": f"outside the range the material table reaches in {dim}D "
                                       f"({lo:.3g}–{hi:.3g} GPa)"} for t in preset if t not in keep]
    if not keep:
        raise InputError(f"--targets {spec}: no target inside the reachable range {lo:.3g}–{hi:.3g} GPa")
    return keep, skipped


def run_evaluation(targets, *, model=None, dim: int = 2, samples: int = 50, steps: int = 100, seed: int = 0,
                   objective: str = "absolute", mode: str = "guided", step_clip: float | None = None,
                   sampler: str = "dps", grad_max_mag: float = TFG_GRAD_MAX_MAG, guide: str = "cell",
                   definition: str = "cell", refine: bool = True, verify_n: int = 10,
                   sem_tol: float = 0.0025, max_arrangements: int = 200,
                   out="evaluate-out", workers: int | None = None, scheduler: str | None = None,
                   device: str = "cpu", skipped=(), command: str = "", progress: bool = True) -> Evaluation:
    """Evaluate ``model`` (folder; None → the shipped model) on ``targets`` [GPa]; write everything to ``out``.

    ``samples`` guided samples with ``steps`` DDIM steps per target, guided by ``objective`` ("absolute":
    the paper's J₁, or "relative", as in :func:`matdesign.design`); ``mode`` "guided", "unguided" or
    "project" (the paper's Table 3 variants); ``step_clip`` the guidance trust region as in
    :func:`matdesign.design` (None: the default, 0.01; inf: the unclipped DPS step, "dps-unclipped");
    ``sampler`` "dps" (ours; ``step_clip`` applies), "dps-unclipped" or "tfg" (the official release's sampler,
    its gradient clip ``grad_max_mag``); ``guide`` the K that J measures on the sample, "cell" or "paper" (the
    release's); ``definition`` the K of
    every verification and refinement, "cell" (default), "paper" or "composite"; ``verify_n``
    arrangements in the paper's protocol (and of the other definition's K of each final design); ``sem_tol`` (relative standard error) and ``max_arrangements`` for the converged
    one; ``workers``/``scheduler`` as in :func:`matdesign.data.map_blocks` (default: a local cluster).
    """
    for name, value, low in (("samples", samples, 1), ("steps", steps, 1), ("verify_n", verify_n, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InputError(f"{name}={value!r}: must be an integer >= {low}")
    if max_arrangements < verify_n:
        raise InputError(f"max_arrangements={max_arrangements} must be >= verify_n={verify_n}")
    if not 0 < sem_tol < 1:
        raise InputError(f"sem_tol={sem_tol!r}: must be a fraction in (0, 1), e.g. 0.0025")
    definition = get_definition(definition).name
    targets = list(dict.fromkeys(float(t) for t in targets))
    tic = time.perf_counter()
    table = MaterialTable.builtin()
    net = load_model(model, dim, device)
    model_path = Path(model) if model is not None else default_model_path(dim)
    if objective not in ("absolute", "relative"):
        raise InputError(f"objective={objective!r}: must be 'absolute' or 'relative'")
    if mode not in ("guided", "unguided", "project"):
        raise InputError(f"mode={mode!r}: must be guided, unguided or project")
    sampler, step_clip, grad_max_mag = resolve_sampler(sampler, step_clip, grad_max_mag)
    if guide not in GUIDE_DEFINITIONS:
        raise InputError(f"guide={guide!r}: must be one of {', '.join(GUIDE_DEFINITIONS)}")
    settings = dict(dim=dim, samples=int(samples), steps=int(steps), seed=int(seed), objective=objective, mode=mode,
                    sampler=sampler, step_clip=step_clip, grad_max_mag=grad_max_mag, guide=guide,
                    definition=definition, fem=get_definition(definition).fem,
                    refine=bool(refine),
                    verify_n=int(verify_n), sem_tol=float(sem_tol), max_arrangements=int(max_arrangements),
                    model=str(model_path), model_step=net.step, model_weights=net.info.get("weights", ""),
                    model_sha256=_sha256(model_path if model_path.is_file() else model_path / "model.safetensors"),
                    material_sha256=table.sha256(), size=net.grid[0], device=device, command=command)
    out = Path(out)
    done = {t: _load_done(out, t, settings) for t in targets}
    todo = [t for t in targets if done[t] is None]
    if todo:
        from matdesign.data.parallel import dask_client

        with dask_client(workers, scheduler) as client:
            address = client.scheduler.address if client is not None else None
            for k, target in enumerate(todo, 1):
                if progress:
                    tqdm.write(f"target {k}/{len(todo)}: K* = {target:g} GPa")
                done[target] = _evaluate_target(net, target, table, settings, out, address, progress)
    result = Evaluation(settings, [done[t] for t in targets], list(skipped), time.perf_counter() - tic)
    save_evaluation(result, out)
    return result


def resolve_sampler(sampler: str, step_clip: float | None, grad_max_mag: float = TFG_GRAD_MAX_MAG):
    """``(sampler, step_clip, grad_max_mag)`` of a run as recorded: "dps" with ``step_clip`` resolved
    (:func:`resolve_step_clip`; inf → "dps-unclipped"), "dps-unclipped" (``step_clip`` None or inf), "tfg"
    (no step clip; ``grad_max_mag`` > 0). ``grad_max_mag`` is None unless "tfg"."""
    if sampler not in SAMPLERS:
        raise InputError(f"sampler={sampler!r}: must be one of {', '.join(SAMPLERS)}")
    if sampler == "dps":
        step_clip = resolve_step_clip(step_clip)
        return ("dps" if step_clip is not None else "dps-unclipped"), step_clip, None
    if step_clip is not None and not (sampler == "dps-unclipped" and math.isinf(float(step_clip))):
        raise InputError(f"step_clip={step_clip!r}: only the dps sampler has a step clip (sampler {sampler!r})")
    if sampler == "dps-unclipped":
        return sampler, None, None
    if not float(grad_max_mag) > 0:
        raise InputError(f"grad_max_mag={grad_max_mag!r}: must be a positive number (inf: no clip)")
    return sampler, None, float(grad_max_mag)


def guided_sample_fields(net, target: float, settings: dict, progress: bool = True):
    """Guided samples of one target with a run's sampler settings: (fields (samples, 3, *grid) float64
    numpy in physical units, the sampling result). Sampler "dps"/"dps-unclipped" guided on the cell K go
    through :func:`matdesign.pipeline.design.guided_fields`, so they are ``matdesign design``'s samples."""
    if settings["sampler"] != "tfg" and settings.get("guide", "cell") == "cell":
        fields, res, _ = guided_fields(net, target, samples=settings["samples"], steps=settings["steps"],
                                       seed=settings["seed"], objective=settings["objective"], mode=settings["mode"],
                                       step_clip=settings["step_clip"], device=settings["device"], progress=progress)
        return fields, res
    J = GUIDE_DEFINITIONS[settings.get("guide", "cell")](target, relative=settings["objective"] == "relative")
    extra = {"grad_max_mag": settings["grad_max_mag"]} if settings["sampler"] == "tfg" else {}
    config = sampler_config(settings["sampler"], settings["step_clip"], steps=settings["steps"], mode=settings["mode"],
                            **extra)
    res = sample_with_model(net, J, samples=settings["samples"], config=config, seed=settings["seed"],
                            device=settings["device"], progress=progress)
    return net.normalization.denormalize(res.x0.double().cpu(), axis=1).numpy(), res


def _evaluate_target(net, target, table, settings, out, address, progress) -> dict:
    """Sample, backproject and verify for one target; write its JSON + npz; return the JSON dict."""
    from matdesign.data import map_blocks

    seed, dim = settings["seed"], settings["dim"]
    seconds = {}
    tic = time.perf_counter()
    fields, sampled = guided_sample_fields(net, target, settings, progress)
    seconds["sampling"] = time.perf_counter() - tic
    tic = time.perf_counter()
    # K_s of the sample itself: the release's K in the "paper" definition, else our affine-cell K
    K_s = np.atleast_1d(sample_K(fields, dim=dim, fem_options={"definition": "paper"}
                                 if settings["fem"] == "paper" else None))
    designs = backproject_batch(fields, table, net.normalization, seed=seed, progress=progress)
    seconds["backprojection"] = time.perf_counter() - tic
    tic = time.perf_counter()
    common = {k: settings[k] for k in ("seed", "dim", "size", "definition", "refine", "verify_n", "sem_tol",
                                       "max_arrangements")}
    checked = map_blocks(verify_block, [[(i, d)] for i, d in enumerate(designs)], common={**common, "target": target},
                         workers=0 if address is None else None, scheduler=address, progress=progress,
                         desc=f"verify K*={target:g}", unit="design")
    seconds["verification"] = time.perf_counter() - tic
    checked = [c for block in checked for c in block]

    records = {}
    for stage in STAGES[:1 + settings["refine"]]:
        for protocol in PROTOCOLS:
            recs = []
            for i, c in enumerate(checked):
                part = c.get(stage, c["raw"])  # a design that could not be refined keeps its raw result
                recs.append(Record(part["design"], part[protocol], K_s=float(K_s[i])))
            records[f"{stage}/{protocol}"] = recs
    result = {
        "target": float(target),
        "settings": settings,
        "seconds": seconds,
        # worker time of the other definition's K (part of "verification"; summed over designs)
        "seconds_other_definition": sum(c["other_seconds"] for c in checked),
        "seconds_sampling_fem": sampled.fem_seconds,  # the guidance FEM's share of "sampling"
        "guided_steps": sampled.guided_steps,
        "metrics": {key: protocol_metrics(recs, target, table) for key, recs in records.items()},
        "samples": [_sample_json(i, float(K_s[i]), c, target, settings["definition"]) for i, c in enumerate(checked)],
    }
    fields = fields.astype(np.float32)
    result["arrays_sha256"] = arrays_sha256(fields, K_s)  # what a resume checks the npz against
    with atomic_path(target_path(out, target, ".npz"), suffix=".npz") as tmp:
        np.savez_compressed(tmp, fields=fields, K_s=K_s)
    write_text_atomic(target_path(out, target, ".json"), json.dumps(_clean(result), indent=1) + "\n")
    return _clean(result)


def verify_block(block, *, target, seed, dim, size, refine, verify_n, sem_tol, max_arrangements,
                 definition="cell") -> list[dict]:
    """Verification of the designs of one block [(sample index, Design)] (runs on a Dask worker).

    Per design: ``{"raw": {"design", "paper", "converged"}}`` and, when refined, ``"refined"`` alike
    plus ``"trace"`` (the refinement's (vf, K) evaluations), all in ``definition``; ``"other"``: the
    final design's K in the other definition (:data:`OTHER`) on ``verify_n`` arrangements, and
    ``"other_seconds"`` its cost. Paper and converged verification share their seed, so the converged
    run extends the paper's 10 arrangements.
    """

    def both(design, rng_seed):
        return {"design": design,
                "paper": verify(design, size=size, dim=dim, n=verify_n, rng=np.random.default_rng(rng_seed),
                                definition=definition),
                "converged": verify(design, size=size, dim=dim, n=verify_n, adaptive=True, rel_sem_tol=sem_tol,
                                    n_max=max_arrangements, batch=verify_n, rng=np.random.default_rng(rng_seed),
                                    definition=definition)}

    out = []
    for i, design in block:
        res = {"raw": both(design, [seed, i])}  # the seed matdesign design verifies with
        if refine and res["raw"]["paper"].ok:
            r = refine_volume_fraction(design, target, size=size, dim=dim, n=verify_n, seed=seed * 1000 + i,
                                       definition=definition)
            res["refined"] = {**both(r.design, [seed, i, 1]), "trace": r.trace}
        tic = time.perf_counter()
        res["other"] = verify(res.get("refined", res["raw"])["design"], size=size, dim=dim, n=verify_n,
                              rng=np.random.default_rng([seed, i, 2]), definition=OTHER[definition][0])
        res["other_seconds"] = time.perf_counter() - tic
        out.append(res)
    return out


def protocol_metrics(records: list[Record], target: float, table: MaterialTable) -> dict:
    """:func:`matdesign.evaluate.metrics` plus the verification statistics of issue 11: ``spread_median``
    (median std/K over arrangements), ``n_arrangements`` (mean count) and ``converged`` (fraction
    whose standard error met the tolerance)."""
    m = metrics(records, target, table)
    ok = [r.verification for r in records if r.verification.ok]
    spread = [v.std / v.K for v in ok if math.isfinite(v.std) and v.K != 0]
    m["spread_median"] = float(np.median(spread)) if spread else math.nan
    m["n_arrangements"] = float(np.mean([v.n for v in ok])) if ok else math.nan
    m["converged"] = float(np.mean([r.verification.converged for r in records]))
    return m


def target_path(out, target: float, suffix: str) -> Path:
    """``OUT/targets/K<K*><suffix>`` (suffix ``.json`` or ``.npz``)."""
    return Path(out) / "targets" / f"K{target:.6g}{suffix}"


def load_target_fields(out, target: float) -> np.ndarray:
    """The stored guided samples (samples, 3, *grid) of one target [physical units]."""
    with np.load(target_path(out, target, ".npz")) as f:
        return f["fields"]


def arrays_sha256(fields: np.ndarray, K_s: np.ndarray) -> str:
    """SHA-256 of a target's stored arrays (their bytes, not the npz file's: zip headers carry a time)."""
    h = hashlib.sha256()
    for a in (fields, K_s):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _npz_damage(path: Path, result: dict) -> str | None:
    """Why the npz of a stored target result is unusable, or None: it must open, hold ``fields`` and
    ``K_s`` with one row per sample, and match the ``arrays_sha256`` its JSON recorded (when it did)."""
    try:
        with np.load(path) as f:
            fields, K_s = f["fields"], f["K_s"]
    except Exception as err:  # noqa: BLE001 — a damaged zip raises BadZipFile, EOFError, ValueError, KeyError, zlib.error …
        return f"cannot be read: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}".rstrip(": ")
    n = result["settings"].get("samples")
    if fields.ndim < 3 or len(fields) != n or len(K_s) != n:
        return f"holds {len(fields)} fields and {len(K_s)} K_s values, the run has {n} samples"
    recorded = result.get("arrays_sha256")
    if recorded is not None and recorded != arrays_sha256(fields, K_s):
        return f"its arrays differ from those recorded in {path.with_suffix('.json').name}"
    return None


def _damaged(path: Path, why: str, target: float) -> None:
    """Say (an :class:`InputNote`) that a stored result is damaged and will be recomputed; return None."""
    warnings.warn(f"{path} is damaged ({why}); recomputing target K* = {target:g} GPa", InputNote, stacklevel=3)


def _load_done(out, target, settings) -> dict | None:
    """The stored result of ``target`` if present and intact; InputError if it was made with other settings.

    A damaged result (JSON that does not parse or lacks its fields, an npz that does not open or does not
    match the arrays its JSON recorded) is named in an :class:`InputNote` and recomputed (None): the same
    settings and seed give the same result.
    """
    path, npz = target_path(out, target, ".json"), target_path(out, target, ".npz")
    if not (path.exists() and npz.exists()):
        return None
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(result, dict) or not isinstance(result.get("settings"), dict):
            raise ValueError("not a target result")
        missing = [k for k in ("target", "metrics", "samples") if k not in result]
        if missing:
            raise ValueError(f"no {', '.join(missing)}")
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return _damaged(path, f"not a readable result: {_one_line(err)}", target)
    if result.get("target") != target:
        raise InputError(f"{path} holds target {result.get('target')!r}, not {target!r}; use another --out")
    # results from before `mode` / `step_clip` / `definition` existed were guided with the unclipped DPS step
    # and verified in the paper's cell; before `fem` existed, "paper" named that cell (now "cell"); before
    # `sampler` existed, every run used the DPS step (clipped or not) guided on the cell K
    recorded = {"mode": "guided", "step_clip": None, "definition": "cell", "guide": "cell", "grad_max_mag": None,
                **result["settings"]}
    recorded.setdefault("sampler", "dps" if recorded["step_clip"] is not None else "dps-unclipped")
    if "fem" not in result["settings"] and recorded["definition"] == "paper":
        recorded["definition"] = "cell"
    diff = [k for k in RESUME_KEYS if recorded.get(k) != settings[k]]
    if diff:
        k = diff[0]
        raise InputError(f"{path} was made with {k}={recorded.get(k)!r}, this run has {settings[k]!r}; "
                         "use another --out, --overwrite, or delete it")
    why = _npz_damage(npz, result)
    if why is not None:
        return _damaged(npz, why, target)
    return result


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _design_json(design) -> dict:
    diag = design.diagnostics
    return {"matrix": design.matrix.name, "particle": design.particle.name, "diameter": design.diameter,
            "volume_fraction": design.volume_fraction, "valid": bool(diag.get("valid", True)),
            "flags": list(diag.get("flags", [])), "V_m": diag.get("V_m", math.nan), "d_m": diag.get("d_m", math.nan)}


def _verification_json(v, target) -> dict:
    return {"K": v.K, "std": v.std, "sem": v.sem, "ci95": list(v.ci95), "n": v.n, "converged": v.converged,
            "relative_error": abs(v.K - target) / target, "flags": list(v.flags), "seeds": v.seeds,
            "n_particles": v.n_particles}


def _sample_json(i, K_s, checked, target, definition) -> dict:
    other = checked["other"]
    out = {"sample": i, "K_s": K_s, "definition": definition,
           OTHER[definition][1]: {"mean": other.mean, "sem": other.sem, "std": other.std, "n": other.n,
                                  "stage": "refined" if "refined" in checked else "raw", "seeds": other.seeds,
                                  "n_particles": other.n_particles}}
    for stage, part in checked.items():
        if stage in STAGES:
            out[stage] = {"design": _design_json(part["design"]),
                          **{p: _verification_json(part[p], target) for p in PROTOCOLS}}
    if "refined" in checked:
        out["refined"]["trace"] = [list(t) for t in checked["refined"]["trace"]]
    return out


def _clean(x):
    """JSON-ready copy: numpy scalars → Python, nan → None."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


def _nan(d: dict) -> dict:
    return {k: (math.nan if v is None else v) for k, v in d.items()}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_evaluation(ev: Evaluation, out) -> Path:
    """Write the tables (``table-<stage>-<protocol>.md/.csv/.json``), ``summary.md``,
    ``evaluation.json`` and the figures ``samples.png`` / ``k-histograms.png`` into ``out``."""
    from matdesign.pipeline.evaluation_figures import k_histograms_png, sample_grid_png

    out = Path(out)
    for stage in ev.stages:
        for protocol in PROTOCOLS:
            for ext in (".md", ".csv", ".json"):
                ev.table(stage, protocol).save(out / f"table-{stage}-{protocol}{ext}")
    write_text_atomic(out / "summary.md", summary_markdown(ev))
    payload = {"settings": ev.settings, "seconds": ev.seconds, "skipped": ev.skipped,
               "targets": [{"target": r["target"], "seconds": r["seconds"], "metrics": r["metrics"]}
                           for r in ev.results]}
    write_text_atomic(out / "evaluation.json", json.dumps(_clean(payload), indent=1) + "\n")
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
                values = [r["metrics"][f"{stage}/{protocol}"].get(key) for r in ev.results]
                cells = ["–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec) for v in values]
                lines.append(f"| {label}: {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def summary_markdown(ev: Evaluation) -> str:
    """The human-readable report: settings, the paper-vs-converged comparison and the full tables."""
    s = ev.settings
    work = [sum(r["seconds"].values()) for r in ev.results]
    per_target = ", ".join(f"{r['target']:.4g}: {w:.0f} s" for r, w in zip(ev.results, work))
    other = OTHER[s["definition"]][1]
    other_seconds = sum(r.get("seconds_other_definition", 0.0) for r in ev.results)
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
