"""Runs tab: every run (from the UI or the command line) with its recipe, state and
figures; choosing one opens it in the other tabs."""

from __future__ import annotations

import json
from typing import Any

import gradio as gr
import pandas as pd

from workbench.runs import RunDir, list_runs
from workbench.ui.common import Shared, friendly, run_choices

COLUMNS = [
    "run",
    "recipe",
    "state",
    "steps",
    "eval WER base → adapted",
    "term recall base → adapted",
    "general WER change",
    "started",
]


def _pair(data: dict, key: str) -> str:
    base, adapted = data.get("base", {}).get(key), data.get("adapted", {}).get(key)
    if base is None or adapted is None:
        return "-"
    return f"{base:.3f} → {adapted:.3f}"


def run_row(run: RunDir) -> list[str]:
    """One row of the table: a run's recipe, state and headline figures."""
    status = run.status()
    state = status.get("phase") or status.get("state", "?")
    try:
        report = json.loads(run.report.read_text())
    except (OSError, ValueError):
        report = None
    ev, general = "-", "-"
    recall = "-"
    recipe = status.get("recipe_path") or ""
    if report:
        recipe = report.get("recipe", recipe)
        sets = report["sets"]
        first = sets.get("eval") or next(iter(sets.values()))
        ev, recall = _pair(first, "wer"), _pair(first, "term_recall")
        if "general" in sets:
            g = sets["general"]
            general = f"{100 * (g['adapted']['wer'] - g['base']['wer']):+.1f} points"
    steps = f"{status.get('step', 0)}/{status.get('total_steps') or '?'}"
    return [run.id, str(recipe), state, steps, ev, recall, general, status.get("started", "")]


def runs_frame(ws_runs) -> pd.DataFrame:
    return pd.DataFrame([run_row(r) for r in list_runs(ws_runs)], columns=COLUMNS)


def create_runs_tab(shared: Shared) -> dict[str, Any]:
    """Build the tab; returns its components by name."""
    ws = shared.ws
    refresh = gr.Button("Refresh", size="sm")
    gr.Markdown("Click a run to open it (Train, Compare, Try it and Export follow it).")
    table = gr.Dataframe(
        value=runs_frame(ws.runs),
        headers=COLUMNS,
        interactive=False,
        wrap=True,
        elem_id="runs-table",
    )

    @friendly
    def on_select(frame: pd.DataFrame, event: gr.SelectData):
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        run_id = str(frame.iloc[row, 0])
        return gr.update(choices=run_choices(ws), value=run_id), gr.Tabs(selected="compare")

    refresh.click(lambda: runs_frame(ws.runs), None, table)
    table.select(on_select, [table], [shared.run, shared.tabs])
    return {"table": table, "refresh": refresh, "reload": lambda: runs_frame(ws.runs)}
