"""Review tab: a teacher's pseudo-labels (``workbench label``), least confident first, each
playable and editable; accept or reject, and the decision lands in the folder's
``kept.jsonl`` (see :mod:`workbench.label_review`).

The folders offered are those under the workspace's ``labels/`` (``workbench label RECIPE
--out WORKSPACE/labels/NAME``): the page writes there, so nothing outside the workspace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from workbench.audio import SAMPLE_RATE, AudioError, load_audio
from workbench.label import SUMMARY, LabelError
from workbench.label_review import Decision, ReviewRow, review_rows, save_review
from workbench.ui.common import PREVIEW_SECONDS, Shared, friendly
from workbench.ui.workspace import Workspace

COLUMNS = ["clip", "avg_logprob", "thresholds", "decision", "transcript"]


def labels_root(ws: Workspace) -> Path:
    return ws.root / "labels"


def label_folders(ws: Workspace) -> list[str]:
    """The label folders of the workspace (``labels/*`` holding a ``summary.json``)."""
    root = labels_root(ws)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / SUMMARY).is_file())


def _folder(ws: Workspace, name: str | None) -> Path:
    """The label folder ``name`` inside the workspace's ``labels/`` (never outside it)."""
    if not name:
        raise gr.Error(
            f"choose a label folder; write one with `workbench label RECIPE --out "
            f"{labels_root(ws)}/NAME`",
            print_exception=False,
        )
    path = (labels_root(ws) / name).resolve()
    if path.parent != labels_root(ws).resolve() or not (path / SUMMARY).is_file():
        raise gr.Error(f"no label folder {name!r} in {labels_root(ws)}", print_exception=False)
    return path


def _rows(path: Path) -> list[ReviewRow]:
    try:
        return review_rows(path)
    except LabelError as exc:
        raise gr.Error(str(exc), print_exception=False) from None


def _decision_text(row: ReviewRow) -> str:
    if row.decision is None:
        return ""
    return "accepted" if row.decision.accept else "rejected"


def table(rows: list[ReviewRow]) -> list[list[Any]]:
    """The rows as the page's table: least confident first."""
    return [
        [
            r.utterance.id,
            (r.utterance.confidence or {}).get("avg_logprob"),
            "kept" if r.kept else "dropped: " + "; ".join(r.reasons),
            _decision_text(r),
            r.decision.text if (r.decision and r.decision.accept) else r.utterance.text,
        ]
        for r in rows
    ]


def open_folder(ws: Workspace, name: str | None) -> tuple[list[list[Any]], list[str], str | None]:
    """The table, the clip choices (table order) and the first clip not yet decided."""
    rows = _rows(_folder(ws, name))
    ids = [r.utterance.id for r in rows]
    pending = next((r.utterance.id for r in rows if r.decision is None), ids[0] if ids else None)
    return table(rows), ids, pending


def show_clip(
    ws: Workspace, name: str | None, clip: str | None
) -> tuple[tuple[int, np.ndarray] | None, str, str]:
    """The clip's audio (its first two minutes), its transcript as it stands, and what the
    teacher said of it."""
    if not clip:
        return None, "", ""
    rows = {r.utterance.id: r for r in _rows(_folder(ws, name))}
    row = rows.get(clip)
    if row is None:
        raise gr.Error(f"no clip {clip!r} in this folder", print_exception=False)
    utt = row.utterance
    try:
        audio = (SAMPLE_RATE, load_audio(utt.audio, max_seconds=PREVIEW_SECONDS, truncate=True))
    except AudioError as exc:
        audio = None
        gr.Warning(f"{clip}: the audio cannot be played ({exc.reason})")
    text = row.decision.text if (row.decision and row.decision.accept) else utt.text
    conf = utt.confidence or {}
    info = (
        f"**teacher:** {utt.text or '(nothing)'}  \n"
        f"avg_logprob {conf.get('avg_logprob')}, compression_ratio "
        f"{conf.get('compression_ratio')}, no_speech_prob {conf.get('no_speech_prob')}; "
        + ("kept by the thresholds" if row.kept else "dropped: " + "; ".join(row.reasons))
        + (f"; terms: {', '.join(utt.terms)}" if utt.terms else "")
        + (f"  \n**your decision:** {_decision_text(row)}" if row.decision else "")
    )
    return audio, text, info


def decide(
    ws: Workspace, name: str | None, clip: str | None, accept: bool, text: str
) -> tuple[list[list[Any]], str | None, str]:
    """Save a decision on ``clip``; the new table, the next clip to review, a status line."""
    path = _folder(ws, name)
    if not clip:
        raise gr.Error("choose a clip first", print_exception=False)
    try:
        decision = Decision(accept, text if accept else None)
        kept = save_review(path, {clip: decision})
    except (ValueError, LabelError) as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    rows = _rows(path)
    ids = [r.utterance.id for r in rows]
    after = ids[ids.index(clip) + 1 :] + ids[: ids.index(clip)]
    pending = {r.utterance.id for r in rows if r.decision is None}
    following = next((i for i in after if i in pending), clip)
    status = (
        f"{clip} {'accepted' if accept else 'rejected'}; {path / 'kept.jsonl'} now holds "
        f"{len(kept)} clip(s) to train on; {len(pending)} not yet reviewed"
    )
    return table(rows), following, status


def create_review_tab(shared: Shared) -> dict[str, Any]:
    """Build the tab; returns its components by name."""
    ws = shared.ws
    with gr.Row():
        folder = gr.Dropdown(
            label=f"label folder (in {labels_root(ws)})",
            choices=label_folders(ws),
            scale=3,
            elem_id="review-folder",
        )
        refresh = gr.Button("Refresh", scale=1, elem_id="review-refresh")
    grid = gr.Dataframe(
        headers=COLUMNS, interactive=False, wrap=True, elem_id="review-table", max_height=320
    )
    clip = gr.Dropdown(label="clip (least confident first)", choices=[], elem_id="review-clip")
    audio = gr.Audio(label="clip", type="numpy", interactive=False, elem_id="review-audio")
    info = gr.Markdown(elem_id="review-info")
    text = gr.Textbox(label="transcript (edit before accepting)", elem_id="review-text")
    with gr.Row():
        accept = gr.Button("Accept", variant="primary", elem_id="review-accept")
        reject = gr.Button("Reject", elem_id="review-reject")
    status = gr.Markdown(elem_id="review-status")

    @friendly
    def on_refresh():
        return gr.update(choices=label_folders(ws))

    @friendly
    def on_folder(name):
        rows, ids, first = open_folder(ws, name)
        return rows, gr.update(choices=ids, value=first)

    @friendly
    def on_clip(name, clip_id):
        return show_clip(ws, name, clip_id)

    @friendly
    def on_select(evt: gr.SelectData, rows):
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return rows.iloc[row, 0] if hasattr(rows, "iloc") else rows[row][0]

    def on_decide(accepted: bool):
        @friendly
        def handler(name, clip_id, edited):
            rows, following, line = decide(ws, name, clip_id, accepted, edited)
            return rows, following, line

        return handler

    refresh.click(on_refresh, None, folder)
    folder.change(on_folder, [folder], [grid, clip])
    clip.change(on_clip, [folder, clip], [audio, text, info])
    grid.select(on_select, [grid], [clip])
    accept.click(on_decide(True), [folder, clip, text], [grid, clip, status])
    reject.click(on_decide(False), [folder, clip, text], [grid, clip, status])
    return {"folder": folder, "table": grid, "clip": clip, "text": text, "status": status}
