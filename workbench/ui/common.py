"""What the tabs share: the page header's components, error handling, run helpers."""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr

from workbench.runs import RunDir
from workbench.ui.workspace import Workspace

log = logging.getLogger("workbench.ui")
F = TypeVar("F", bound=Callable[..., Any])
PREVIEW_SECONDS = 120  # clips played back in the page: the first two minutes at most


@dataclass
class Shared:
    """Components every tab may read or set: the current recipe and run, the YAML editor."""

    ws: Workspace
    recipe: gr.Dropdown  # value: the recipe file's path
    run: gr.Dropdown  # value: the run folder's id
    yaml: gr.Code | None = None  # the Recipes tab's editor (set when that tab is built)
    data_code: gr.Code | None = None  # and its data-sources block
    tabs: gr.Tabs | None = None


def friendly(fn: F) -> F:
    """Turn any exception of a callback into a message in the page, never a stack trace.

    Errors the workbench raises on purpose (bad recipe, bad upload, ...) carry messages
    written for the user; anything else is logged with its traceback on the server and
    shown as one line.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:  # the page must get a message whatever happened
            log.error("%s failed:\n%s", fn.__name__, traceback.format_exc())
            message = str(exc).strip() or type(exc).__name__
            raise gr.Error(message, duration=None) from None

    return wrapper  # type: ignore[return-value]


def run_of(ws: Workspace, run_id: str | None) -> RunDir | None:
    """The run folder named ``run_id`` inside the runs folder (never outside it)."""
    if not run_id:
        return None
    path = (ws.runs / run_id).resolve()
    if path.parent != ws.runs or not (path / "status.json").is_file():
        return None
    return RunDir(path)


def require_run(ws: Workspace, run_id: str | None) -> RunDir:
    run = run_of(ws, run_id)
    if run is None:
        raise gr.Error("choose a run first (the Run menu at the top, or the Runs tab)")
    return run


def require_recipe(path: str | None) -> Path:
    if not path or not Path(path).is_file():
        raise gr.Error("choose a recipe first (the Recipe menu at the top)")
    return Path(path)


def tail(path: Path, lines: int = 40, max_bytes: int = 64_000) -> str:
    """The last ``lines`` lines of a text file (empty when it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    # Progress bars redraw with carriage returns; keep the last state of each line.
    cleaned = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    return "\n".join(cleaned[-lines:])


def run_choices(ws: Workspace) -> list[str]:
    from workbench.runs import list_runs

    return [r.id for r in list_runs(ws.runs)]
