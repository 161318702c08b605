"""Errors as one sentence in place, never a broken widget or a temporary path; pickers that
reach every item; the lexicon's imports that ask before replacing; Stop and Resume only
when they apply; progress and the compare page's explanations."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pandas as pd
import pytest
import yaml

from workbench.lexicon import COLUMNS, load_lexicon
from workbench.runs import RunDir
from workbench.ui.common import Shared, error_message, in_place, scrub_paths
from workbench.ui.workspace import Workspace

MEDICAL = "data_recipes/medical_tiny-en_lora.yaml"


@pytest.fixture
def ws(tmp_path):
    return Workspace.open(tmp_path / "ws", tmp_path / "runs")


def build(ws: Workspace, create):
    """A tab built alone, as app.py builds it, with the page header it reads."""
    with gr.Blocks():
        shared = Shared(ws=ws, recipe=gr.Dropdown(), run=gr.Dropdown())
        shared.yaml, shared.data_code = gr.Code(), gr.Code()
        return create(shared)


def upload_file(name: str, data: bytes) -> Path:
    """A file where Gradio keeps uploads (its temporary folder)."""
    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder()) / "test-widgets-0123456789abcdef"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


# --- errors ------------------------------------------------------------------------------


def test_a_temporary_path_becomes_its_file_name():
    from gradio.utils import get_upload_folder

    path = f"{get_upload_folder()}/fa87c0ffee/fake_audio.wav"
    text = f"cannot decode audio (Error opening '{path}': Format not recognised.)"
    assert scrub_paths(text) == (
        "cannot decode audio (Error opening 'fake_audio.wav': Format not recognised.)"
    )
    assert error_message(gr.Error(f"bad\n  {path}")) == "bad; fake_audio.wav"
    many = ValueError("\n".join(f"templates.txt:{n}: no category 'x'" for n in range(25)))
    assert error_message(many).endswith("templates.txt:2: no category 'x'; (and 22 more)")
    assert scrub_paths("/home/me/recipes/x.yaml exists") == "/home/me/recipes/x.yaml exists"


def test_in_place_puts_the_error_in_the_message_line_and_leaves_the_rest():
    @in_place(3)
    def fails():
        raise ValueError("the name is taken")

    @in_place(1)
    def fails_alone():
        raise gr.Error("nothing to stop")

    assert fails() == (gr.skip(), gr.skip(), "⚠ the name is taken")
    assert fails_alone() == "⚠ nothing to stop"


def test_a_name_clash_on_save_keeps_the_recipe_menu(ws):
    from workbench.ui.recipe_editor import FIELDS, open_recipe
    from workbench.ui.recipes_tab import _show, create_recipes_tab

    tab = build(ws, create_recipes_tab)
    opened = open_recipe(Path(MEDICAL), ws)
    values = [_show(f, opened.values.get(f.key)) for f in FIELDS]
    form = (opened.text, opened.data_text, opened.values, opened.base_dir, *values)
    menu, note = tab["on_save"]("mine", False, *form)
    assert note.startswith("saved") and menu["value"].endswith("mine.yaml"), note
    menu, note = tab["on_save"]("mine", False, *form)
    assert menu == gr.skip()  # the menu keeps its value and choices: no "Error" pill
    assert note.startswith("⚠") and "exists" in note


def test_the_form_follows_the_yaml_as_it_is_typed(ws):
    from workbench.ui.recipe_editor import FIELDS
    from workbench.ui.recipes_tab import create_recipes_tab

    tab = build(ws, create_recipes_tab)
    text = Path(MEDICAL).read_text().replace("rank: 32", "rank: 12")
    out = tab["on_follow"](text, str(Path(MEDICAL).parent))
    keys = [f.key for f in FIELDS]
    rank = out[1 + keys.index("lora.rank")]  # after the data block, one update per field
    assert rank["value"] == 12
    assert len(out) == len(FIELDS) + 4  # data, fields, values, folder, message: no editor
    assert out[-1] == gr.skip()  # the message line keeps what it said ("opened ...")
    out = tab["on_follow"](text.replace("rank: 12", "rank: -3"), str(Path(MEDICAL).parent))
    assert "lora.rank" in out[-1]


def test_a_bad_file_in_try_it_gives_one_sentence_without_its_temporary_path(ws):
    from workbench.ui.try_tab import create_try_tab

    run = RunDir(ws.runs / "r1")
    (run.adapter).mkdir(parents=True)
    (run.adapter / "adapter_model.safetensors").write_bytes(b"x")
    run.write_status(state="done", phase="finished")
    tab = build(ws, create_try_tab)
    fake = upload_file("fake_audio.wav", b"this is not audio")
    *texts, note = tab["on_go"]("r1", str(fake))
    assert texts == [gr.skip()] * 5
    assert note.startswith("⚠ fake_audio.wav:") and "/" not in note
    assert "not a sound file this page can read" in note and "Format not" not in note


# --- the lexicon ---------------------------------------------------------------------------


def test_a_term_category_csv_is_read_and_merged_not_swapped_in(ws):
    from workbench.ui.lexicon_tab import create_lexicon_tab, lexicon_frame

    tab = build(ws, create_lexicon_tab)
    table = lexicon_frame(load_lexicon("domains/medical/lexicon.tsv"))
    csv = upload_file("drugs.csv", b"term,category\nzolpidem,drug\natorvastatin,drug\n")
    note, preview, merge, replace, rows, message = tab["on_import"](str(csv), table)
    assert "2 terms" in note and "1 not in the table" in note and "drugs.csv" in note
    assert preview["visible"] and merge["interactive"] and replace["interactive"]
    assert list(rows["term"]) == ["zolpidem", "atorvastatin"] and message == ""
    merged, *_, text = tab["on_merge"](table, rows)
    assert len(merged) == len(table) + 1 and merged["term"].iloc[-1] == "zolpidem"
    assert "1 term(s) added" in text and "1 already there" in text
    replaced, *_, text = tab["on_replace"](rows)
    assert list(replaced["term"]) == ["zolpidem", "atorvastatin"] and "2 term(s)" in text


def test_a_term_list_with_problems_is_named_by_its_own_name(ws):
    from workbench.ui.lexicon_tab import create_lexicon_tab, lexicon_frame

    tab = build(ws, create_lexicon_tab)
    bad = upload_file("terms.csv", b"term,colour\nzolpidem,red\n")
    *_, message = tab["on_import"](str(bad), lexicon_frame(None))
    assert message.startswith("⚠ terms.csv, line 1:") and "unknown ['colour']" in message
    assert "/" not in message.split("terms.csv")[0]


def test_pasted_names_are_added_and_empty_lines_reported(ws):
    from workbench.ui.lexicon_tab import blank_lines, create_lexicon_tab, lexicon_frame

    assert blank_lines("\na\n\n\nb\n\n") == [3, 4]
    tab = build(ws, create_lexicon_tab)
    table = lexicon_frame(load_lexicon("domains/medical/lexicon.tsv"))
    frame, paste, note = tab["on_paste"](table, "zolpidem\n\nmetoprolol\n  \nlemborexant\n", "drug")
    assert list(frame["term"].iloc[-2:]) == ["zolpidem", "lemborexant"]
    assert set(frame["category"].iloc[-2:]) == {"drug"} and paste == ""
    assert "2 term(s) added" in note and "metoprolol" in note and "2, 4" in note
    *_, note = tab["on_paste"](table, "zolpidem\nzolpidem\n", "drug")
    assert note.startswith("⚠ the pasted list, line 2: duplicate term 'zolpidem'")


def test_a_row_is_added_by_a_button_and_empty_rows_are_reported_on_save(ws):
    from workbench.ui.lexicon_tab import blank_rows, create_lexicon_tab

    tab = build(ws, create_lexicon_tab)
    frame = pd.DataFrame([["zolpidem", "", "drug", "", ""]], columns=list(COLUMNS))
    frame, note = tab["on_add_row"](frame)
    assert len(frame) == 2 and "row 2" in note
    assert blank_rows(frame) == ([2], [])
    text, _, note = tab["on_save"](frame, "mine", False, "name: r\n")
    assert "saved 1 terms" in note and "empty row(s) 2 left out" in note
    assert yaml.safe_load(text)["lexicon"]["path"].endswith("mine.tsv")
    frame.loc[1] = ["", "zol pi dem", "drug", "", ""]
    assert blank_rows(frame) == ([], [2])
    *kept, note = tab["on_save"](frame, "other", False, "name: r\n")
    assert kept == [gr.skip(), gr.skip()] and "row(s) 2 have cells but no term" in note
    assert not (ws.lexicons / "other.tsv").exists()


# --- pickers -------------------------------------------------------------------------------


def many_terms(ws: Workspace, n: int = 250) -> Path:
    path = ws.lexicons / "many.tsv"
    path.write_text("term\tcategory\n" + "".join(f"drug{i:03d}\tdrug\n" for i in range(n)))
    return path


def test_the_term_picker_offers_every_term_of_the_lexicon_in_the_editor(ws):
    from workbench.ui.data_tab import create_data_tab

    tab = build(ws, create_data_tab)
    lexicon = many_terms(ws)
    text = f"name: r\nbase_model: bundled:tiny.en\nlexicon: {{path: {lexicon}}}\n"
    menu, note = tab["on_terms"](None, text, None)
    assert len(menu["choices"]) == 250 and "drug249" in menu["choices"]
    assert note == "250 terms in the lexicon"
    # A lexicon path outside the workspace is refused in place.
    outside = ws.root.parent / "secret.tsv"
    outside.write_text("term\tcategory\nx\ty\n")
    menu, note = tab["on_terms"](None, text.replace(str(lexicon), str(outside)), None)
    assert menu == gr.skip() and "outside the workspace" in note


def test_the_clip_search_finds_any_clip():
    from workbench.ui.augment_tab import clip_choices

    listed = [[f"u{i:04d}: take {i} mg of drug{i}", f"/clips/{i}.wav"] for i in range(3000)]
    shown, total = clip_choices(listed, "")
    assert total == 3000 and len(shown) == 2000
    shown, total = clip_choices(listed, "DRUG2999")
    assert total == 1 and shown == [("u2999: take 2999 mg of drug2999", "/clips/2999.wav")]
    shown, total = clip_choices(listed, "U0012: drug12")  # every word, in any case
    assert total == 1 and shown[0][1] == "/clips/12.wav"
    assert clip_choices(listed, "drug12")[1] == 111  # drug12, drug120 ... drug1299


# --- runs: Stop, Resume, progress -----------------------------------------------------------


def test_stop_and_resume_apply_only_when_they_can(ws):
    from workbench.ui.train_tab import buttons_for, create_train_tab

    run = RunDir(ws.runs / "done-run")
    run.root.mkdir(parents=True)
    run.write_status(state="done", phase="finished", step=4, total_steps=4)
    run.report.write_text("{}")
    assert buttons_for(run) == (False, False)
    tab = build(ws, create_train_tab)
    assert "finished" in tab["on_resume"]("done-run") and "nothing to resume" in tab["on_resume"](
        "done-run"
    )
    assert "not running" in tab["on_stop"]("done-run")
    run.write_status(phase="stopped", state="stopped")
    assert buttons_for(run) == (False, True)
    run.write_status(phase="failed", state="failed")
    assert buttons_for(run) == (False, True)
    out = tab["refresh"]("done-run")
    assert out[-2] == gr.update(interactive=False) and out[-1] == gr.update(interactive=True)


def test_evaluation_progress_is_written_to_the_status_and_shown(tmp_path):
    from workbench.runs import EvalProgress

    run = RunDir(tmp_path / "r")
    run.root.mkdir()
    run.write_status(state="done", phase="evaluating", step=10, total_steps=10)
    now = [100.0]
    progress = EvalProgress(run, every=1.0, clock=lambda: now[0])
    progress(0, 40)
    assert run.status()["eval_done"] == 0 and run.status()["eval_eta_s"] is None
    now[0] = 110.0
    progress(10, 40)
    status = json.loads(run.status_path.read_text())
    assert (status["eval_done"], status["eval_total"], status["eval_eta_s"]) == (10, 40, 30)
    assert status["step"] == 10  # the other fields stay
    now[0] = 110.5
    progress(12, 40)  # within a second of the last write: not written
    assert run.status()["eval_done"] == 10
    progress(40, 40)  # the last one always is
    assert run.status()["eval_done"] == 40 and run.status()["eval_eta_s"] == 0


def test_describe_run_shows_clips_decoded_and_time_left(tmp_path, monkeypatch):
    import workbench.ui.train_tab as train_tab

    run = RunDir(tmp_path / "r")
    run.root.mkdir()
    run.write_status(
        state="done",
        phase="evaluating",
        step=10,
        total_steps=10,
        eval_done=120,
        eval_total=600,
        eval_eta_s=200,
    )
    monkeypatch.setattr(RunDir, "status", lambda self: json.loads(self.status_path.read_text()))
    text, bar = train_tab.describe_run(run)
    assert "evaluating" in text
    assert "evaluation: 120 / 600 clips decoded" in bar and "about 3 min left" in bar
    assert 'aria-valuenow="20"' in bar
    run.write_status(eval_done=None, eval_total=None, eval_eta_s=None)  # before the first clip
    _, bar = train_tab.describe_run(run)
    assert "loading the models" in bar and "clips decoded" not in bar
    run.write_status(phase="training", state="running", step=3, eta_s=40)
    _, bar = train_tab.describe_run(run)
    assert "step 3 / 10" in bar and "about 40 s left" in bar


def test_preparation_counts_are_written_to_the_status_and_shown(tmp_path, monkeypatch):
    import workbench.ui.train_tab as train_tab
    from workbench.data.progress import Count
    from workbench.runs import PrepareProgress

    run = RunDir(tmp_path / "r")
    run.root.mkdir()
    run.write_status(state="queued", phase="preparing")
    monkeypatch.setattr(RunDir, "status", lambda self: json.loads(self.status_path.read_text()))
    now = [100.0]
    progress = PrepareProgress(run, every=1.0, clock=lambda: now[0])
    where = "train source 2 of 2, synth"
    progress(Count("synthesised", 1, 600, where, None))
    now[0] = 100.5
    progress(Count("synthesised", 2, 600, where, 299.0))  # within a second: not written
    assert run.status()["prep_done"] == 1
    now[0] = 160.0
    progress(Count("synthesised", 120, 600, where, 240.4))
    status = run.status()
    assert (status["prep_verb"], status["prep_done"], status["prep_total"]) == (
        "synthesised",
        120,
        600,
    )
    assert status["prep_where"] == where and status["prep_eta_s"] == 240
    text, bar = train_tab.describe_run(run)
    assert "preparing the data" in text
    assert "synthesised 120 of 600 clips (train source 2 of 2, synth)" in bar
    assert "about 4 min left" in bar and 'aria-valuenow="20"' in bar
    now[0] = 160.2
    progress(Count("prepared", 40, 40, "eval source 1 of 1, manifest", 0.0))  # a last count
    _, bar = train_tab.describe_run(run)
    assert "prepared 40 of 40 clips (eval source 1 of 1, manifest)" in bar and "left" not in bar


def test_a_single_logged_step_is_drawn():
    from workbench.ui.train_tab import loss_svg

    svg = loss_svg([{"step": 10, "loss": 2.5}])
    assert svg.count("<circle") == 1 and "step 10: 2.5" in svg


# --- compare -------------------------------------------------------------------------------


def test_compare_explains_its_figures_and_pages_the_utterances():
    from workbench.ui.compare_tab import (
        FIGURES,
        LEGEND,
        PAGE_ROWS,
        explanations,
        page_of,
        rows_html,
        with_hover,
    )

    head = with_hover("<tr><th>WER</th><th>CER</th><th>S / D / I</th><th>RTF</th></tr>")
    for name in ("WER", "CER", "S / D / I", "RTF"):
        assert f"title='{FIGURES[name][:20]}" in head
    lines = explanations()
    assert all(name in lines for name in ("WER", "CER", "term recall", "term false alarms"))
    assert all(f"class='{c}'" in LEGEND for c in ("sub", "del", "ins", "fixed", "broken"))
    utts = [
        {
            "id": f"u{i}",
            "status": "fixed" if i % 2 else "broken",
            "base_wer": 0.5,
            "adapted_wer": 0.0,
            "base_alignment": [{"op": "equal", "ref": "a", "hyp": "a"}],
            "adapted_alignment": [{"op": "equal", "ref": "a", "hyp": "a"}],
        }
        for i in range(45)
    ]
    assert page_of(utts, 3) == (utts[40:], 3, 3) and page_of(utts, 99)[1] == 3
    report = {"sets": {"eval": {"utterances": utts}}}
    html, ids, page = rows_html(report, "eval", "all", 2)
    assert "45 utterance(s)" in html and "page 2 of 3" in html and page == 2
    assert html.count("<tr>") == PAGE_ROWS + 1 and len(ids) == 45
    html, ids, page = rows_html(report, "eval", "fixed", 1)
    assert "22 utterance(s)" in html and page == 1


def test_compare_shows_the_teacher_beside_the_student(ws):
    from workbench.data.manifest import Utterance
    from workbench.evaluate.compare import compare_set, teacher_gap
    from workbench.evaluate.normalize import get_normalizer
    from workbench.ui.compare_tab import FIGURES, create_compare_tab, explanations

    refs = ["take two tablets daily", "check the pressure valve", "call the night nurse"]
    utts = [
        Utterance(id=f"u{i}", audio="", text=t, duration=2.0, speaker=f"v{i % 2}")
        for i, t in enumerate(refs)
    ]
    hyps = {
        "base": ["take to tablets", "check the valve", "call the nurse"],
        "adapted": ["take two tablets daily", "check the valve", "call the night nurse"],
        "teacher": ["take two tablets daily", "check the pressure valve", "call the nurse"],
    }
    data = compare_set(
        utts, hyps, dict.fromkeys(hyps, 1.0), get_normalizer("en"), None, spaced=True
    )
    assert data["teacher_gap"] == teacher_gap(
        data["base"]["wer"], data["adapted"]["wer"], data["teacher"]["wer"]
    )
    assert data["groups"]["speaker"]["v1"]["teacher"]["wer"] == 0.0
    report = {
        "recipe": "kd",
        "base_model": "bundled:tiny.en",
        "adapter": "/a",
        "decoding": {"num_beams": 1, "summary": "greedy"},
        "teacher": {"model": "bundled:base", "named_by": "/labels/summary.json"},
        "sets": {"eval": data},
    }
    run = RunDir(ws.runs / "r1")
    run.root.mkdir(parents=True)
    run.write_status(state="done", phase="finished")
    run.report.write_text(json.dumps(report))
    tab = build(ws, create_compare_tab)
    head, plots, _, rows, _, _ = tab["on_run"]("r1")
    assert "<td>teacher</td>" in head and "teacher: bundled:base (labelled the training" in head
    assert (
        "WER teacher 0.083, student before 0.333, after 0.083" in head
        and "training closed 100% of the gap" in head
    )
    assert "<th>WER teacher</th>" in head  # the breakdown by voice
    assert "teacher" in plots and "teacher" in explanations() and "teacher" in FIGURES
    assert "<th>teacher</th>" in rows and "check the pressure valve <span" in rows
    del report["teacher"]
    for name in ("teacher", "teacher_gap"):
        del data[name]
    for u in data["utterances"]:
        del u["teacher"], u["teacher_wer"]
    for row in data["groups"]["speaker"].values():
        del row["teacher"]
    run.report.write_text(json.dumps(report))
    head, _, _, rows, _, _ = tab["on_run"]("r1")
    assert "<td>teacher</td>" not in head and "WER teacher" not in head
    assert "<th>teacher</th>" not in rows


def test_compare_opens_on_her_recordings_then_synthetic_then_general(ws):
    from workbench.data.manifest import Utterance
    from workbench.evaluate.compare import compare_set
    from workbench.evaluate.normalize import get_normalizer
    from workbench.ui.compare_tab import create_compare_tab

    def scored(utts: list, base: list, adapted: list) -> dict:
        hyps = {"base": base, "adapted": adapted}
        return compare_set(utts, hyps, dict.fromkeys(hyps, 1.0), get_normalizer("en"), None, True)

    mine = [
        Utterance(f"ward/{i}.wav", f"{i}.wav", "start the drip", part="your recordings")
        for i in range(2)
    ]
    synth = [
        Utterance(f"synth-{i}", f"s{i}.wav", "stop the drip", part="synthetic held-out")
        for i in range(3)
    ]
    evaluation = scored(mine + synth, ["start a drip"] * 2 + ["stop the drip"] * 3,
                        ["start the drip"] * 5)  # fmt: skip
    general = scored([Utterance("g", "g.wav", "hello")], ["hello"], ["hello"])
    report = {"recipe": "ward", "base_model": "m", "adapter": "a",
              "decoding": {"num_beams": 1, "summary": "greedy"},
              "sets": {"eval": evaluation, "general": general}}  # fmt: skip
    run = ws.runs / "r1"
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"state": "done"}))
    (run / "report.json").write_text(json.dumps(report))
    tab = build(ws, create_compare_tab)
    head, _, choice, table, pick, _ = tab["on_run"]("r1")
    keys = [key for _, key in choice["choices"]]
    assert keys == ["eval · your recordings", "eval · synthetic held-out", "eval", "general"]
    assert choice["value"] == "eval · your recordings"  # it opens on her recordings
    assert choice["choices"][0][0] == "your recordings (eval) · n=2"
    assert "2 utterance(s)" in table and "ward/0.wav" in table and "synth-0" not in table
    assert pick["choices"] == ["ward/0.wav", "ward/1.wav"]
    assert head.index("your recordings (eval)") < head.index("synthetic held-out (eval)")
    assert head.index("synthetic held-out (eval)") < head.index("general set")
    assert "Part by part" in head and "<th title='word error rate" in head.split("wb-figures")[0]
    table, pick, _ = tab["on_filter"]("r1", "eval · synthetic held-out", "all", 1)
    assert "3 utterance(s)" in table and "ward/0.wav" not in table
    table, _, _ = tab["on_filter"]("r1", "eval", "all", 1)
    assert "5 utterance(s)" in table


def test_the_page_script_is_served(ws):
    from workbench.ui.app import launch_options
    from workbench.ui.page_script import HEAD, TAB_KEY

    assert TAB_KEY in HEAD and "localStorage" in HEAD and "#lexicon-import" in HEAD
    assert launch_options(ws)["head"] == HEAD


def test_export_without_a_run_says_so_in_place(ws):
    from workbench.ui.export_tab import FORMATS, create_export_tab

    tab = build(ws, create_export_tab)
    download, note = tab["on_go"](None, next(iter(FORMATS)))
    assert download == gr.skip() and note.startswith("⚠ choose a run first")
