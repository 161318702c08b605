"""What the tabs share: the page header's components, error handling, run helpers."""

from __future__ import annotations

import functools
import logging
import re
import tempfile
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
MAX_LINES = 3  # of an error's message shown in the page (the server log keeps all)


@dataclass
class Shared:
    """Components every tab may read or set: the current recipe and run, the YAML editor."""

    ws: Workspace
    recipe: gr.Dropdown  # value: the recipe file's path
    run: gr.Dropdown  # value: the run folder's id
    yaml: gr.Code | None = None  # the Recipes tab's editor (set when that tab is built)
    data_code: gr.Code | None = None  # and its data-sources block
    tabs: gr.Tabs | None = None


def _temporary_roots() -> list[str]:
    """Folders whose paths mean nothing to the user (Gradio's uploads, the system's temp)."""
    from gradio.utils import get_upload_folder

    roots = {str(Path(get_upload_folder()).resolve()), get_upload_folder()}
    roots |= {tempfile.gettempdir(), str(Path(tempfile.gettempdir()).resolve())}
    return sorted(roots, key=len, reverse=True)


def scrub_paths(text: str) -> str:
    """``text`` with every path under a temporary folder shortened to its file name."""
    for root in _temporary_roots():
        pattern = re.escape(root.rstrip("/")) + r"/[^\s'\"`,;)]*"
        text = re.sub(pattern, lambda m: Path(m.group(0)).name or m.group(0), text)
    return text


def error_message(exc: BaseException) -> str:
    """One line for the page: the error's own message, its first lines when it lists many
    problems, temporary paths shortened."""
    message = str(exc.message) if isinstance(exc, gr.Error) else str(exc)
    lines = [" ".join(line.split()) for line in message.splitlines() if line.strip()]
    if len(lines) > MAX_LINES:  # a list of problems: the first few, and how many more
        lines = [*lines[:MAX_LINES], f"(and {len(lines) - MAX_LINES} more)"]
    return scrub_paths("; ".join(lines) or type(exc).__name__)


def _report(fn_name: str, exc: BaseException) -> str:
    if not isinstance(exc, gr.Error):  # not raised on purpose: the server log keeps the trace
        log.error("%s failed:\n%s", fn_name, traceback.format_exc())
    return error_message(exc)


def friendly(fn: F) -> F:
    """Turn any exception of a callback into a message, never a stack trace or a broken widget.

    The message is shown as a warning box; the callback's outputs keep what they showed
    (``gr.skip()``), so a menu or a text box never turns into an "Error" pill. Errors the
    workbench raises on purpose (bad recipe, bad upload, ...) carry messages written for the
    user; anything else is logged with its traceback on the server and shown as one line.
    Use :func:`in_place` where the tab has a message line of its own.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # the page must get a message whatever happened
            gr.Warning(_report(fn.__name__, exc))
            return gr.skip()

    return wrapper  # type: ignore[return-value]


def in_place(outputs: int) -> Callable[[F], F]:
    """Like :func:`friendly`, for a callback whose last of ``outputs`` outputs is a message
    line (Markdown): an error becomes one sentence there ("⚠ ..."), the other outputs keep
    what they showed."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # the page must get a message whatever happened
                note = f"⚠ {_report(fn.__name__, exc)}"
                return note if outputs == 1 else (*[gr.skip()] * (outputs - 1), note)

        return wrapper  # type: ignore[return-value]

    return decorate


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
