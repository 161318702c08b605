"""Writing files whole or not at all; reading user paths only when they are regular files."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import IO


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary sibling, flush it to disk, and rename it over ``path``.

    A reader sees the old file or the new one, never half of either.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class SpecialFileError(OSError, ValueError):
    """A path that names a device, a FIFO or a socket where a regular file was expected.

    Reading one would block for ever (a FIFO with no writer) or never end (``/dev/zero``);
    every reader of a user-given path refuses it. Both an ``OSError`` and a ``ValueError``
    (as ``io.UnsupportedOperation`` is), so callers that catch either report it.
    """


_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def special_kind(path: str | Path) -> str | None:
    """What special file ``path`` is (following links): a device, a FIFO, a socket; None for
    a regular file, a folder, or a path that cannot be looked at (the reader says why)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    return _kind(mode)


def _kind(mode: int) -> str | None:
    return next((name for test, name in _KINDS if test(mode)), None)


def check_not_special(path: str | Path) -> None:
    """Refuse a device, FIFO or socket (see :class:`SpecialFileError`)."""
    kind = special_kind(path)
    if kind:
        raise SpecialFileError(f"{path}: {kind}, not a regular file; refusing to read it")


def open_regular(path: str | Path, mode: str = "rb", **kwargs) -> IO:
    """Open a regular file for reading, refusing devices, FIFOs and sockets.

    The file is opened without blocking and checked on the open descriptor, so a FIFO
    cannot hang the open and a path swapped between a check and the open is still caught.
    ``mode`` is ``"r"`` or ``"rb"``; ``kwargs`` go to :func:`open` (encoding, errors, ...).
    """
    if mode not in ("r", "rb"):
        raise ValueError(f"open_regular reads only ('r' or 'rb'), not {mode!r}")
    check_not_special(path)  # a socket cannot even be opened: say what it is first
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st_mode = os.fstat(fd).st_mode
        kind = _kind(st_mode)
        if kind:
            raise SpecialFileError(f"{path}: {kind}, not a regular file; refusing to read it")
        if stat.S_ISDIR(st_mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def read_regular_bytes(path: str | Path) -> bytes:
    """The bytes of a regular file (devices, FIFOs and sockets refused)."""
    with open_regular(path, "rb") as f:
        return f.read()


def read_regular_text(path: str | Path, encoding: str = "utf-8", errors: str = "strict") -> str:
    """The text of a regular file (devices, FIFOs and sockets refused)."""
    with open_regular(path, "r", encoding=encoding, errors=errors) as f:
        return f.read()
