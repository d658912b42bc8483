"""Generate a labelled dataset into ``DATA/``: blocks of samples on dask, resumable, then one store.

Layout while running: ``DATA/progress.json`` (the run's configuration and metadata, written once,
atomically) and ``DATA/parts/block-000123.h5`` (one per finished block, atomic). When every block is
done the parts are assembled into ``DATA/dataset.h5`` (temp + ``os.replace``), then the parts and
``progress.json`` are removed. A killed run leaves only complete files; ``resume=True`` continues it.
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

from matdesign.atomic import write_text_atomic
from matdesign.data.parallel import run_blocks
from matdesign.data.parts import finished_blocks, part_path, read_part
from matdesign.data.samples import LABEL_MODES, make_block
from matdesign.data.store import STORE_NAME, read_meta, write_store
from matdesign.errors import InputError
from matdesign.filelock import locked
from matdesign.provenance import versions
from matdesign.validate import check_device, check_dim, check_integers

PROGRESS_NAME = "progress.json"
PARTS_NAME = "parts"
#: Configuration fields a resumed run must share with the run it continues.
CONFIG_KEYS = ("dim", "size", "n", "seed", "chunk", "material_sha256", "labels")


def load_table(materials: str | Path | None):
    """The material table: built-in when ``materials`` is None, else read from that CSV file."""
    from matdesign.materials import MaterialTable

    if materials is None:
        return MaterialTable.builtin()
    path = Path(materials)
    if not path.is_file():
        raise InputError(f"materials: file not found: {path}")
    return MaterialTable.from_csv(path)


def _check_args(dim: int, size: int, n: int, seed: int, chunk: int, resume: bool, overwrite: bool) -> None:
    check_dim(dim)
    check_integers(low=4, size=size)
    check_integers(n=n, chunk=chunk)
    check_integers(low=0, seed=seed)
    if resume and overwrite:
        raise InputError("resume and overwrite exclude each other; pass one")


def _meta(table, config: dict, materials, command: str) -> dict:
    """Metadata of a new dataset (stored in progress.json while running, then in the store)."""
    return {
        "format": "matdesign-dataset/1",
        **config,
        "channels": ["E", "nu", "rho"],
        "units": {"E": "GPa", "nu": "-", "rho": "g/cm^3", "K": "GPa", "C": "GPa (Voigt)", "diameter": "cell"},
        "normalization": table.normalization.to_dict(),
        "materials": {"source": str(materials) if materials else "builtin", "csv": table.to_csv_text()},
        "versions": versions(),
        "command": command,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _recorded(meta: dict, key: str):
    """``meta[key]``, reading older stores: no ``labels`` or ``labels: true`` → "stiffness", false → "none"."""
    value = meta.get(key, True if key == "labels" else None)
    if key == "labels" and isinstance(value, bool):
        return "stiffness" if value else "none"
    return value


def _check_resume(recorded: dict, config: dict, where: Path) -> None:
    """InputError naming the first configuration field where a resume differs from the recorded run."""
    for key in CONFIG_KEYS:
        if _recorded(recorded, key) != config[key]:
            what = "material table (sha256)" if key == "material_sha256" else key
            raise InputError(
                f"resume: {what} is {config[key]!r} but {where} was made with {_recorded(recorded, key)!r}; "
                "pass the same options or --overwrite"
            )


def _clean(out: Path) -> None:
    """Remove this package's files from ``out`` (store, progress record, parts); nothing else."""
    (out / STORE_NAME).unlink(missing_ok=True)
    _clean_progress(out)


def generate_dataset(
    out: str | Path,
    *,
    dim: int,
    size: int,
    n: int,
    seed: int,
    materials: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    chunk: int = 64,
    max_blocks: int | None = None,
    progress: bool = True,
    command: str | None = None,
    labels: str = "stiffness",
    device: str | None = None,
) -> Path | None:
    """Generate ``n`` labelled samples into the directory ``out``; return the store path.

    Sample ``i`` depends only on ``(seed, i)``, the material table and ``dim``/``size``, so the
    result is bit-identical for any ``workers``/``scheduler``. ``max_blocks`` stops after that many
    new blocks and returns None (the run can be resumed). Bad options raise InputError before
    anything on disk is touched. ``labels`` (:data:`~matdesign.data.samples.LABEL_MODES`): "stiffness"
    (default) stores ``C`` and ``K``, "bulk" only ``K`` (one load case: 3× (2D) / 6× (3D) fewer solves),
    "none" the fields alone (``K``, ``C`` = NaN). ``device="cuda"`` labels each block as one batch on the GPU.
    """
    _check_args(dim, size, n, seed, chunk, resume, overwrite)
    if device is not None:
        check_device(device)
    if labels not in LABEL_MODES:
        raise InputError(f"labels={labels!r}: must be one of {', '.join(LABEL_MODES)}")
    table = load_table(materials)
    config = {"dim": dim, "size": size, "n": n, "seed": seed, "chunk": chunk, "material_sha256": table.sha256(),
              "labels": labels}
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"out: {out} exists and is not a directory")
    created = not out.exists()
    with locked(out):
        _remove_temporaries(out)
        meta, new = _open_run(out, table, config, materials, command, resume=resume, overwrite=overwrite)
        if meta is None:  # the store is complete already
            return out / STORE_NAME
        try:
            return _compute(out, table, config, meta, workers=workers, scheduler=scheduler, max_blocks=max_blocks,
                            progress=progress, device=device)
        except BaseException:
            if new and not finished_blocks(out / PARTS_NAME):  # nothing computed: leave nothing behind
                _clean_progress(out)
                if created:
                    shutil.rmtree(out, ignore_errors=True)
            raise


def _open_run(out: Path, table, config: dict, materials, command, *, resume: bool, overwrite: bool) -> tuple[dict | None, bool]:
    """(the run's metadata, whether this call started it); (None, False) when a resumed store is complete."""
    store, record = out / STORE_NAME, out / PROGRESS_NAME
    existing = store.exists() or record.exists() or (out / PARTS_NAME).exists()
    if existing and not (resume or overwrite):
        raise InputError(f"out: {out} already holds a dataset; pass --resume to continue it or --overwrite to replace it")
    if existing and resume:
        if not (store.exists() or record.exists()):
            raise InputError(f"resume: {out} has parts but no {PROGRESS_NAME}; pass --overwrite to start again")
        meta = read_meta(store) if store.exists() else _read_progress(record)
        _check_resume(meta, config, store if store.exists() else record)
        if store.exists():
            _clean_progress(out)
            return None, False
        return meta, False
    if overwrite:
        _clean(out)
    out.mkdir(parents=True, exist_ok=True)
    meta = _meta(table, config, materials, command or " ".join(sys.argv))
    write_text_atomic(record, json.dumps(meta, indent=1))
    return meta, True


def _compute(out: Path, table, config: dict, meta: dict, *, workers, scheduler, max_blocks, progress, device) -> Path | None:
    """Compute the missing (or damaged) blocks; assemble the store when all are done."""
    parts = out / PARTS_NAME
    n, chunk, dim, size, labels = (config[k] for k in ("n", "chunk", "dim", "size", "labels"))
    blocks = [range(s, min(s + chunk, n)) for s in range(0, n, chunk)]
    drop_damaged_parts(parts, blocks)
    common = {"table": table, "seed": config["seed"], "dim": dim, "size": size, "labels": labels, "device": device}
    run_blocks(make_block, blocks, parts, common=common, workers=workers, scheduler=scheduler,
               max_blocks=max_blocks, progress=progress, desc=f"{out.name} {dim}D {size}", unit="sample")
    if not set(range(len(blocks))) <= finished_blocks(parts):
        return None
    store = out / STORE_NAME
    write_store(store, (read_part(part_path(parts, b)) for b in range(len(blocks))), n, meta)
    _clean_progress(out)
    return store


def _read_progress(record: Path) -> dict:
    """The run's configuration from ``progress.json``; InputError naming it when it is not readable JSON."""
    try:
        meta = json.loads(record.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise InputError(f"resume: {record} is damaged ({type(err).__name__}); pass --overwrite to start again") from None
    if not isinstance(meta, dict):
        raise InputError(f"resume: {record} is damaged (not a JSON object); pass --overwrite to start again")
    return meta


def _remove_temporaries(out: Path) -> None:
    """Remove the temporary files of killed runs (``.dataset.h5.*.tmp``, ``parts/.block-*.tmp``): ``out`` is locked."""
    for pattern in (f".{STORE_NAME}.*", f"{PARTS_NAME}/.block-*"):
        for p in out.glob(pattern):
            p.unlink(missing_ok=True)


def drop_damaged_parts(parts: Path, blocks: list[range]) -> list[Path]:
    """Delete the part files that cannot be read or hold the wrong number of samples (they are computed
    again), naming each on stderr; returns them."""
    damaged = []
    for b in sorted(finished_blocks(parts)):
        path = part_path(parts, b)
        if b >= len(blocks):
            continue
        try:
            ok = len(read_part(path)["seed"]) == len(blocks[b])
            why = "wrong number of samples"
        except (OSError, KeyError, ValueError) as err:
            ok, why = False, str(err).splitlines()[0] if str(err) else type(err).__name__
        if not ok:
            print(f"note: {path} is damaged ({why}); computing it again", file=sys.stderr)
            path.unlink()
            damaged.append(path)
    return damaged


def _clean_progress(out: Path) -> None:
    """Remove the parts and progress record once the store is complete."""
    shutil.rmtree(out / PARTS_NAME, ignore_errors=True)
    (out / PROGRESS_NAME).unlink(missing_ok=True)
