"""The review page's actions, called as the page calls them (no browser): an edit made in
the page lands in the folder's kept.jsonl, marked as reviewed."""

from __future__ import annotations

import json

import gradio as gr
import pytest
from audio_files import tone

from workbench.data.manifest import Utterance, read_manifest, write_manifest
from workbench.label import KEPT, LABELS, SUMMARY
from workbench.ui.review_tab import decide, label_folders, open_folder, show_clip
from workbench.ui.workspace import Workspace


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.open(tmp_path / "workspace", tmp_path / "runs")
    out = ws.root / "labels" / "ward"
    utts = [
        Utterance(
            id=name,
            audio=str(tone(out / f"{name}.wav", 300 + 100 * i)),
            text=text,
            label_source="teacher",
            confidence={"avg_logprob": lp, "compression_ratio": 1.1, "no_speech_prob": 0.01},
            terms=["metoprolol"] if "metoprolol" in text else [],
        )
        for i, (name, text, lp) in enumerate(
            [("a", "metoprolol daily", -0.1), ("b", "metro pole", -0.6), ("c", "uh", -1.5)]
        )
    ]
    write_manifest(out / LABELS, utts)
    write_manifest(out / KEPT, utts[:2])
    summary = {
        "written_by": "workbench label",
        "dropped_clips": [{"id": "c", "reasons": ["avg_logprob -1.500 < -1"]}],
    }
    (out / SUMMARY).write_text(json.dumps(summary))
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
