"""Where the workbench keeps its files: the home folder, the shipped packs and recipes."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def workbench_home() -> Path:
    """The folder for caches and runs: ``$WORKBENCH_HOME``, else ``~/.cache/workbench``.

    ``$XDG_CACHE_HOME`` is honoured when set.
    """
    if env := os.environ.get("WORKBENCH_HOME"):
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "workbench"


def domains_root() -> Path:
    """The folder of domain packs: ``$WORKBENCH_DOMAINS``, else ``domains/`` of the project."""
    if env := os.environ.get("WORKBENCH_DOMAINS"):
        return Path(env).expanduser()
    return PROJECT_ROOT / "domains"
