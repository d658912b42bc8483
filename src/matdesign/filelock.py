"""One run per output path: a lock file ``.NAME.lock`` beside it, held with ``flock``.

The kernel releases the lock when its process ends, so a killed run never leaves a stale lock; a second
run into the same path is refused at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

from matdesign.errors import InputError


def lock_path(out: str | os.PathLike) -> Path:
    """``.NAME.lock`` beside ``out``."""
    out = Path(out).absolute()
    return out.parent / f".{out.name}.lock"


def _acquire(path: Path, refuse: str) -> int:
    """An open descriptor of ``path`` holding its exclusive lock; InputError(``refuse``) if taken."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InputError(refuse) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a lock file that its previous holder removed meanwhile
            return fd
        os.close(fd)


@contextlib.contextmanager
def locked(out: str | os.PathLike, option: str = "--out") -> Iterator[None]:
    """Hold the lock of ``out`` (its parent folder is created); InputError when another process holds it."""
    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(path, f"{option} {Path(out)}: another matdesign run is writing into it (lock {path}); "
                        "wait for it to finish or choose another path")
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)
