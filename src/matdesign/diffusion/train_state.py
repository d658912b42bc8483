"""Everything needed to resume training bit-for-bit, in one safetensors file (no pickle).

Tensors (model and EMA weights, AdamW moments, generator states) are safetensors entries; the rest
(step, config, optimizer param groups, lr-scheduler state, …) is JSON in the file's metadata.
One file written atomically means a checkpoint is either complete or absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from matdesign.atomic import atomic_path
from matdesign.errors import InputError

STATE_NAME = "train_state.safetensors"


class EMA:
    """Exponential moving average of the trainable parameters (float32 shadow copies).

    decay at update k: min(decay, (1 + k)/(10 + k)) — the warm-up of diffusers' ``EMAModel``.
    """

    def __init__(self, module: torch.nn.Module, decay: float):
        self.decay = float(decay)
        self.updates = 0
        self.shadow = {n: p.detach().float().clone() for n, p in module.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        pairs = [(self.shadow[n], p.detach().float()) for n, p in module.named_parameters() if n in self.shadow]
        shadow, params = zip(*pairs)
        torch._foreach_lerp_(list(shadow), list(params), 1.0 - d)  # one fused launch per dtype/device group

    def state_dict_for(self, module: torch.nn.Module) -> dict[str, torch.Tensor]:
        """``module``'s state dict with the trainable parameters replaced by their averages."""
        sd = module.state_dict()
        return {k: (self.shadow[k].to(v.dtype) if k in self.shadow else v) for k, v in sd.items()}


def flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimizer state → (tensors named ``optim/<param>/<key>``, JSON-able rest)."""
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, entry in sd["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"optim/{idx}/{key}"] = value
            else:
                scalars[f"{idx}/{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def unflatten_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Inverse of :func:`flatten_optimizer`: load the state into ``optimizer``."""
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optim/"):
            _, idx, key = name.split("/", 2)
            state.setdefault(int(idx), {})[key] = value
    for name, value in meta["scalars"].items():
        idx, key = name.split("/", 1)
        state.setdefault(int(idx), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_state(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Write ``tensors`` and the JSON ``meta`` to one safetensors file, atomically."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"state": json.dumps(meta, default=str)})
    return Path(path)


def load_state(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a file written by :func:`save_state`; InputError if missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"resume: no training state at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})["state"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as err:
        raise InputError(f"resume: {path} is not a readable training state ({err})") from err
    return tensors, meta


def with_prefix(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}/{k}": v for k, v in tensors.items()}


def strip_prefix(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    p = f"{prefix}/"
    return {k[len(p):]: v for k, v in tensors.items() if k.startswith(p)}
