"""One run at a time, stop and phases; what the Train, Runs and Data tabs show."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import replace

import gradio as gr
import numpy as np
import pandas as pd
import pytest

from workbench.runs import RunBusyError, RunDir, busy_run, start_pipeline, stop_run
from workbench.ui.common import friendly, run_of, tail
from workbench.ui.workspace import Workspace


def sleeper(run: RunDir, seconds: float = 30) -> subprocess.Popen:
    """A process standing in for a pipeline that is preparing."""
    proc = subprocess.Popen(
        [sys.executable, "-c", f"import time; time.sleep({seconds})"], start_new_session=True
    )
    run.write_status(state="queued", phase="preparing", pipeline_pid=proc.pid)
    return proc


def test_a_second_start_is_refused_while_one_run_is_busy(tmp_path):
    busy = RunDir(tmp_path / "first")
    busy.root.mkdir()
    proc = sleeper(busy)
    try:
        assert busy_run(tmp_path).id == "first"
        with pytest.raises(RunBusyError, match="first is still preparing"):
            start_pipeline(tmp_path / "recipe.yaml", "second", root=tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["first"]
        assert "stopped while preparing" in stop_run(busy)
        proc.wait(timeout=10)
        assert busy.status()["phase"] == "stopped" and not busy.busy()
    finally:
        proc.kill()


def test_two_starts_at_once_make_one_run(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\ntrain: {batch_size: 0}\n")  # fails fast in the child
    results: list[str] = []

    def start() -> None:
        try:
            run, proc = start_pipeline(recipe, "r", root=tmp_path / "runs")
            results.append(run.id)
            proc.wait(timeout=120)
        except RunBusyError:
            results.append("refused")

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("refused") == 3  # the others found the first one busy
    made = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert len(made) == len([r for r in results if r != "refused"])


def test_a_pipeline_that_dies_reads_as_failed(tmp_path):
    run = RunDir(tmp_path / "r")
    run.root.mkdir()
    proc = sleeper(run, 0)
    proc.wait()
    time.sleep(0.1)
    status = run.status()
    assert status["phase"] == "failed" and "pipeline process ended" in status["error"]
    assert status["state"] == "failed"


def test_workbench_run_records_a_failed_preparation(tmp_path):
    recipe = tmp_path / "r.yaml"
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"id": "a", "audio": "missing.wav", "text": "x"}\n')
    recipe.write_text(
        f"name: r\ndata:\n  train: [{{source: manifest, path: {manifest}}}]\n  on_bad_rows: stop\n"
    )
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "run", str(recipe), "--run-dir", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    status = json.loads((run_dir / "status.json").read_text())
    assert status["phase"] == "failed" and "bad row" in status["error"]
    # the counts of preparation reached the status (the page shows them while it runs)
    assert (status["prep_verb"], status["prep_done"], status["prep_total"]) == ("prepared", 1, 1)
    assert status["prep_where"] == "train source 1 of 1, manifest"
    assert "prepared 1 of 1 clips (train source 1 of 1, manifest)" in done.stdout
    from workbench.ui.train_tab import describe_run

    text, _ = describe_run(RunDir(run_dir))
    assert "failed" in text and "bad row" in text


def test_describe_run_and_the_loss_curve(tmp_path):
    from workbench.ui.train_tab import describe_run, loss_svg

    run = RunDir(tmp_path / "r")
    run.root.mkdir()
    run.write_status(state="done", phase="finished", step=40, total_steps=40, epoch=1.5)
    text, bar = describe_run(run)
    assert "finished" in text and "step 40 / 40" in bar and 'aria-valuenow="100"' in bar
    for step, loss in ((10, 3.0), (20, 2.0), (30, 1.5)):
        run.append_metrics({"step": step, "loss": loss})
    run.append_metrics({"step": 30, "general_loss": 0.8})
    svg = loss_svg(run.metrics())
    assert svg.count("<polyline") == 2 and "general-set loss" in svg
    assert "appears after" in loss_svg([])


def test_runs_table_rows(tmp_path):
    from workbench.ui.runs_tab import run_row

    run = RunDir(tmp_path / "r")
    run.root.mkdir()
    run.write_status(state="done", phase="finished", step=4, total_steps=4)
    assert run_row(run)[2:4] == ["finished", "4/4"]
    side = {"base": {"wer": 0.3, "term_recall": 0.2}, "adapted": {"wer": 0.1, "term_recall": 0.6}}
    general = {
        "base": {"wer": 0.05, "term_recall": None},
        "adapted": {"wer": 0.06, "term_recall": None},
    }
    run.report.write_text(json.dumps({"recipe": "med", "sets": {"eval": side, "general": general}}))
    row = run_row(run)
    assert row[1] == "med" and row[4] == "0.300 → 0.100" and row[5] == "0.200 → 0.600"
    assert row[6] == "+1.0 points"


def test_run_of_stays_inside_the_runs_folder(tmp_path):
    ws = Workspace.open(tmp_path / "ws", tmp_path / "runs")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "status.json").write_text("{}")
    assert run_of(ws, "../outside") is None and run_of(ws, "") is None
    (ws.runs / "ok").mkdir()
    (ws.runs / "ok" / "status.json").write_text("{}")
    assert run_of(ws, "ok").id == "ok"


def test_friendly_turns_any_error_into_a_message_and_leaves_the_outputs_alone():
    @friendly
    def broken() -> None:
        raise KeyError("no such thing")

    with pytest.warns(UserWarning, match="no such thing") as caught:
        result = broken()
    assert result == gr.skip()  # every output keeps what it showed: no "Error" pill
    assert all("Traceback" not in str(w.message) for w in caught)


def test_tail_keeps_the_last_state_of_progress_lines(tmp_path):
    log = tmp_path / "log"
    log.write_text("one\n 10%\r 50%\r100%\ntwo\n")
    assert tail(log, 2) == "100%\ntwo"
    assert tail(tmp_path / "missing") == ""


def test_data_views():
    from workbench.ui.data_tab import add_source, prepared_tables

    report = {
        "splits": {
            "train": {
                "n": 3,
                "hours": 0.01,
                "speakers": 2,
                "dropped": 1,
                "problems": ["m.jsonl:4: missing text"],
            }
        }
    }
    counts, dropped = prepared_tables(report)
    assert counts.iloc[0].tolist() == ["train", 3, 0.01, 2, 1]
    assert dropped.iloc[0].tolist() == ["train", "m.jsonl:4", "missing text"]
    text = add_source(
        "name: x\ndata:\n  eval: []\n", "train", {"source": "audiofolder", "path": "/w/d"}
    )
    assert "audiofolder" in text and "eval: []" in text


def test_lexicon_table_round_trip(tmp_path):
    from workbench.lexicon import load_lexicon
    from workbench.ui.lexicon_tab import frame_to_tsv, lexicon_frame, search

    lexicon = load_lexicon("domains/medical/lexicon.tsv")
    frame = lexicon_frame(lexicon)
    frame.loc[len(frame)] = ["zolpidem", "zol pi dem", "drug", "", "2"]
    frame.loc[len(frame)] = ["", "", "", "", ""]  # an empty row added and left blank
    path = tmp_path / "lex.tsv"
    path.write_text(frame_to_tsv(frame))
    again = load_lexicon(path)
    assert len(again) == len(lexicon) + 1 and again.get("zolpidem").spoken == ("zol pi dem",)
    assert again.get("zolpidem").weight == 2.0
    for term in lexicon:  # every field survives the table, line numbers aside
        assert replace(again.get(term.term), line=0) == replace(term, line=0)
    assert set(search(frame, "STATIN")["term"]) >= {"atorvastatin", "simvastatin"}
    assert isinstance(search(frame, ""), pd.DataFrame)


def test_augment_preview_pieces():
    from workbench.schema import SpecError
    from workbench.ui.augment_tab import spec_from_controls, spectrogram_image

    image = spectrogram_image(np.random.default_rng(0).normal(size=16000).astype(np.float32))
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert spectrogram_image(np.zeros(1, dtype=np.float32)).size > 0  # one sample: no error
    spec = spec_from_controls(True, 0.9, 1.1, True, 5, 15, ["pink"], False, [], True, True, {})
    assert spec.speed.p == 1.0 and spec.telephone is not None and spec.reverb is None
    with pytest.raises(SpecError, match="min_snr_db"):
        spec_from_controls(False, 0.9, 1.1, True, 20, 5, ["pink"], False, [], False, True, {})
