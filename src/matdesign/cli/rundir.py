"""Output folders as units: one run per folder, a lock against concurrent runs, a manifest written last.

* :func:`~matdesign.filelock.locked` holds ``.NAME.lock`` beside the folder (``flock``: released by the kernel when the
  process dies, so a killed run never leaves a stale lock); a second run into the same folder is refused.
* :func:`staged` (design, baselines) writes into a fresh hidden folder ``.NAME.partial-PID`` beside
  ``--out`` and renames it into place at the end, so ``--out`` holds one complete run or none; an
  earlier run is replaced only with ``--overwrite``. Partial folders of killed runs are removed by the
  next run.
* :func:`in_place` (evaluate, train: resumable) marks the folder ``"status": "incomplete"`` in
  ``manifest.json`` while it runs and writes the complete manifest last; an earlier run is continued only
  with ``--resume`` and replaced only with ``--overwrite`` (evaluate).

A manifest lists every file with its size and SHA-256; :func:`folder_status` says whether a folder is
a complete run whose files match it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from matdesign.atomic import write_text_atomic
from matdesign.errors import InputError
from matdesign.filelock import locked

MANIFEST = "manifest.json"
FORMAT = "matdesign-run/1"


def read_manifest(out: Path) -> dict | None:
    """The manifest of ``out``, or None when it has none (or an unreadable one)."""
    try:
        data = json.loads((Path(out) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def _files(folder: Path) -> dict[str, dict]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            out[p.relative_to(folder).as_posix()] = {"bytes": p.stat().st_size,
                                                     "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
    return out


def write_manifest(folder: Path, kind: str, command: str, status: str = "complete") -> dict:
    """Write ``folder/manifest.json`` (every other file with size and SHA-256 when complete)."""
    manifest = {"format": FORMAT, "kind": kind, "status": status, "command": command,
                "written": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if status == "complete":
        manifest["files"] = _files(folder)
    write_text_atomic(Path(folder) / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return manifest


def folder_status(out: Path) -> str:
    """"complete" when ``out`` holds a complete manifest whose files match exactly, else why not."""
    manifest = read_manifest(out)
    if manifest is None:
        return "incomplete: no manifest"
    if manifest.get("status") != "complete":
        return f"incomplete: status {manifest.get('status')!r}"
    if _files(Path(out)) != manifest.get("files"):
        return "incomplete: files differ from the manifest"
    return "complete"


def _is_ours(out: Path, kind: str, legacy: tuple[str, ...]) -> bool:
    """Whether ``out`` holds a run of ``kind`` (a manifest, or a file only such runs write: ``legacy`` names
    or glob patterns such as ``targets/K*.json``)."""
    manifest = read_manifest(out)
    if manifest is not None:
        return manifest.get("kind") == kind
    return any(next(out.glob(name), None) is not None for name in legacy)


def _check_existing(out: Path, kind: str, overwrite: bool, legacy: tuple[str, ...], option: str) -> None:
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not _is_ours(out, kind, legacy):
        raise InputError(f"{option} {out}: is not empty and holds no matdesign {kind} run; choose another folder")
    if not overwrite:
        raise InputError(f"{option} {out}: holds an earlier {kind} run ({folder_status(out)}); "
                         "pass --overwrite to replace it or choose another folder")


def _remove_partials(out: Path) -> None:
    for p in out.parent.glob(f".{out.name}.partial-*"):
        shutil.rmtree(p, ignore_errors=True)


@contextlib.contextmanager
def staged(out: Path, *, kind: str, command: str, overwrite: bool = False,
           legacy: tuple[str, ...] = ("results.json",), option: str = "--out") -> Iterator[Path]:
    """Lock ``out``, check it, and yield a fresh partial folder; on success move it into place as ``out``."""
    out = Path(out).absolute()
    with locked(out, option):
        _check_existing(out, kind, overwrite, legacy, option)
        _remove_partials(out)
        partial = out.parent / f".{out.name}.partial-{os.getpid()}"
        partial.mkdir()
        try:
            yield partial
            write_manifest(partial, kind, command)
            if out.exists():
                old = out.parent / f".{out.name}.partial-{os.getpid()}-old"
                os.rename(out, old)
                os.rename(partial, out)
                shutil.rmtree(old)
            else:
                os.rename(partial, out)
        finally:
            shutil.rmtree(partial, ignore_errors=True)


def _check_in_place(out: Path, kind: str, legacy: tuple[str, ...], resume: bool | None, overwrite: bool,
                    option: str) -> bool:
    """Judge ``out`` for a resumable run; True when it holds an earlier run of ``kind``."""
    if not out.is_dir() or not any(out.iterdir()):
        if resume:
            raise InputError(f"--resume: {option} {out} holds no {kind} run to continue; drop --resume")
        return False
    if not _is_ours(out, kind, legacy):
        raise InputError(f"{option} {out}: is not empty and holds no matdesign {kind} run; choose another folder")
    if resume is False and not overwrite:
        raise InputError(f"{option} {out}: holds an earlier {kind} run ({folder_status(out)}); pass --resume to "
                         "continue it, --overwrite to replace it, or choose another folder")
    return True


def _remove_run(out: Path) -> None:
    """Remove the run folder ``out`` (moved aside first, so a kill never leaves half of it as ``out``)."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    os.rename(out, old)
    shutil.rmtree(old)


@contextlib.contextmanager
def in_place(out: Path, *, kind: str, command: str, legacy: tuple[str, ...], option: str = "--out",
             resume: bool | None = None, overwrite: bool = False) -> Iterator[Path]:
    """Lock ``out`` (a resumable run's folder), mark it incomplete, yield it; the complete manifest comes last.

    ``resume``: None continues an earlier run of ``kind`` in ``out`` (the caller judged it); False refuses
    one unless ``overwrite``; True requires one. ``overwrite`` removes an earlier run of ``kind`` first (never
    a folder that holds something else). Folders of killed overwrites (``.NAME.old-PID``) are removed.
    """
    out = Path(out).absolute()
    if resume and overwrite:
        raise InputError("--resume and --overwrite exclude each other; pass one")
    if not out.exists():  # answer before creating the lock's folder (an existing folder is judged under the lock)
        _check_in_place(out, kind, legacy, resume, overwrite, option)
    with locked(out, option):
        earlier = _check_in_place(out, kind, legacy, resume, overwrite, option)
        for p in out.parent.glob(f".{out.name}.old-*"):
            shutil.rmtree(p, ignore_errors=True)
        if earlier and overwrite:
            _remove_run(out)
        fresh = not out.is_dir() or not any(out.iterdir())
        out.mkdir(parents=True, exist_ok=True)
        write_manifest(out, kind, command, status="incomplete")
        try:
            yield out
        except BaseException:
            if fresh and [p.name for p in out.iterdir()] == [MANIFEST]:  # failed before writing anything
                shutil.rmtree(out)
            raise
        write_manifest(out, kind, command)
