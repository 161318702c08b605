"""The web UI's folder: the user's recipes, uploaded data and lexicons (no gradio here).

Everything the UI makes is a file, so a reload, a second tab or a restart of ``app.py``
finds it again; nothing lives only in the server's memory. Runs go to the same runs folder
as the command line's, so runs started from either door show in both.

```
<workspace>/recipes/<name>.yaml    recipes saved from the form
<workspace>/data/<name>/           uploaded datasets (audiofolders)
<workspace>/lexicons/<name>.tsv    edited lexicons
<workspace>/scratch/               previews (augmented clips, spectrograms, recordings)
```
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from workbench.fileio import write_text_atomic
from workbench.paths import PROJECT_ROOT
from workbench.runs import runs_root

_RECIPE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


class WorkspaceError(ValueError):
    """A request the workspace refuses (bad name, a file it will not overwrite)."""


def default_workspace() -> Path:
    """``$WORKBENCH_WORKSPACE``, else ``workspace/`` in the working folder."""
    return Path(os.environ.get("WORKBENCH_WORKSPACE", "workspace"))


@dataclass
class Workspace:
    """The folders the UI reads and writes."""

    root: Path
    runs: Path

    @classmethod
    def open(cls, root: Path | None = None, runs: Path | None = None) -> Workspace:
        ws = cls(Path(root or default_workspace()).resolve(), Path(runs or runs_root()).resolve())
        for folder in (ws.recipes, ws.data, ws.lexicons, ws.scratch, ws.runs):
            folder.mkdir(parents=True, exist_ok=True)
        return ws

    recipes = property(lambda self: self.root / "recipes")
    data = property(lambda self: self.root / "data")
    lexicons = property(lambda self: self.root / "lexicons")
    scratch = property(lambda self: self.root / "scratch")

    @staticmethod
    def shipped_recipes() -> list[Path]:
        return sorted((PROJECT_ROOT / "data_recipes").glob("*.yaml"))

    def user_recipes(self) -> list[Path]:
        return sorted(self.recipes.glob("*.yaml"))

    def recipe_choices(self) -> list[tuple[str, str]]:
        """(label, path) for every recipe: the user's first, then the shipped ones."""
        out = [(f"{p.stem} (yours)", str(p)) for p in self.user_recipes()]
        out += [(f"{p.stem} (shipped)", str(p)) for p in self.shipped_recipes()]
        return out

    def save_recipe(self, name: str, text: str, *, overwrite: bool = False) -> Path:
        """Write ``text`` as ``recipes/<name>.yaml``; never over a file unless ``overwrite``."""
        name = name.strip().removesuffix(".yaml")
        if not _RECIPE_NAME.match(name):
            raise WorkspaceError(
                f"recipe name {name!r}: expected letters, digits, '.', '_' or '-' "
                "(at most 80, starting with a letter or digit)"
            )
        path = self.recipes / f"{name}.yaml"
        if path.exists() and not overwrite:
            raise WorkspaceError(f"{path} exists; choose another name or tick 'replace'")
        write_text_atomic(path, text)
        return path

    def scratch_file(self, suffix: str, prefix: str = "") -> Path:
        """A new, uniquely named file in the scratch folder."""
        fd, name = tempfile.mkstemp(suffix=suffix, prefix=prefix, dir=self.scratch)
        os.close(fd)
        return Path(name)

    def owns(self, path: Path) -> bool:
        """Whether ``path`` is inside the workspace (the only place the UI writes)."""
        return Path(path).resolve().is_relative_to(self.root)
