"""Where the workbench may write: never over anything it did not make, unless asked.

One rule for every command and UI action that writes (``export --out``, ``train``/``run
--run-dir``, ``eval --out``, ``data prepare --out``, the UI's saves):

- Never, whatever the options: the filesystem root, the home folder, the working folder or
  a folder above it; a run folder, a folder that holds one, or anything inside one other
  than the places the workbench itself writes in its own run (``export/``, the report
  files); a recipe in use or a folder that holds it; a special file (device, FIFO, socket).
- Not without ``--force`` (a "replace" tick in the UI): anything that exists and that the
  workbench did not write. An empty folder holds nothing to lose and may be used.
- Always: build in a temporary sibling and rename it into place, so that a failure leaves
  what was there before.

A refusal raises :class:`TargetError` with a message that says what would have been lost.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

# Entries of a run folder that the workbench writes and may write again (its report and its
# exports); everything else in a run (adapter, checkpoints, status, metrics, logs) is the run.
RUN_REWRITABLE = ("report.json", "utterances.csv", "report.html", "export")
# How many entries a folder may hold before it is too big to check for runs inside it.
SCAN_LIMIT = 20_000
# The environment variable by which a launcher (start_training, start_pipeline) hands a child
# process the run folder it created for it.
CREATED_RUN_ENV = "WORKBENCH_RUN_CREATED"


class TargetError(ValueError):
    """A write target refused by the rule above; the message says what would be lost."""


def _absolute(path: str | Path) -> Path:
    """``path`` made absolute with links resolved, as far as they resolve."""
    path = Path(path).expanduser()
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # a symlink loop: judge the path as written
        return Path(os.path.abspath(path))


def is_run_folder(path: Path) -> bool:
    """Whether ``path`` looks like a run folder (a ``status.json``, or a recipe with an
    adapter, checkpoints or metrics beside it)."""
    try:
        if (path / "status.json").is_file():
            return True
        return (path / "recipe.yaml").is_file() and any(
            (path / name).exists() for name in ("adapter", "checkpoints", "metrics.jsonl")
        )
    except OSError:
        return False


def enclosing_run(path: Path) -> Path | None:
    """The run folder that ``path`` is or lies inside, if any."""
    for folder in (path, *path.parents):
        if is_run_folder(folder):
            return folder
    return None


def describe(path: Path, limit: int = SCAN_LIMIT) -> str:
    """What ``path`` holds, in words: ``"a file of 12.0 kB"``, ``"3 files (1.2 MB)"``."""
    try:
        if not path.is_dir():
            return f"a file of {_size(path.stat().st_size)}"
    except OSError:
        return "an unreadable entry"
    count, total, names = 0, 0, []
    for root, dirs, files in os.walk(path):
        for name in files:
            count += 1
            if len(names) < 3:
                names.append(os.path.relpath(os.path.join(root, name), path))
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
            if count >= limit:
                return f"over {limit} files, among them {', '.join(names)}"
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
    if count == 0:
        return "empty folders only" if any(path.iterdir()) else "nothing"
    shown = ", ".join(names) + (", ..." if count > len(names) else "")
    return f"{count} file{'s' if count != 1 else ''} ({_size(total)}: {shown})"


def _size(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _run_below(folder: Path, limit: int = SCAN_LIMIT) -> Path | None:
    """A run folder under ``folder`` (links not followed); raises when too big to tell."""
    seen = 0
    for root, dirs, _ in os.walk(folder):
        here = Path(root)
        if here != folder and is_run_folder(here):
            return here
        seen += len(dirs)
        if seen > limit:
            raise TargetError(f"{folder} holds over {limit} folders; refusing to replace it")
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
    return None


def _run_summary(run: Path) -> str:
    """What a run holds, for a refusal message."""
    import json

    parts = []
    try:
        status = json.loads((run / "status.json").read_text())
        state = status.get("state", "unknown")
        step, total = status.get("step"), status.get("total_steps")
        parts.append(f"state {state}" + (f", step {step} of {total}" if step is not None else ""))
    except (OSError, ValueError, AttributeError):
        pass
    held = [
        name
        for name in ("adapter/", "checkpoints/", "report.json", "metrics.jsonl", "recipe.yaml")
        if (run / name.rstrip("/")).exists()
    ]
    if held:
        parts.append("with " + ", ".join(held))
    return "; ".join(parts) or "a run"


def check_target(
    target: str | Path,
    *,
    kind: str,
    made_by_workbench: Callable[[Path], bool] = lambda p: False,
    force: bool = False,
    own_run: str | Path | None = None,
    recipes: Iterable[str | Path] = (),
    option: str = "--out",
    writer: str = "the workbench",
    forceable: bool = True,
) -> Path:
    """Check a write target against the rule (module docstring); return it made absolute.

    Args:
        target: the file or folder about to be written (replaced whole).
        kind: ``"file"`` or ``"folder"``: what will be written there.
        made_by_workbench: whether an existing ``target`` is something the workbench wrote
            (an export, a report, prepared data), which may be replaced.
        force: the user asked to replace whatever is there (``--force``).
        own_run: the run this command works on; only its :data:`RUN_REWRITABLE` entries may
            be written inside a run folder.
        recipes: recipe files in use: never replaced, nor a folder that holds them.
        option: the option that named the target, for messages.
        writer: who would have written an existing target that may be replaced.
        forceable: whether the command has a ``--force`` that replaces (for the message).

    Raises:
        TargetError: the target is refused; the message says what would have been lost.
    """
    path = _absolute(target)
    shown = f"{option} {target}"
    cwd, home = _absolute(Path.cwd()), _absolute(Path.home())
    if path == Path(path.anchor):
        raise TargetError(f"{shown}: is the root of the filesystem; choose a new folder")
    if cwd.is_relative_to(path):
        what = "the working folder" if cwd == path else f"a folder above the working folder {cwd}"
        raise TargetError(
            f"{shown}: is {what}; writing there would replace everything in it "
            f"({describe(path)}). Choose a new folder"
        )
    if home.is_relative_to(path):
        raise TargetError(f"{shown}: holds your home folder {home}; choose a new folder")
    for recipe in recipes:
        recipe_path = _absolute(recipe)
        if recipe_path == path:
            raise TargetError(f"{shown}: is the recipe in use; it would be lost. Choose another")
        if recipe_path.is_relative_to(path):
            raise TargetError(
                f"{shown}: holds the recipe in use ({recipe_path}) and {describe(path)}; "
                "they would be lost. Choose a new folder"
            )
    run = enclosing_run(path)
    if run is not None:
        own = _absolute(own_run) if own_run is not None else None
        allowed = (
            own == run
            and path != run
            and any(
                path == run / name or path.is_relative_to(run / name) for name in RUN_REWRITABLE
            )
        )
        if not allowed:
            where = "is the run folder" if run == path else f"lies inside the run folder {run}"
            raise TargetError(
                f"{shown}: {where} ({_run_summary(run)}); writing there would destroy it. "
                "Choose a folder outside every run"
            )
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise TargetError(f"{shown}: cannot be checked ({exc.strerror or exc})") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
        raise TargetError(f"{shown}: is a special file (device, FIFO or socket); choose a path")
    if kind == "folder" and not path.is_dir():
        raise TargetError(
            f"{shown}: is a file ({describe(path)}), expected a folder; it would be lost. "
            "Choose a folder path"
        )
    if kind == "file" and path.is_dir():
        raise TargetError(
            f"{shown}: is a folder ({describe(path)}), expected a file path "
            f"such as {Path(str(target)) / 'report.json'}"
        )
    if path.is_dir():
        inner = _run_below(path)
        if inner is not None:
            raise TargetError(
                f"{shown}: holds the run folder {inner} ({_run_summary(inner)}); it would "
                "be lost. Choose a new folder"
            )
        if not any(path.iterdir()):
            return path  # an empty folder: nothing to lose
    if made_by_workbench(path) or force:
        return path
    way = (
        "Choose another path, or pass --force to replace it"
        if forceable
        else ("Choose another path")
    )
    raise TargetError(
        f"{shown}: exists and was not written by {writer} ({describe(path)}); it would "
        f"be lost. {way}"
    )


def replace_folder(built: Path, out: Path) -> Path:
    """Move the finished folder ``built`` to ``out``, replacing what is there (checked
    before): the old copy is moved aside first and removed last."""
    old = None
    if out.exists() or out.is_symlink():
        old = out.with_name(f".{out.name}.old-{time.time_ns()}")
        os.replace(out, old)
    try:
        os.replace(built, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
    return out


def temp_sibling(out: Path, suffix: str = "") -> Path:
    """A new, empty, uniquely named file beside ``out`` (for building it whole)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=suffix, dir=out.parent)
    os.close(fd)
    return Path(name)


def created_for_me(path: Path) -> bool:
    """Whether a launcher (``start_training``, ``start_pipeline``) created ``path`` for
    this process and said so in :data:`CREATED_RUN_ENV`."""
    given = os.environ.get(CREATED_RUN_ENV)
    return bool(given) and _absolute(given) == _absolute(path)


def check_new_run_dir(run_dir: str | Path, *, recipes: Iterable[str | Path] = ()) -> Path:
    """``--run-dir`` for a new run (not ``--resume``): a new or empty folder, or one that
    a launcher created for this very process; never a run, a recipe's folder, the working
    folder or its parents, nor a folder holding anything else.

    Raises:
        TargetError: the folder is refused, saying what training there would destroy.
    """
    path = _absolute(run_dir)
    if created_for_me(path):
        return path
    if is_run_folder(path):
        raise TargetError(
            f"--run-dir {run_dir}: is a run folder ({_run_summary(path)}); training a new run "
            "there would replace its adapter and mix its metrics and report. Use --resume to "
            "continue it, or choose a new --run-dir"
        )
    return check_target(run_dir, kind="folder", recipes=recipes, option="--run-dir")
