"""Fingerprints of input files: content hashes for listings, size and time for audio."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from workbench.fileio import open_regular


def file_digest(path: Path) -> str:
    """sha256 of a regular file; a device, FIFO or socket is refused (``/dev/zero`` never
    ends, a FIFO never answers), so a fingerprint always reads a bounded input."""
    digest = hashlib.sha256()
    with open_regular(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def stat_digest(paths: Iterable[Path]) -> str:
    """Hash of names, sizes and modification times: notices changed or replaced files."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        try:
            st = path.stat()
            digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()


def tree_digest(folder: Path) -> str:
    return stat_digest(p for p in folder.rglob("*") if p.is_file())
