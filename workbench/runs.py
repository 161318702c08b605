"""The run directory: the only contract between a trainer and anything that watches it.

```
runs/<id>/recipe.yaml      the resolved recipe
runs/<id>/status.json      {"state", "step", "total_steps", "epoch", "started", "updated",
                            "error", ...}
runs/<id>/metrics.jsonl    one line per log step
runs/<id>/train.log        the trainer's output
runs/<id>/checkpoints/     resumable checkpoints
runs/<id>/adapter/         the PEFT adapter, written whole or not at all
runs/<id>/report.json      the side-by-side evaluation
runs/<id>/pipeline.log     the output of `workbench run` (prepare, train, evaluate,
                           export)
```
``status.json`` is replaced atomically, so a reader never sees half of it. A run whose
process died without saying so (``kill -9``, a power cut) reads as ``failed``. A ``STOP``
file asks the trainer to stop cleanly at its next step.

``workbench run`` adds ``phase`` (preparing, training, evaluating, exporting, and then
finished, stopped or failed), ``pipeline_pid``; while preparing, ``prep_verb``
(synthesised or prepared), ``prep_done``, ``prep_total``, ``prep_where`` (the source, in
words) and ``prep_eta_s`` (clips of that source so far, of all, seconds left); while
evaluating, ``eval_done``, ``eval_total`` and ``eval_eta_s`` (clips decoded of all, seconds
left) to the status, so a watcher (the web UI) can follow the whole pipeline, not only the
trainer.
:func:`start_pipeline` starts one run at a time per runs folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from workbench.fileio import write_text_atomic
from workbench.safe_write import CREATED_RUN_ENV

STATES = ("queued", "running", "done", "failed", "stopped")
SUBPROCESS_ENV = "WORKBENCH_TRAIN_SUBPROCESS"  # set for a trainer whose stdout is train.log
STARTED_ENV = "WORKBENCH_TRAIN_STARTED"  # when start_training launched it (time.time())
ACTIVE = ("queued", "running")
PHASES = ("preparing", "training", "evaluating", "exporting", "finished", "stopped", "failed")
BUSY_PHASES = ("preparing", "training", "evaluating", "exporting")


class RunBusyError(RuntimeError):
    """Another run is still going; only one trains at a time."""


def runs_root() -> Path:
    """Where runs go by default: ``$WORKBENCH_RUNS``, else ``runs/`` in the working folder."""
    return Path(os.environ.get("WORKBENCH_RUNS", "runs"))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2))


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not alive either.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return True


class RunDir:
    """Paths and state of one run."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def id(self) -> str:
        return self.root.name

    recipe = property(lambda self: self.root / "recipe.yaml")
    pipeline_log = property(lambda self: self.root / "pipeline.log")
    status_path = property(lambda self: self.root / "status.json")
    metrics_path = property(lambda self: self.root / "metrics.jsonl")
    log_path = property(lambda self: self.root / "train.log")
    checkpoints = property(lambda self: self.root / "checkpoints")
    adapter = property(lambda self: self.root / "adapter")
    report = property(lambda self: self.root / "report.json")
    stop_file = property(lambda self: self.root / "STOP")

    def status(self) -> dict:
        """The run's status; a run whose process is gone reads as ``failed``."""
        try:
            status = json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return {"state": "unknown"}
        pipeline_alive = pid_alive(status.get("pipeline_pid"))
        trainer_alive = pid_alive(status.get("pid"))
        phase = status.get("phase")
        # Between `queued` and the trainer taking over, the pipeline process speaks for it.
        waiting = status.get("pid") is None and phase == "preparing" and pipeline_alive
        if phase in BUSY_PHASES and not pipeline_alive:
            if phase == "training" and trainer_alive:
                pass  # the trainer goes on alone; evaluation can be run afterwards
            else:
                status["phase"] = "failed"
                status["error"] = status.get("error") or (
                    f"the pipeline process ended while {phase}; see pipeline.log"
                )
        if status.get("state") in ACTIVE and not (trainer_alive or waiting):
            status["state"] = "failed"
            status["error"] = status.get("error") or (
                "the training process ended without finishing (killed or crashed); "
                "resume it from its last checkpoint"
            )
        return status

    def busy(self) -> bool:
        """Whether a trainer or a pipeline is still working on this run."""
        status = self.status()
        return status.get("state") in ACTIVE or status.get("phase") in BUSY_PHASES

    def write_status(self, **fields: Any) -> dict:
        """Merge ``fields`` into ``status.json`` (atomically) and stamp ``updated``."""
        try:
            status = json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            status = {"started": _now()}
        status.update(fields)
        status["updated"] = _now()
        write_json_atomic(self.status_path, status)
        return status

    def append_metrics(self, row: dict) -> None:
        self.metrics_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()

    def metrics(self) -> list[dict]:
        try:
            lines = self.metrics_path.read_text().splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line being written right now
        return out

    def keep_metrics_through(self, step: int) -> None:
        """Drop the metrics rows after ``step`` (and any torn line), before a resumed run
        logs those steps again."""
        if not self.metrics_path.is_file():
            return
        rows = [r for r in self.metrics() if r.get("step", 0) <= step]
        write_text_atomic(self.metrics_path, "".join(json.dumps(r) + "\n" for r in rows))

    def request_stop(self) -> None:
        self.stop_file.touch()

    def stop_requested(self) -> bool:
        return self.stop_file.exists()

    def clear_stale_stop(self, since: float) -> None:
        """Remove a STOP file made before ``since`` (the start of this run or resume): it
        ended an earlier attempt. One made after it asks this run to stop, and stays."""
        try:
            if self.stop_file.stat().st_mtime < since:
                self.stop_file.unlink(missing_ok=True)
        except FileNotFoundError:
            pass

    def latest_checkpoint(self) -> Path | None:
        """The newest complete checkpoint (one with its ``state.json``)."""
        if not self.checkpoints.is_dir():
            return None
        steps = {}
        for folder in self.checkpoints.glob("step-*"):
            try:
                steps[folder] = int(json.loads((folder / "state.json").read_text())["step"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # not a complete checkpoint
        return max(steps, key=steps.__getitem__, default=None)


def finished(run: RunDir) -> bool:
    """Whether the run went through evaluation and export: nothing is left to resume."""
    return run.status().get("phase") == "finished" and run.report.is_file()


def resumable(run: RunDir) -> bool:
    """Whether Resume applies: the run stopped or failed and nothing works on it now."""
    status = run.status()
    if run.busy() or finished(run):
        return False
    return status.get("phase") in ("stopped", "failed") or status.get("state") in (
        "stopped",
        "failed",
    )


class EvalProgress:
    """Writes evaluation progress into ``status.json``, so any watcher (the UI, a script)
    sees it with no browser connected: ``eval_done`` and ``eval_total`` clips (over every
    set and system), ``eval_eta_s`` (seconds left at the pace so far; None until known).

    At most one write per ``every`` seconds, and always the last one.
    """

    def __init__(self, run: RunDir, every: float = 1.0, clock: Any = time.monotonic) -> None:
        self.run, self.every, self.clock = run, every, clock
        self.started: float | None = None
        self.written = float("-inf")

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.started is None:
            self.started = now
        if done < total and now - self.written < self.every and done:
            return
        self.written = now
        elapsed = now - self.started
        eta = elapsed / done * (total - done) if done and elapsed > 0 else None
        self.run.write_status(
            eval_done=done, eval_total=total, eval_eta_s=None if eta is None else round(eta)
        )


PREP_FIELDS = ("prep_verb", "prep_done", "prep_total", "prep_where", "prep_eta_s")


class PrepareProgress:
    """Writes the counts of data preparation (:class:`workbench.data.progress.Count`) into
    ``status.json``: ``prep_verb``, ``prep_done``, ``prep_total``, ``prep_where`` and
    ``prep_eta_s``. At most one write per ``every`` seconds, and always a source's last."""

    def __init__(self, run: RunDir, every: float = 1.0, clock: Any = time.monotonic) -> None:
        self.run, self.every, self.clock = run, every, clock
        self.written = float("-inf")

    def __call__(self, count: Any) -> None:
        now = self.clock()
        if count.done < count.total and now - self.written < self.every:
            return
        self.written = now
        eta = None if count.eta_s is None else round(count.eta_s)
        values = (count.verb, count.done, count.total, count.where, eta)
        self.run.write_status(**dict(zip(PREP_FIELDS, values, strict=True)))


def new_run_dir(name: str, root: Path | None = None) -> RunDir:
    """A fresh, uniquely named run folder ``<name>-<date>-<time>``."""
    root = root or runs_root()
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        path = root / (f"{name}-{stamp}" if n == 0 else f"{name}-{stamp}-{n}")
        try:
            path.mkdir()
            return RunDir(path)
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run folder under {root}")


def start_training(
    recipe: Path, run: RunDir, overrides: list[str] = (), resume: bool = False
) -> subprocess.Popen:
    """Start ``workbench train`` as a subprocess of its own, its output going to ``train.log``.

    The log is a file, never a pipe, so the trainer never blocks on a reader. The status
    says ``queued`` until the trainer takes over.
    """
    run.root.mkdir(parents=True, exist_ok=True)
    run.write_status(state="queued", pid=None, error=None)
    command = [
        sys.executable,
        "-m",
        "workbench.cli",
        "train",
        str(recipe),
        "--run-dir",
        str(run.root),
    ]
    if resume:
        command.append("--resume")
    command += list(overrides)
    env = {SUBPROCESS_ENV: "1", STARTED_ENV: repr(time.time())}
    # The caller made (or checked) this folder for the trainer: it may start a run there.
    env[CREATED_RUN_ENV] = str(run.root.resolve())
    proc = _spawn(command, run.log_path, env)
    run.write_status(pid=proc.pid)
    return proc


def _spawn(command: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen:
    """A process in a session of its own, its output appended to ``log_path`` (never a pipe)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        )


def stop_run(run: RunDir) -> str:
    """Stop a run: the trainer at its next step (STOP file); a pipeline that is preparing or
    evaluating at once (its process group is terminated). Returns what was done."""
    import signal

    status = run.status()
    if status.get("state") in ACTIVE and pid_alive(status.get("pid")):
        run.request_stop()
        return "the trainer stops at its next step and keeps a checkpoint"
    pipeline = status.get("pipeline_pid")
    if status.get("phase") in BUSY_PHASES and pid_alive(pipeline):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pipeline, signal.SIGTERM)
        run.write_status(phase="stopped", pipeline_pid=None)
        if status.get("state") in ACTIVE:
            run.write_status(state="stopped")
        return f"stopped while {status.get('phase')}"
    return "nothing to stop: the run is not going"


def list_runs(root: Path | None = None) -> list[RunDir]:
    """The run folders under ``root`` (those with a ``status.json``), newest first."""
    root = root or runs_root()
    if not root.is_dir():
        return []
    runs = [RunDir(p) for p in root.iterdir() if (p / "status.json").is_file()]
    return sorted(runs, key=lambda r: r.status_path.stat().st_mtime, reverse=True)


def busy_run(root: Path | None = None) -> RunDir | None:
    """A run under ``root`` that is still preparing, training or evaluating, if any."""
    return next((run for run in list_runs(root) if run.busy()), None)


def start_pipeline(
    recipe: Path,
    name: str,
    *,
    root: Path | None = None,
    run: RunDir | None = None,
    resume: bool = False,
) -> tuple[RunDir, subprocess.Popen]:
    """Start ``workbench run`` (prepare, train, evaluate, export) as a process of its own.

    One run at a time per runs folder: the check and the start happen under a file lock, so
    two callers at once (two browser tabs, two users) cannot both start one. Output goes to
    ``pipeline.log``, never a pipe. Pass ``run`` with ``resume`` to continue a stopped or
    failed run from its last checkpoint.

    Raises:
        RunBusyError: another run is still going (its folder is named).
    """
    root = root or runs_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (other := busy_run(root)) is not None:
            raise RunBusyError(
                f"run {other.id} is still {other.status().get('phase') or 'training'}; "
                "wait for it to finish or stop it first"
            )
        run = run or new_run_dir(name, root)
        command = [sys.executable, "-m", "workbench.cli", "run", str(recipe), "--run-dir"]
        command.append(str(run.root))
        if resume:
            command.append("--resume")
        proc = _spawn(command, run.pipeline_log, {CREATED_RUN_ENV: str(run.root.resolve())})
        # One write, so that no reader sees a phase without the process behind it.
        fields: dict[str, Any] = {"phase": "preparing", "pipeline_pid": proc.pid, "error": None}
        fields["recipe_path"] = str(recipe)
        if not resume:
            fields["state"] = "queued"
        run.write_status(**fields)
    return run, proc
