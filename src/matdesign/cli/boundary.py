"""The command line's one error boundary.

An expected failure — bad input (:class:`InputError`), an unreadable or unwritable path or a broken
file (``OSError``), too little memory, a usage error — becomes one ``error: …`` line on stderr and
exit code 2. Anything else is a bug: its traceback is shown with a request to report it (exit 1).
"""

from __future__ import annotations

import errno
import sys
import traceback
import warnings

from matdesign.errors import InputError, InputNote

EXIT_INPUT = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130
REPORT_HINT = ("this is a bug in matdesign, not a problem with your input; please report it with the "
               "command line and the traceback above")

_OS_HINTS = {
    errno.EACCES: "check its permissions or choose another path",
    errno.EPERM: "check its permissions or choose another path",
    errno.EROFS: "the file system is read-only; choose another path",
    errno.ENOENT: "check the path",
    errno.EISDIR: "it is a folder; pass a file path",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENOSPC: "the disk is full; free space or choose another path",
    errno.EDQUOT: "the disk quota is exceeded; free space or choose another path",
    errno.EEXIST: "it already exists; choose another path",
}


def one_line(text: str) -> str:
    """``text`` on one line: its last non-empty line (a worker's wrapped traceback ends in the message)."""
    lines = [s.strip() for s in str(text).splitlines() if s.strip()]
    return lines[-1] if lines else ""


def expected_message(err: BaseException) -> str | None:
    """The one-line message of an expected failure, or None when ``err`` is a bug."""
    if isinstance(err, InputError):
        return one_line(str(err))
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
        return ("out of memory" + (f" ({one_line(str(err))[:200]})" if str(err) else "")
                + "; ask for less (--samples, --n, --size, --batch) or use a machine with more memory")
    if isinstance(err, OSError):
        where = err.filename if err.filename is not None else None
        what = err.strerror or one_line(str(err)) or type(err).__name__
        hint = _OS_HINTS.get(err.errno, "a file may be damaged or a device failed; check the path")
        return f"{where}: {what}; {hint}" if where else f"{what}; {hint}"
    return None


def _usage_message(err: Exception) -> str | None:
    """One line for a click usage error (a missing, unknown or malformed option), or None."""
    if not (callable(getattr(err, "format_message", None)) and isinstance(getattr(err, "exit_code", None), int)):
        return None
    ctx = getattr(err, "ctx", None)
    where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return one_line(err.format_message()) + where


def guarded(call) -> int:
    """Run ``call()`` (returns an exit code or None) behind the boundary; return the exit code.
    :class:`InputNote` warnings are shown as one ``note:`` line each, other warnings as Python does."""
    with warnings.catch_warnings():
        show = warnings.showwarning

        def note(message, category, *args, **kwargs):
            if issubclass(category, InputNote):
                print(f"note: {message}", file=sys.stderr)
            else:
                show(message, category, *args, **kwargs)

        warnings.showwarning = note
        return _run(call)


def _run(call) -> int:
    try:
        return int(call() or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as err:
        return err.code if isinstance(err.code, int) else (0 if err.code is None else EXIT_BUG)
    except Exception as err:  # noqa: BLE001 — the boundary decides what is expected
        if type(err).__name__ == "Exit":  # typer.Exit / click's Exit: a chosen exit code
            return int(getattr(err, "exit_code", 0) or 0)
        message = expected_message(err) or _usage_message(err)
        if message is not None:
            print(f"error: {message}", file=sys.stderr)
            return EXIT_INPUT
        if type(err).__name__ == "Abort":
            print("error: aborted", file=sys.stderr)
            return EXIT_INTERRUPTED
        traceback.print_exc()
        print(f"matdesign: {REPORT_HINT}", file=sys.stderr)
        return EXIT_BUG
