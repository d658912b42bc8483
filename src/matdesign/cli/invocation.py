"""The command line of the running ``matdesign`` call.

:func:`matdesign.cli.main.main` records its arguments here (:func:`set_argv`) before it runs a command;
the command modules read them back through :func:`invocation` for reports and metadata. This module
imports nothing of the CLI, so no command module needs to import :mod:`matdesign.cli.main`.
"""

from __future__ import annotations

import shlex

_ARGV: list[str] = []


def set_argv(argv: list[str]) -> None:
    """Record the arguments (without the program name) of the call that is starting."""
    _ARGV[:] = [str(a) for a in argv]


def invocation() -> str:
    """The command line of the running ``matdesign`` call, shell-quoted: ``matdesign <arguments>``."""
    return shlex.join(["matdesign", *_ARGV])
