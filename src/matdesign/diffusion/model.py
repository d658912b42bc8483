"""A trained diffusion model: UNet + config + normalization, saved as ``model.safetensors`` + ``config.json``.

``config.json`` holds ``config`` (the full :class:`Config` dict: architecture, scheduler, training),
``grid`` (spatial shape), ``normalization`` (``Normalization.to_dict()``), ``material_sha256``,
``dataset`` (the training set's ``meta``), ``step`` (training steps done), ``weights`` ("ema" or
"raw") and, for conditional models, ``condition`` = {"K_min", "K_max"} [GPa] mapping K to [−1, 1].
No pickle: tensors go through safetensors, everything else through JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from matdesign.atomic import atomic_path, write_text_atomic
from matdesign.diffusion.config import Config
from matdesign.diffusion.scheduler import make_train_scheduler
from matdesign.diffusion.unet import UNet, build_unet
from matdesign.errors import InputError

FORMAT = "matdesign-diffusion"
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


class DiffusionModel:
    """The bundle used by samplers: ``model(x_t, t, cond=None) -> v`` plus what is needed to interpret it.

    unet: :class:`UNet`; config: :class:`Config`; grid: spatial shape of the training fields;
    normalization: ``matdesign.materials.Normalization`` (or None); info: the other JSON fields
    (``material_sha256``, ``dataset``, ``step``, ``weights``, ``condition``).
    """

    def __init__(self, unet: UNet, config: Config, *, grid, normalization=None, info: dict | None = None):
        self.unet = unet
        self.config = config
        self.grid = tuple(int(s) for s in grid)
        self.normalization = normalization
        self.info = dict(info or {})
        self._alphas_cumprod = make_train_scheduler(config).alphas_cumprod.float()

    @property
    def dim(self) -> int:
        return self.config.model.dim

    @property
    def device(self) -> torch.device:
        return self.unet.conv_in.weight.device

    @property
    def step(self) -> int:
        return int(self.info.get("step", 0))

    @property
    def conditional(self) -> bool:
        return self.config.model.conditional

    def alphas_cumprod(self, t: torch.Tensor | int) -> torch.Tensor:
        """ᾱ_t of the training schedule for integer time step(s) ``t``, on the model's device."""
        t = torch.as_tensor(t, dtype=torch.long).cpu()
        return self._alphas_cumprod[t].to(self.device)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor | int, cond: torch.Tensor | None = None) -> torch.Tensor:
        """v-prediction (B, 3, *grid); ``cond`` = normalized K per sample (NaN: unconditional)."""
        return self.unet(x_t, t, cond)

    def normalize_K(self, K) -> torch.Tensor:
        """Bulk modulus [GPa] → the conditional model's [−1, 1] input."""
        cond = self.info.get("condition")
        if not self.conditional or not cond:
            raise InputError("this model is unconditional: it takes no target K")
        lo, hi = float(cond["K_min"]), float(cond["K_max"])
        return 2.0 * (torch.as_tensor(K, dtype=torch.float32) - lo) / (hi - lo) - 1.0

    def to(self, device) -> "DiffusionModel":
        self.unet.to(device)
        return self

    def eval(self) -> "DiffusionModel":
        self.unet.eval()
        return self

    def metadata(self) -> dict:
        """The JSON document saved as ``config.json``."""
        norm = self.normalization.to_dict() if self.normalization is not None else None
        return {"format": FORMAT, "version": 1, "config": self.config.to_dict(), "grid": list(self.grid),
                "normalization": norm, **self.info}

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``directory/model.safetensors`` and ``directory/config.json`` (each atomically)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.unet.state_dict().items()}
        with atomic_path(directory / WEIGHTS_NAME) as tmp:
            save_file(tensors, str(tmp), metadata={"format": FORMAT})
        write_text_atomic(directory / CONFIG_NAME, json.dumps(self.metadata(), indent=2, default=str))
        return directory

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu", *, dim: int | None = None) -> "DiffusionModel":
        """Load from a model directory or its ``model.safetensors``; InputError on any problem.

        ``dim``: if given, the model must be for that many spatial dimensions.
        """
        weights, config_path = _paths(Path(path))
        meta = _read_meta(config_path)
        try:
            config = Config.from_dict(meta["config"])
        except (KeyError, InputError) as err:
            raise InputError(f"model: {config_path} holds no valid config ({err})") from err
        if dim is not None and config.model.dim != dim:
            raise InputError(f"model: {path} is a {config.model.dim}D model, a {dim}D model is needed")
        try:
            tensors = load_file(str(weights))
        except (SafetensorError, OSError, ValueError) as err:
            raise InputError(f"model: {weights} is not a readable safetensors file ({err})") from err
        unet = build_unet(config.model, config.scheduler.num_train_timesteps)
        _check_state(unet, tensors, weights)
        unet.load_state_dict(tensors)
        unet.to(device).eval()
        normalization = None
        if meta.get("normalization") is not None:
            from matdesign.materials import Normalization

            normalization = Normalization.from_dict(meta["normalization"])
        info = {k: v for k, v in meta.items() if k not in ("format", "version", "config", "grid", "normalization")}
        return cls(unet, config, grid=meta.get("grid") or (), normalization=normalization, info=info)


def _paths(path: Path) -> tuple[Path, Path]:
    if path.is_dir():
        weights, config = path / WEIGHTS_NAME, path / CONFIG_NAME
    else:
        weights, config = path, path.with_name(CONFIG_NAME)
    for p in (weights, config):
        if not p.is_file():
            raise InputError(f"model: {p} not found (a model is a folder with {WEIGHTS_NAME} and {CONFIG_NAME})")
    return weights, config


def _read_meta(config_path: Path) -> dict:
    try:
        meta = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"model: {config_path} is not valid JSON ({err})") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(f"model: {config_path} is not a matdesign diffusion model config (format != {FORMAT!r})")
    return meta


def _check_state(unet: UNet, tensors: dict[str, torch.Tensor], weights: Path) -> None:
    """InputError naming the first differences if ``tensors`` does not fit ``unet``."""
    expected = {k: tuple(v.shape) for k, v in unet.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    problems = [f"missing {k}" for k in expected if k not in got]
    problems += [f"unexpected {k}" for k in got if k not in expected]
    problems += [f"{k} has shape {got[k]}, expected {s}" for k, s in expected.items() if k in got and got[k] != s]
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise InputError(f"model: weights in {weights} do not match the architecture in its config.json: "
                         f"{'; '.join(problems[:3])}{more}")
