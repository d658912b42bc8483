"""Where an evaluation keeps its per-target results: ``OUT/targets/K<K*>.json`` and ``.npz``, written
atomically as each target finishes, checked against the run's settings and their recorded SHA-256 on resume."""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path

import numpy as np

from matdesign.atomic import atomic_path, write_text_atomic
from matdesign.errors import InputError, InputNote
from matdesign.evaluate.results import OTHER, PROTOCOLS, STAGES, TargetResult, VerifiedSample

#: Settings that must match for a stored target result to be reused.
RESUME_KEYS = ("dim", "samples", "steps", "seed", "objective", "mode", "step_clip", "sampler", "grad_max_mag", "guide",
               "definition", "refine", "verify_n", "sem_tol", "max_arrangements", "model_sha256", "material_sha256")


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


def _npz_damage(path: Path, result: TargetResult) -> str | None:
    """Why the npz of a stored target result is unusable, or None: it must open, hold ``fields`` and
    ``K_s`` with one row per sample, and match the ``arrays_sha256`` its JSON recorded (when it did)."""
    try:
        with np.load(path) as f:
            fields, K_s = f["fields"], f["K_s"]
    except Exception as err:  # noqa: BLE001 — a damaged zip raises BadZipFile, EOFError, ValueError, KeyError, zlib.error …
        return f"cannot be read: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}".rstrip(": ")
    n = result.settings.get("samples")
    if fields.ndim < 3 or len(fields) != n or len(K_s) != n:
        return f"holds {len(fields)} fields and {len(K_s)} K_s values, the run has {n} samples"
    recorded = result.arrays_sha256
    if recorded is not None and recorded != arrays_sha256(fields, K_s):
        return f"its arrays differ from those recorded in {path.with_suffix('.json').name}"
    return None


def _damaged(path: Path, why: str, target: float) -> None:
    """Say (an :class:`InputNote`) that a stored result is damaged and will be recomputed; return None."""
    warnings.warn(f"{path} is damaged ({why}); recomputing target K* = {target:g} GPa", InputNote, stacklevel=3)


def load_done(out, target, settings) -> TargetResult | None:
    """The stored result of ``target`` if present and intact; InputError if it was made with other settings.

    A damaged result (JSON that does not parse or lacks its fields, an npz that does not open or does not
    match the arrays its JSON recorded) is named in an :class:`InputNote` and recomputed (None): the same
    settings and seed give the same result.
    """
    path, npz = target_path(out, target, ".json"), target_path(out, target, ".npz")
    if not (path.exists() and npz.exists()):
        return None
    try:
        result = TargetResult.from_json(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return _damaged(path, f"not a readable result: {one_line(err)}", target)
    if result.target != target:
        raise InputError(f"{path} holds target {result.target!r}, not {target!r}; use another --out")
    # results from before `mode` / `step_clip` / `definition` existed were guided with the unclipped DPS step
    # and verified in the paper's cell; before `fem` existed, "paper" named that cell (now "cell"); before
    # `sampler` existed, every run used the DPS step (clipped or not) guided on the cell K
    recorded = {"mode": "guided", "step_clip": None, "definition": "cell", "guide": "cell", "grad_max_mag": None,
                **result.settings}
    recorded.setdefault("sampler", "dps" if recorded["step_clip"] is not None else "dps-unclipped")
    if "fem" not in result.settings and recorded["definition"] == "paper":
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


def one_line(err: BaseException) -> str:
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


def sample_json(i: int, K_s: float, checked: VerifiedSample, target: float, definition: str) -> dict:
    """The JSON record of sample ``i``: its K_s, the other definition's K of its final design and, per
    stage, the design's parameters and both protocols' verification (the refined one with its trace)."""
    other = checked.other
    out = {"sample": i, "K_s": K_s, "definition": definition,
           OTHER[definition][1]: {"mean": other.mean, "sem": other.sem, "std": other.std, "n": other.n,
                                  "stage": "raw" if checked.refined is None else "refined", "seeds": other.seeds,
                                  "n_particles": other.n_particles}}
    for stage, part in zip(STAGES, (checked.raw, checked.refined)):
        if part is not None:
            out[stage] = {"design": _design_json(part.design),
                          **{p: _verification_json(getattr(part, p), target) for p in PROTOCOLS}}
    if checked.refined is not None:
        out["refined"]["trace"] = [list(t) for t in checked.refined.trace]
    return out


def json_ready(x):
    """JSON-ready copy: numpy scalars → Python, nan → None."""
    if isinstance(x, dict):
        return {k: json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_ready(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_target(out, result: TargetResult, fields: np.ndarray, K_s: np.ndarray) -> TargetResult:
    """Store one target's ``result`` (JSON) with its ``fields`` (samples, 3, *grid) and ``K_s`` (npz), the
    arrays' SHA-256 recorded in the JSON; the npz first, so a JSON always has its arrays. Returns the
    result as stored (as a resume reads it back: nan → None)."""
    fields = fields.astype(np.float32)
    result.arrays_sha256 = arrays_sha256(fields, K_s)  # what a resume checks the npz against
    with atomic_path(target_path(out, result.target, ".npz"), suffix=".npz") as tmp:
        np.savez_compressed(tmp, fields=fields, K_s=K_s)
    data = json_ready(result.to_json())
    write_text_atomic(target_path(out, result.target, ".json"), json.dumps(data, indent=1) + "\n")
    return TargetResult.from_json(data)
