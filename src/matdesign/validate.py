"""Argument checks shared by the library's public functions (the CLI's option checks are in
:mod:`matdesign.cli.checks`). Each raises :class:`~matdesign.errors.InputError` naming the argument."""

from __future__ import annotations

import numbers
import re

from matdesign.errors import InputError

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


def check_integers(low: int = 1, **values) -> None:
    """Each keyword ``name=value`` must be an integer (not a bool) ≥ ``low``."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise InputError(f"{name}={value!r}: must be an integer >= {low}")


def check_dim(dim) -> int:
    """The spatial dimension: 2 or 3."""
    if isinstance(dim, bool) or dim not in (2, 3):
        raise InputError(f"dim={dim!r}: must be 2 or 3")
    return int(dim)


def check_device(device) -> str:
    """``device``: "cpu", "cuda" or "cuda:N" (a string or a :class:`torch.device`); a CUDA device only where
    torch sees that GPU. Returns it as a string."""
    text = str(device)
    if not _DEVICE.match(text):
        raise InputError(f"device={text!r}: must be 'cpu', 'cuda' or 'cuda:N'")
    if text.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise InputError(f"device={text!r}: no CUDA GPU is available on this machine")
        count = torch.cuda.device_count()
        if ":" in text and int(text.split(":")[1]) >= count:
            raise InputError(f"device={text!r}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
    return text
