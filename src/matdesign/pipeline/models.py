"""The shipped diffusion models and how a run loads one."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from matdesign.errors import InputError


SHIPPED_MODELS = ("2d", "3d", "2d-cond")
"""The models inside the package: the 2D and 3D defaults of ``design`` and the K-conditional 2D model of
the classifier-free-guidance baseline."""


def shipped_model_path(name: str | int) -> Path:
    """The folder of a shipped model: ``name`` one of :data:`SHIPPED_MODELS`, or 2 / 3 for the default of a dimension."""
    name = f"{name}d" if isinstance(name, int) else name
    if name not in SHIPPED_MODELS:
        raise InputError(f"no shipped model {name!r}; the shipped ones are {', '.join(SHIPPED_MODELS)}")
    return Path(str(resources.files("matdesign") / "models" / name))


def load_model(model: str | Path | None, dim: int, device: str):
    """Load ``model`` (a folder or .safetensors path; None → the shipped default for ``dim``)."""
    from matdesign.diffusion import DiffusionModel

    path = shipped_model_path(dim) if model is None else Path(model)
    if model is None and not (path / "model.safetensors").exists():
        raise InputError(f"no shipped {dim}D model in this installation ({path}); pass --model")
    return DiffusionModel.load(path, device, dim=dim).eval()
