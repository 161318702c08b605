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
from workbench.models.info import is_local_spec
from workbench.paths import PROJECT_ROOT, domains_root
from workbench.recipe import Recipe, load_recipe, path_values
from workbench.runs import runs_root
from workbench.schema import Problem, RecipeError

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

    def readable_roots(self) -> list[Path]:
        """Where recipes opened in the UI may point: the workspace and the shipped packs."""
        return [self.root, domains_root().resolve(), (PROJECT_ROOT / "data_recipes").resolve()]

    def may_read(self, path: str | Path) -> bool:
        """Whether ``path`` (links followed) lies under one of :meth:`readable_roots`."""
        try:
            resolved = Path(path).expanduser().resolve()
        except (RuntimeError, OSError):  # a symbolic-link loop: nothing to read there
            return False
        return any(resolved.is_relative_to(root) for root in self.readable_roots())

    def path_guard(self, path: str | Path) -> str | None:
        """Why the UI may not read ``path`` (outside the workspace), else None. The same
        words whether the path exists or not, is a file or a folder: the UI tells nothing
        of the server's other files."""
        if self.may_read(path):
            return None
        where = ", ".join(str(root) for root in self.readable_roots())
        return f"{path} is outside the workspace; expected a path under {where}"

    def outside(self, recipe: Recipe, label: str = "recipe") -> list[Problem]:
        """The recipe's paths (data, lexicon, noise, a local base model) that leave the
        workspace: the UI is a door for people who may not read the server's other files."""
        found = list(path_values(recipe))
        if is_local_spec(recipe.base_model):
            found.append(("base_model", recipe.base_model))
        return [
            Problem(label, key, refused)
            for key, value in found
            if (refused := self.path_guard(value))
        ]

    def load_recipe(self, path: str | Path, *, check_model: bool = True) -> Recipe:
        """:func:`~workbench.recipe.load_recipe` for the UI: the file and every path it
        names must lie in the workspace or the shipped packs.

        Raises:
            RecipeError: the recipe's own problems, or the paths that leave the workspace.
        """
        path = Path(path)
        if not self.may_read(path):
            raise RecipeError([Problem(str(path), "", "is outside the workspace; open it there")])
        recipe = load_recipe(path, check_model=check_model, path_guard=self.path_guard)
        problems = self.outside(recipe, str(path))
        if problems:
            raise RecipeError(problems)
        return recipe
