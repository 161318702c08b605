"""Train tab: start, stop and resume a run; its progress, loss curve and log, read from the
run folder every two seconds. Training runs in a process of its own (`workbench run`), so
closing the browser, reloading or opening a second tab loses nothing."""

from __future__ import annotations

import subprocess
from html import escape
from pathlib import Path
from typing import Any

import gradio as gr

from workbench.data.progress import time_left
from workbench.recipe import RecipeError
from workbench.runs import (
    ACTIVE,
    BUSY_PHASES,
    RunBusyError,
    RunDir,
    finished,
    resumable,
    start_pipeline,
    stop_run,
)
from workbench.ui.common import Shared, in_place, require_recipe, require_run, run_choices, run_of
from workbench.ui.common import tail as read_tail

PHASE_TEXT = {
    "preparing": "preparing the data",
    "training": "training",
    "evaluating": "evaluating base against adapted",
    "exporting": "packaging the adapter",
    "finished": "finished",
    "stopped": "stopped",
    "failed": "failed",
}


def describe_run(run: RunDir) -> tuple[str, str]:
    """(status line as Markdown, progress bar as HTML) for a run."""
    status = run.status()
    state, phase = status.get("state", "unknown"), status.get("phase")
    step, total = status.get("step") or 0, status.get("total_steps")
    head = PHASE_TEXT.get(phase or "", state)
    if phase == "training" or (phase is None and state in ("queued", "running")):
        head = "waiting for the trainer" if state == "queued" else "training"
    parts = [f"**{escape(run.id)}**: {head}"]
    if status.get("stopped_by"):
        parts.append(f"(stopped by the {escape(str(status['stopped_by']))})")
    if status.get("error") and (phase == "failed" or state == "failed"):
        parts.append(f"\n\n⚠ {escape(str(status['error']))}")
    busy = state in ACTIVE or phase in BUSY_PHASES
    resumable = (phase in ("failed", "stopped") or state in ("failed", "stopped")) and not busy
    if resumable and run.latest_checkpoint() is not None:
        parts.append("\n\nResume continues from the last checkpoint.")
    fraction = min(1.0, step / total) if total else 0.0
    if phase in ("evaluating", "exporting", "finished") and total:
        fraction = 1.0
    bits = [f"step {step} / {total or '?'}"]
    if status.get("epoch") is not None:
        bits.append(f"epoch {status['epoch']:.2f}")
    if status.get("loss") is not None:
        bits.append(f"loss {status['loss']:.3f}")
    if state == "running" and phase in (None, "training"):
        bits.append(time_left(status.get("eta_s")))
    ready, needed = status.get("prep_done"), status.get("prep_total")
    if phase == "preparing" and isinstance(ready, int) and isinstance(needed, int) and needed:
        # The bar follows the source being read: clips synthesised (or prepared) of all.
        fraction = min(1.0, ready / needed)
        where = status.get("prep_where") or ""
        bits = [
            f"{status.get('prep_verb') or 'prepared'} {ready} of {needed} clips"
            + (f" ({where})" if where else ""),
            time_left(status.get("prep_eta_s")) if ready < needed else "",
        ]
    done, of = status.get("eval_done"), status.get("eval_total")
    if phase == "evaluating" and isinstance(done, int) and isinstance(of, int) and of > 0:
        # The bar follows the evaluation: clips decoded (every set, every system) of all.
        fraction = min(1.0, done / of)
        bits = [
            f"evaluation: {done} / {of} clips decoded",
            time_left(status.get("eval_eta_s")) if done else "measuring the pace",
        ]
    elif phase == "evaluating":
        bits.append("loading the models and the evaluation sets")
    bar = (
        f'<div class="wb-progress" role="progressbar" aria-valuenow="{round(100 * fraction)}" '
        f'aria-valuemin="0" aria-valuemax="100"><div style="width:{100 * fraction:.1f}%"></div>'
        f'</div><div class="wb-progress-text" id="train-progress-text">'
        f"{escape(' · '.join(b for b in bits if b))}</div>"
    )
    return " ".join(parts), bar


SERIES = {"loss": ("training loss", "#2f7de1"), "general_loss": ("general-set loss", "#c49a3a")}


def loss_svg(metrics: list[dict], width: int = 560, height: int = 240) -> str:
    """The loss curve (and the general-set loss when guarded) as an inline SVG."""
    lines = {
        key: [(m["step"], m[key]) for m in metrics if isinstance(m.get(key), (int, float))]
        for key in SERIES
    }
    points = [p for series in lines.values() for p in series]
    if not points:
        return "<p class='muted'>The loss curve appears after the first logged step.</p>"
    left, right, top, bottom = 56, 12, 24, 30
    x_max = max(s for s, _ in points) or 1
    y_lo, y_hi = min(v for _, v in points), max(v for _, v in points)
    if y_hi - y_lo < 1e-9:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5

    def xy(step: float, value: float) -> str:
        x = left + (width - left - right) * step / x_max
        y = top + (height - top - bottom) * (1 - (value - y_lo) / (y_hi - y_lo))
        return f"{x:.1f},{y:.1f}"

    parts = [
        f'<svg width="{width}" height="{height}" role="img" aria-label="loss curve" '
        'style="font:12px system-ui,sans-serif">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" '
        'stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#999"/>',
        f'<text x="4" y="{top + 4}">{y_hi:.3g}</text>',
        f'<text x="4" y="{height - bottom}">{y_lo:.3g}</text>',
        f'<text x="{left}" y="{height - 8}">step 0</text>',
        f'<text x="{width - right - 60}" y="{height - 8}">step {x_max}</text>',
    ]
    legend_x = left + 8
    for key, series in lines.items():
        if not series:
            continue
        label, colour = SERIES[key]
        path = " ".join(xy(s, v) for s, v in series)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        # A dot per logged step: a short run (or its first log step) is seen, not a bare axis.
        for s, v in series:
            x, y = xy(s, v).split(",")
            parts.append(
                f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}">'
                f"<title>step {s}: {v:.4g}</title></circle>"
            )
        parts.append(f'<text x="{legend_x}" y="14" fill="{colour}">{label}</text>')
        legend_x += 140
    parts.append("</svg>")
    return "".join(parts)


def buttons_for(run: RunDir) -> tuple[bool, bool]:
    """Whether (Stop, Resume) apply to ``run``: Stop while it works, Resume once it stopped or
    failed (never a finished run: that would only evaluate again)."""
    return run.busy(), resumable(run)


def log_text(run: RunDir, lines: int = 30) -> str:
    source = run.pipeline_log if run.pipeline_log.exists() else run.log_path
    return read_tail(source, lines)


def create_train_tab(shared: Shared) -> dict[str, Any]:
    """Build the tab; returns its components by name."""
    ws = shared.ws
    children: list[subprocess.Popen] = []  # reaped on every tick (no zombies)
    with gr.Row():
        start_btn = gr.Button("Start training", variant="primary", elem_id="train-start")
        stop_btn = gr.Button("Stop", variant="stop", elem_id="train-stop", interactive=False)
        resume_btn = gr.Button("Resume", elem_id="train-resume", interactive=False)
    message = gr.Markdown(elem_id="train-message")
    status_md = gr.Markdown("No run chosen yet.", elem_id="train-status")
    progress = gr.HTML(elem_id="train-progress")
    with gr.Row():
        plot = gr.HTML(elem_id="train-loss")
        log_box = gr.Textbox(
            label="log (last lines)",
            lines=16,
            max_lines=16,
            elem_id="train-log",
        )
    timer = gr.Timer(2.0)

    def refresh(run_id: str | None) -> list[Any]:
        for proc in list(children):
            if proc.poll() is not None:
                children.remove(proc)
        run = run_of(ws, run_id)
        if run is None:
            text = "No run chosen yet: start one, or pick one in the Run menu."
            return [text, "", "", "", gr.update(interactive=False), gr.update(interactive=False)]
        text, bar = describe_run(run)
        stop, resume = buttons_for(run)
        return [
            text,
            bar,
            loss_svg(run.metrics()),
            log_text(run, 16),
            gr.update(interactive=stop),
            gr.update(interactive=resume),
        ]

    outputs = [status_md, progress, plot, log_box, stop_btn, resume_btn]

    @in_place(2)
    def on_start(recipe_path: str | None):
        path = require_recipe(recipe_path)
        try:
            recipe = ws.load_recipe(path)
        except RecipeError as exc:
            raise gr.Error(
                f"{path.name} does not validate; open it in the Recipes tab. {exc}",
                print_exception=False,
            ) from None
        try:
            run, proc = start_pipeline(path, recipe.name, root=ws.runs)
        except RunBusyError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        children.append(proc)
        return gr.update(choices=run_choices(ws), value=run.id), f"started {run.id}"

    @in_place(1)
    def on_stop(run_id: str | None) -> str:
        run = require_run(ws, run_id)
        if not run.busy():
            raise gr.Error(f"{run.id} is not running; nothing to stop", print_exception=False)
        return stop_run(run)

    @in_place(1)
    def on_resume(run_id: str | None) -> str:
        run = require_run(ws, run_id)
        if run.busy():
            raise gr.Error(f"{run.id} is still going; nothing to resume", print_exception=False)
        if finished(run):
            raise gr.Error(
                f"{run.id} is finished (trained, evaluated, packaged); nothing to resume",
                print_exception=False,
            )
        status = run.status()
        recipe = Path(status.get("recipe_path") or "")
        if not recipe.is_file():
            recipe = run.recipe
        if not recipe.is_file():
            raise gr.Error(f"{run.id} has no recipe to resume with", print_exception=False)
        try:
            run, proc = start_pipeline(recipe, run.id, root=ws.runs, run=run, resume=True)
        except RunBusyError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        children.append(proc)
        return f"resuming {run.id}"

    start_btn.click(on_start, [shared.recipe], [shared.run, message])
    stop_btn.click(on_stop, [shared.run], [message])
    resume_btn.click(on_resume, [shared.run], [message])
    timer.tick(refresh, [shared.run], outputs, show_progress="hidden")
    shared.run.change(refresh, [shared.run], outputs)
    return {
        "start": start_btn,
        "stop": stop_btn,
        "resume": resume_btn,
        "status": status_md,
        "progress": progress,
        "plot": plot,
        "log": log_box,
        "timer": timer,
        "message": message,
        "refresh": refresh,
        "on_resume": on_resume,
        "on_stop": on_stop,
    }
