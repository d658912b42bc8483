"""Diffusion configuration: architecture, noise schedule and training settings (YAML ⇄ dataclasses).

The defaults are the paper's (section 6.2 and supplementary C); ``configs/*.yaml`` override them.
The whole config travels with every saved model as a plain dict (:meth:`Config.to_dict`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from matdesign.errors import InputError


@dataclass
class ModelConfig:
    """UNet architecture (channel counts per stage; ``dim`` = 2 or 3 spatial dimensions)."""

    dim: int = 2
    in_channels: int = 3
    embed_channels: int = 8
    block_channels: list[int] = field(default_factory=lambda: [32, 64])
    layers_per_block: int = 2
    mid_channels: list[int] = field(default_factory=lambda: [128, 128, 64])
    attention_heads: int = 16
    norm_groups: int = 8
    fourier_features: int = 16
    fourier_scale: float = 16.0
    time_embed_dim: int = 32
    conditional: bool = False

    def validate(self) -> None:
        if self.dim not in (1, 2, 3):
            raise InputError(f"model.dim must be 1, 2 or 3, got {self.dim}")
        if not self.block_channels or not self.mid_channels:
            raise InputError("model.block_channels and model.mid_channels must be non-empty lists")
        if self.mid_channels[-1] != self.block_channels[-1]:
            raise InputError(
                f"model.mid_channels must end with the last block's channels {self.block_channels[-1]}, "
                f"got {self.mid_channels}"
            )
        for name in ("embed_channels", "layers_per_block", "attention_heads", "norm_groups",
                     "fourier_features", "time_embed_dim"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"model.{name} must be ≥ 1, got {getattr(self, name)}")
        for c in [self.embed_channels, *self.block_channels, *self.mid_channels]:
            if c % self.norm_groups:
                raise InputError(f"model: channel count {c} is not divisible by norm_groups={self.norm_groups}")
        for c in self.mid_channels[:-1]:
            if c % self.attention_heads:
                raise InputError(f"model: attention channels {c} not divisible by attention_heads={self.attention_heads}")
        if self.fourier_features % 2:
            raise InputError(f"model.fourier_features must be even (sin and cos), got {self.fourier_features}")

    @property
    def downsampling(self) -> int:
        """Factor by which the grid must be divisible (2 per down block)."""
        return 2 ** len(self.block_channels)


@dataclass
class SchedulerConfig:
    """Noise schedule (diffusers DDPM/DDIM settings; the paper's values) and the DDIM η."""

    num_train_timesteps: int = 1000
    beta_schedule: str = "linear"
    beta_start: float = 1e-5
    beta_end: float = 1e-2
    prediction_type: str = "v_prediction"
    rescale_betas_zero_snr: bool = True
    timestep_spacing: str = "trailing"
    clip_sample: bool = True
    clip_sample_range: float = 1.0
    eta: float = 1.0

    def validate(self) -> None:
        if self.prediction_type != "v_prediction":
            raise InputError(f"scheduler.prediction_type: only 'v_prediction' is supported, got {self.prediction_type!r}")
        if not 0 < self.beta_start < self.beta_end < 1:
            raise InputError(f"scheduler: need 0 < beta_start < beta_end < 1, got {self.beta_start}, {self.beta_end}")
        if self.num_train_timesteps < 2:
            raise InputError(f"scheduler.num_train_timesteps must be ≥ 2, got {self.num_train_timesteps}")


@dataclass
class TrainConfig:
    """Optimisation: AdamW + cosine schedule with warm-up, gradient clipping, optional EMA."""

    steps: int = 100_000
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-2
    warmup_steps: int = 5000
    grad_clip: float = 1.0
    ema: bool = False
    ema_decay: float = 0.999
    cond_dropout: float = 0.1
    checkpoint_every: int = 5000
    log_every: int = 10
    seed: int = 0
    mixed_precision: str = "bf16"

    def validate(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "log_every"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"training.{name} must be ≥ 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.weight_decay < 0 or self.warmup_steps < 0 or self.grad_clip <= 0:
            raise InputError("training: lr and grad_clip must be > 0, weight_decay and warmup_steps ≥ 0")
        if not 0 <= self.cond_dropout < 1 or not 0 < self.ema_decay < 1:
            raise InputError("training: need 0 ≤ cond_dropout < 1 and 0 < ema_decay < 1")
        if self.mixed_precision not in ("bf16", "no"):
            raise InputError(f"training.mixed_precision must be 'bf16' or 'no', got {self.mixed_precision!r}")


_SECTIONS = {"model": ModelConfig, "scheduler": SchedulerConfig, "training": TrainConfig}


@dataclass
class Config:
    """The complete diffusion config: ``model``, ``scheduler`` and ``training`` sections."""

    model: ModelConfig = field(default_factory=ModelConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    training: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> "Config":
        """Build and validate from a nested dict; missing keys take the defaults, unknown keys are errors."""
        d = d or {}
        if not isinstance(d, dict):
            raise InputError(f"config must be a mapping with sections {sorted(_SECTIONS)}, got {type(d).__name__}")
        unknown = set(d) - set(_SECTIONS)
        if unknown:
            raise InputError(f"config: unknown section(s) {sorted(unknown)}; expected {sorted(_SECTIONS)}")
        sections = {name: _section(name, sec_cls, d.get(name)) for name, sec_cls in _SECTIONS.items()}
        return cls(**sections)


def _section(name: str, sec_cls, values: dict | None):
    """One validated section; values are cast to the default's type (int/float/bool/list)."""
    values = values or {}
    if not isinstance(values, dict):
        raise InputError(f"config section {name!r} must be a mapping, got {values!r}")
    defaults = sec_cls()
    kwargs = {}
    for key, value in values.items():
        if not hasattr(defaults, key):
            known = [f.name for f in dataclasses.fields(sec_cls)]
            raise InputError(f"config: unknown key {name}.{key}; known keys: {known}")
        kwargs[key] = _cast(f"{name}.{key}", getattr(defaults, key), value)
    section = sec_cls(**kwargs)
    section.validate()
    return section


def _cast(key: str, default, value):
    try:
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise TypeError
            return value
        if isinstance(default, int):
            if isinstance(value, float) and not value.is_integer():
                raise TypeError
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, list):
            return [int(v) for v in value]
        if isinstance(default, str):
            if not isinstance(value, str):
                raise TypeError
            return value
    except (TypeError, ValueError):
        pass
    else:
        return value
    raise InputError(f"config: {key} must be of type {type(default).__name__}, got {value!r}")


def load_config(path: str | os.PathLike) -> Config:
    """Read a YAML config file (see ``configs/``)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise InputError(f"config file {path} is not valid YAML: {err}") from err
    try:
        return Config.from_dict(data)
    except InputError as err:
        raise InputError(f"{path}: {err}") from err
