"""Path and file checks of the command line (before any heavy import): inputs that must be readable,
outputs that must be writable, shipped models by name, material names, config and dataset files."""

from __future__ import annotations

import difflib
import json
import math
import os
from importlib import resources
from pathlib import Path

from matdesign.errors import InputError

SHIPPED_MODELS = ("2d", "2d-cond", "3d")
"""Models shipped inside the package (src/matdesign/models/NAME), usable as ``--model NAME``."""


def input_file(option: str, path: Path | None) -> Path | None:
    """``path`` (None passes) if it is a readable file."""
    if path is None:
        return None
    path = Path(path)
    if not path.exists():
        raise InputError(f"{option} {path}: no such file")
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder; pass a file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{option} {path}: not readable; check its permissions")
    return path


def _writable_parent(option: str, path: Path) -> None:
    """InputError unless the nearest existing ancestor of ``path`` is a writable folder."""
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{option} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: cannot write into {parent}; check its permissions or choose another path")


def output_file(option: str, path: Path | None, suffixes: tuple[str, ...] = ()) -> Path | None:
    """``path`` (None passes) if a file can be written there: not a folder, in a writable folder, with
    one of ``suffixes`` (when given)."""
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder; pass a file name such as {path / ('out' + (suffixes or ('.png',))[0])}")
    if suffixes and path.suffix.lower() not in suffixes:
        raise InputError(f"{option} {path}: must end in {' or '.join(suffixes)}")
    _writable_parent(option, path)
    return path


def output_folder(option: str, path: Path) -> Path:
    """``path`` if a folder can be created or written there (its contents are judged by :mod:`.rundir`)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path}: is a file; pass a folder")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise InputError(f"{option} {path}: cannot write into it; check its permissions or choose another folder")
    _writable_parent(option, path)
    return path


def model(path: Path | None, dim: int | None = None, option: str = "--model") -> Path | None:
    """A model folder: ``None`` (the shipped default, passes), a shipped name (2d, 2d-cond, 3d) or a folder
    (or its model.safetensors) with a readable matdesign config.json; its dimension must match ``dim``."""
    if path is None:
        return None
    path = Path(path)
    if not path.exists() and str(path) in SHIPPED_MODELS:
        path = Path(str(resources.files("matdesign") / "models" / str(path)))
    folder = path.parent if path.suffix == ".safetensors" else path
    if not folder.is_dir():
        names = ", ".join(SHIPPED_MODELS)
        raise InputError(f"{option} {path}: no such model folder; pass a folder from `matdesign train` or a shipped model ({names})")
    weights = path if path.suffix == ".safetensors" else folder / "model.safetensors"
    input_file(option, weights)
    config = input_file(option, folder / "config.json")
    try:
        meta = json.loads(config.read_text(encoding="utf-8"))
        model_dim = int(meta["config"]["model"]["dim"])
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise InputError(f"{option} {path}: {config} is not a matdesign model config ({type(err).__name__}); "
                         "pass a folder from `matdesign train`") from None
    if dim is not None and model_dim != dim:
        raise InputError(f"{option} {path}: a {model_dim}D model, but --dim is {dim}")
    return path


def model_meta(path: Path | None, default: str) -> dict:
    """The config.json of a checked model (None: the shipped model ``default``); {} when unreadable."""
    if path is None:
        path = Path(str(resources.files("matdesign") / "models" / default))
    folder = path.parent if path.suffix == ".safetensors" else path
    try:
        meta = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def materials_csv(path: Path | None, option: str = "--materials"):
    """Parse and validate a material CSV (None passes); returns its columns."""
    if path is None:
        return None
    input_file(option, path)
    from matdesign.materials.csv_io import read_materials_csv

    return read_materials_csv(path)


def material_name(option: str, name: str, names: list[str]) -> str:
    """``name`` if it is in ``names``; else InputError with the closest names ("did you mean …")."""
    if name in names:
        return name
    folded = {n.casefold(): n for n in names}
    if name.casefold() in folded:
        return folded[name.casefold()]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    close += [n for n in names if n.casefold().startswith(name.casefold()) and n not in close][:3 - len(close)]
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else "; `matdesign materials list` shows them"
    raise InputError(f"{option} {name!r}: unknown material{hint}")


def dataset(option: str, path: Path) -> Path:
    """A readable matdesign dataset (folder or its dataset.h5): opens it and checks its samples."""
    from matdesign.data.store import check_store, store_path

    p = store_path(path)
    if not p.exists():
        raise InputError(f"{option} {path}: no dataset store at {p}; make one with `matdesign dataset generate`")
    check_store(p, full=False)
    return p


def config_yaml(option: str, path: Path) -> dict:
    """A diffusion config YAML: readable UTF-8, a mapping, every number finite."""
    import yaml

    input_file(option, path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{option} {path}: not a text file; pass a YAML config such as configs/paper-2d.yaml") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"{option} {path}{where}: not valid YAML ({getattr(err, 'problem', None) or err})") from None
    if not isinstance(data, dict):
        raise InputError(f"{option} {path}: must be a mapping with sections model, scheduler, training")
    for key, value in _leaves(data):
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"{option} {path}: {key} is {value}; must be a finite number")
    try:
        _config_module().Config.from_dict(data)  # sections, keys, types and ranges, as training will check them
    except InputError as err:
        raise InputError(f"{option} {path}: {err}") from None
    return data


def _config_module():
    """``matdesign.diffusion.config`` — or, before the package is imported (its ``__init__`` imports torch,
    seconds), the same file loaded on its own under a private name: it imports nothing heavy."""
    import sys

    loaded = sys.modules.get("matdesign.diffusion.config")
    if loaded is not None:
        return loaded
    import importlib.util

    name = "matdesign.cli._diffusion_config"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, str(resources.files("matdesign") / "diffusion" / "config.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules[name]


def _leaves(d: dict, prefix: str = ""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v
