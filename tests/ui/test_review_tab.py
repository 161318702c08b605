"""The review page's actions, called as the page calls them (no browser): an edit made in
the page lands in the folder's kept.jsonl, marked as reviewed."""

from __future__ import annotations

import gradio as gr
import pytest
from label_folder import write_label_folder

from workbench.data.manifest import read_manifest
from workbench.label import KEPT
from workbench.ui.review_tab import decide, label_folders, open_folder, show_clip
from workbench.ui.workspace import Workspace


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.open(tmp_path / "workspace", tmp_path / "runs")
    write_label_folder(ws.root / "labels" / "ward")
    (ws.root / "labels" / "not-labels").mkdir()
    return ws


def test_review_round_trip(ws):
    assert label_folders(ws) == ["ward"]
    rows, ids, first = open_folder(ws, "ward")
    assert ids == ["c", "b", "a"] and first == "c"
    assert rows[0][:3] == ["c", -1.5, "dropped: avg_logprob -1.500 < -1"]
    audio, text, info = show_clip(ws, "ward", "b")
    assert audio[0] == 16000 and len(audio[1]) == 16000 and text == "metro pole"
    assert "avg_logprob -0.6" in info and "kept by the thresholds" in info

    rows, following, status = decide(ws, "ward", "b", True, "metoprolol twice")
    assert following == "a" and "2 not yet reviewed" in status  # the next in table order
    assert [r[3] for r in rows] == ["", "accepted", ""]
    kept = read_manifest(ws.root / "labels" / "ward" / KEPT)
    assert [(u.id, u.text, u.label_source) for u in kept] == [
        ("a", "metoprolol daily", "teacher"),
        ("b", "metoprolol twice", "reviewed"),
    ]
    assert show_clip(ws, "ward", "b")[1] == "metoprolol twice"  # the edit, shown again
    rows, following, status = decide(ws, "ward", "a", False, "")
    assert following == "c" and "1 not yet reviewed" in status
    assert [u.id for u in read_manifest(ws.root / "labels" / "ward" / KEPT)] == ["b"]


def test_review_refuses_what_is_not_a_label_folder(ws):
    for name in (None, "not-labels", "../../runs", "/etc"):
        with pytest.raises(gr.Error):
            open_folder(ws, name)
    with pytest.raises(gr.Error, match="needs its transcript"):
        decide(ws, "ward", "b", True, "   ")
    with pytest.raises(gr.Error, match="no clip"):
        show_clip(ws, "ward", "zz")


def test_the_app_builds_with_the_review_tab(ws):
    from workbench.ui.app import build_app

    app = build_app(ws)
    assert any(getattr(b, "elem_id", None) == "review-table" for b in app.blocks.values())
