"""Compare tab: the side-by-side report of a run: figures per set (the general set
included), plots, and every utterance with both transcripts and their errors coloured;
filter by fixed, broken or missed terms, and play the audio."""

from __future__ import annotations

import json
from html import escape
from typing import Any

import gradio as gr

from workbench.audio import AudioError, load_audio
from workbench.evaluate.compare import difference_lines
from workbench.evaluate.html import (
    STYLE,
    charts,
    decoding_line,
    decoding_table,
    figures_table,
    utterance_table,
)
from workbench.ui.common import PREVIEW_SECONDS, Shared, friendly, run_of

FILTERS = {
    "all": lambda u: True,
    "fixed": lambda u: u["status"] == "fixed",
    "broken": lambda u: u["status"] == "broken",
    "unchanged": lambda u: u["status"] == "unchanged",
    "term missed by adapted": lambda u: bool(u.get("terms_missed_by_adapted")),
    "term recovered": lambda u: bool(u.get("terms_recovered")),
}
MAX_ROWS = 300


def read_report(path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def filtered(report: dict, set_name: str, how: str) -> list[dict]:
    data = report["sets"].get(set_name) or {}
    keep = FILTERS.get(how, FILTERS["all"])
    return [u for u in data.get("utterances", []) if keep(u)]


def create_compare_tab(shared: Shared) -> dict[str, Any]:
    """Build the tab; returns its components by name."""
    ws = shared.ws
    refresh_btn = gr.Button("Refresh", size="sm", elem_id="compare-refresh")
    summary = gr.HTML(elem_id="compare-summary")
    plots = gr.HTML(elem_id="compare-plots")
    with gr.Row():
        set_choice = gr.Dropdown(label="set", choices=[], elem_id="compare-set")
        how = gr.Radio(list(FILTERS), value="all", label="show", elem_id="compare-filter")
    with gr.Row():
        pick = gr.Dropdown(label="play an utterance", choices=[], scale=2)
        audio = gr.Audio(label="audio", interactive=False, scale=2)
    table = gr.HTML(elem_id="compare-utterances")

    @friendly
    def on_run(run_id: str | None):
        run = run_of(ws, run_id)
        report = read_report(run.report) if run else None
        if report is None:
            note = "<p>No report yet: it appears when the run has been evaluated.</p>"
            return note, "", gr.update(choices=[], value=None), "", gr.update(choices=[])
        head = (
            f"<style>{STYLE}</style><p class='muted'>{escape(report['recipe'])} · base model "
            f"{escape(report['base_model'])} · {escape(decoding_line(report))}</p>"
            + figures_table(report)
            + decoding_table(report)
            + "".join(f"<p>{escape(line)}</p>" for line in difference_lines(report))
        )
        names = list(report["sets"])
        rows, choices = _rows(report, names[0], "all")
        return head, charts(report), gr.update(choices=names, value=names[0]), rows, choices

    def _rows(report: dict, set_name: str, how_: str) -> tuple[str, Any]:
        utts = filtered(report, set_name, how_)
        shown = utts[:MAX_ROWS]
        more = ""
        if len(utts) > MAX_ROWS:
            more = f"<p class='muted'>first {MAX_ROWS} of {len(utts)}</p>"
        html = f"<p>{len(utts)} utterance(s)</p>{more}" + utterance_table(shown)
        return html, gr.update(choices=[u["id"] for u in shown], value=None)

    @friendly
    def on_filter(run_id: str | None, set_name: str | None, how_: str):
        run = run_of(ws, run_id)
        report = read_report(run.report) if run else None
        if report is None or set_name not in report["sets"]:
            return "", gr.update(choices=[])
        return _rows(report, set_name, how_)

    @friendly
    def on_pick(run_id: str | None, set_name: str | None, utt_id: str | None):
        run = run_of(ws, run_id)
        report = read_report(run.report) if run else None
        if not utt_id or report is None or set_name not in report["sets"]:
            return None
        utt = next((u for u in report["sets"][set_name]["utterances"] if u["id"] == utt_id), None)
        if utt is None or not utt.get("audio"):
            return None
        try:
            return (16000, load_audio(utt["audio"], max_seconds=PREVIEW_SECONDS, truncate=True))
        except AudioError as exc:
            raise gr.Error(f"cannot play {utt_id}: {exc}", print_exception=False) from None

    outputs = [summary, plots, set_choice, table, pick]
    shared.run.change(on_run, [shared.run], outputs)
    refresh_btn.click(on_run, [shared.run], outputs)
    set_choice.change(on_filter, [shared.run, set_choice, how], [table, pick])
    how.change(on_filter, [shared.run, set_choice, how], [table, pick])
    pick.change(on_pick, [shared.run, set_choice, pick], [audio])
    return {
        "summary": summary,
        "plots": plots,
        "table": table,
        "filter": how,
        "on_run": on_run,
        "outputs": outputs,
    }
