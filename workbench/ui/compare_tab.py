"""Compare tab: the side-by-side report of a run: figures per set (the general set
included), plots, and every utterance with both transcripts and their errors coloured;
filter by fixed, broken or missed terms, and play the audio.

A set whose sources name their part (the guided start's "your recordings" and "synthetic
held-out") is shown part by part, labelled, and the tab opens on the first part: her own
held-out recordings when she has some."""

from __future__ import annotations

import json
from html import escape
from typing import Any

import gradio as gr

from workbench.audio import AudioError, load_audio
from workbench.evaluate.compare import difference_lines
from workbench.evaluate.groups import in_view, views
from workbench.evaluate.html import (
    COLORS,
    STYLE,
    SYSTEM_WORDS,
    charts,
    decoding_line,
    decoding_table,
    figures_table,
    groups_table,
    parts_table,
    teacher_paragraph,
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
PAGE_ROWS = 20  # utterances per page: the page stays short however big the set
# One line per figure, shown under the table and on hover over its column head.
FIGURES = {
    "WER": "word error rate: words substituted, deleted and inserted, over the reference's "
    "words (lower is better; above 100% when the transcript adds many words of its own)",
    "CER": "character error rate: the same count on characters (lower is better)",
    "term recall": "the share of lexicon terms in the references that the transcript writes "
    "(higher is better)",
    "S / D / I": "substituted, deleted and inserted words, counted over the whole set",
    "RTF": "real-time factor: decoding time over audio time (0.1 = ten times faster than "
    "real time)",
    "term false alarms": "lexicon terms written where the reference has none (lower is better)",
    "difference": "adapted WER minus base WER, in points, with its 95% confidence interval; "
    "fixed / broken / unchanged count the utterances whose WER went down / up / stayed",
    "adapted_gated": f"{SYSTEM_WORDS['adapted_gated']}: everyday speech stays as the base "
    "model writes it",
    "teacher": "the model that labelled the training data (workbench label) or that training "
    "distilled toward (train.teacher), decoded with the same settings: how far the student "
    "was from it before training (base) and after (adapted)",
    "by voice / condition": "the same figures for each voice or speaker and each listening "
    "condition of a set, with n: one good voice cannot hide a bad one",
}
LEGEND = (
    "<p class='wb-legend'><b>Colours</b>: "
    "<span class='sub'>substituted word</span> (hover to see the reference's word) · "
    "<span class='del'>deleted word</span> (in the reference, missing from the transcript) · "
    "<span class='ins'>inserted word</span> (in the transcript, not in the reference) · "
    "<span class='fixed'>fixed</span>: the adapted transcript has fewer errors · "
    "<span class='broken'>broken</span>: it has more. In the charts: "
    + " · ".join(
        f"<span style='color:{colour}'>■</span> {escape(system.replace('_', ' + '))}"
        for system, colour in COLORS.items()
    )
    + "</p>"
)


def with_hover(html: str) -> str:
    """The figures tables with each known column head explained on hover (``WER``, and
    ``WER base``/``WER adapted`` of the parts table)."""
    for name, text in FIGURES.items():
        for head in (name, f"{name} base", f"{name} adapted"):
            html = html.replace(
                f"<th>{head}</th>",
                f"<th title='{escape(text)}'>{head} <sup class='muted'>?</sup></th>",
            )
    return html


def guards(report: dict) -> str:
    """The decoding guards table, folded away: it matters when figures look odd."""
    table = decoding_table(report).replace("<h2>Decoding guards</h2>", "")
    if not table:
        return ""
    return (
        "<details class='wb-explain'><summary>Decoding guards: windows that fell back or "
        f"were dropped as silence</summary>{table}</details>"
    )


def explanations() -> str:
    """What each figure means, one line each."""
    items = "".join(f"<li><b>{escape(k)}</b>: {escape(v)}</li>" for k, v in FIGURES.items())
    return f"<details class='wb-explain'><summary>What is this?</summary><ul>{items}</ul></details>"


def page_of(utts: list[dict], page: int, size: int = PAGE_ROWS) -> tuple[list[dict], int, int]:
    """(the utterances of ``page``, the page shown, the number of pages), pages from 1."""
    pages = max(1, -(-len(utts) // size))
    page = min(max(1, int(page or 1)), pages)
    return utts[(page - 1) * size : page * size], page, pages


def read_report(path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def view_choices(report: dict) -> list[tuple[str, str]]:
    """(label, key) of every view, in order (:func:`workbench.evaluate.groups.views`)."""
    return [(f"{v['label']} · n={v['n']}", v["key"]) for v in views(report, whole_sets=True)]


def view_of(report: dict, key: str | None) -> tuple[str, str | None] | None:
    """(set, part) that a view key picks (a bare set name too), None when it picks none."""
    for view in views(report, whole_sets=True):
        if view["key"] == key:
            return view["set"], view["part"]
    return None


def filtered(report: dict, key: str, how: str) -> list[dict]:
    picked = view_of(report, key)
    if picked is None:
        return []
    set_name, part = picked
    keep = FILTERS.get(how, FILTERS["all"])
    utts = in_view(report["sets"][set_name].get("utterances", []), part)
    return [u for u in utts if keep(u)]


def rows_html(report: dict, key: str, how: str, page: int) -> tuple[str, list[str], int]:
    """The page of utterances of the view ``key`` to show (HTML), the ids of every filtered
    utterance (to play), and the page shown."""
    utts = filtered(report, key, how)
    shown, page, pages = page_of(utts, page)
    first = (page - 1) * PAGE_ROWS + 1 if utts else 0
    where = (
        f" · showing {first}–{first + len(shown) - 1}, page {page} of {pages}" if pages > 1 else ""
    )
    html = f"<p>{len(utts)} utterance(s){where}</p>" + utterance_table(shown)
    return html, [u["id"] for u in utts], page


def create_compare_tab(shared: Shared) -> dict[str, Any]:
    """Build the tab; returns its components by name."""
    ws = shared.ws
    refresh_btn = gr.Button("Refresh", size="sm", elem_id="compare-refresh")
    summary = gr.HTML(elem_id="compare-summary")
    with gr.Accordion("Charts", open=False):
        plots = gr.HTML(elem_id="compare-plots")
    with gr.Row():
        set_choice = gr.Dropdown(label="clips shown", choices=[], elem_id="compare-set")
        how = gr.Radio(list(FILTERS), value="all", label="show", elem_id="compare-filter")
    with gr.Row():
        prev_btn = gr.Button("◀ previous", size="sm", elem_id="compare-prev")
        page = gr.Number(value=1, precision=0, label="page", elem_id="compare-page")
        next_btn = gr.Button("next ▶", size="sm", elem_id="compare-next")
    table = gr.HTML(elem_id="compare-utterances")
    with gr.Row():
        pick = gr.Dropdown(label="play an utterance", choices=[], scale=2)
        audio = gr.Audio(label="audio", interactive=False, scale=2)

    @friendly
    def on_run(run_id: str | None):
        run = run_of(ws, run_id)
        report = read_report(run.report) if run else None
        if report is None:
            note = "<p>No report yet: it appears when the run has been evaluated.</p>"
            return note, "", gr.update(choices=[], value=None), "", gr.update(choices=[]), 1
        head = (
            f"<style>{STYLE}</style><p class='muted'>{escape(report['recipe'])} · base model "
            f"{escape(report['base_model'])} · {escape(decoding_line(report))}</p>"
            + with_hover(parts_table(report) + figures_table(report))
            + explanations()
            + LEGEND
            + guards(report)
            + "".join(f"<p>{escape(line)}</p>" for line in difference_lines(report))
            + teacher_paragraph(report)
            + groups_table(report)
        )
        choices = view_choices(report)
        first = choices[0][1]
        html, ids, shown = rows_html(report, first, "all", 1)
        return (
            head,
            charts(report),
            gr.update(choices=choices, value=first),
            html,
            gr.update(choices=ids, value=None),
            shown,
        )

    @friendly
    def on_filter(run_id: str | None, set_name: str | None, how_: str, page_: float | None):
        run = run_of(ws, run_id)
        report = read_report(run.report) if run else None
        if report is None or view_of(report, set_name) is None:
            return "", gr.update(choices=[]), 1
        html, ids, shown = rows_html(report, set_name, how_, int(page_ or 1))
        return html, gr.update(choices=ids, value=None), shown

    @friendly
    def on_pick(run_id: str | None, set_name: str | None, utt_id: str | None):
        run = run_of(ws, run_id)
        report = read_report(run.report) if run else None
        picked = view_of(report, set_name) if report is not None else None
        if not utt_id or picked is None:
            return None
        utts = report["sets"][picked[0]]["utterances"]
        utt = next((u for u in utts if u["id"] == utt_id), None)
        if utt is None or not utt.get("audio"):
            return None
        try:
            return (16000, load_audio(utt["audio"], max_seconds=PREVIEW_SECONDS, truncate=True))
        except AudioError as exc:
            raise gr.Error(f"cannot play {utt_id}: {exc}", print_exception=False) from None

    outputs = [summary, plots, set_choice, table, pick, page]
    shared.run.change(on_run, [shared.run], outputs)
    refresh_btn.click(on_run, [shared.run], outputs)
    rows_out = [table, pick, page]
    first_page = [shared.run, set_choice, how, gr.State(1)]
    set_choice.change(on_filter, first_page, rows_out)
    how.change(on_filter, first_page, rows_out)
    page.submit(on_filter, [shared.run, set_choice, how, page], rows_out)
    prev_btn.click(lambda p: max(1, int(p or 1) - 1), [page], [page]).then(
        on_filter, [shared.run, set_choice, how, page], rows_out
    )
    next_btn.click(lambda p: int(p or 1) + 1, [page], [page]).then(
        on_filter, [shared.run, set_choice, how, page], rows_out
    )
    pick.change(on_pick, [shared.run, set_choice, pick], [audio])
    return {
        "summary": summary,
        "plots": plots,
        "table": table,
        "filter": how,
        "page": page,
        "on_run": on_run,
        "on_filter": on_filter,
        "outputs": outputs,
    }
