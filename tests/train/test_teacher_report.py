"""The teacher in the comparison: a student trained on a teacher's labels is evaluated beside
that teacher (report.json, the summary, report.html); no teacher where the data had none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import need_librivox

from workbench.audio import load_audio
from workbench.cli import main
from workbench.evaluate.compare import (
    evaluate_adapter,
    summary_table,
    teacher_gap,
    teacher_lines,
    write_report,
)
from workbench.evaluate.html import render_report
from workbench.evaluate.teacher import find_teacher
from workbench.label import SUMMARY, label_audio
from workbench.models.loading import load_model
from workbench.recipe import load_recipe
from workbench.runs import RunDir
from workbench.train.loop import train_recipe
from workbench.transcribe import DecodeOptions, Transcriber

EVAL = "eval: {batch_size: 4, max_new_tokens: 16, decoding: {temperatures: [0.0]}}\n"


def quiet(message: str) -> None:
    pass


def _recipe(path: Path, model: Path, train: Path, manifests: dict, extra: str = "") -> Path:
    path.write_text(
        f"name: {path.stem}\nbase_model: {model}\n"
        f"data:\n  train: [{{source: manifest, path: {train}}}]\n"
        f"  eval: [{{source: manifest, path: {manifests['speakers']}}}]\n"
        f"  general: [{{source: manifest, path: {manifests['general']}}}]\n"
        "lora: {rank: 4, top_encoder_layers: 1, top_decoder_layers: 1}\n"
        "train: {batch_size: 2, max_steps: 2, learning_rate: 1.0e-2, log_steps: 1}\n" + EVAL + extra
    )
    return path


@pytest.fixture(scope="module")
def student(tmp_path_factory, tiny_model_dir, multilingual, speech_manifests):
    """A multilingual teacher's labels of the librivox clips, and a tiny.en-shaped student
    trained on them for two steps; an eval set of two voices (for the groups)."""
    need_librivox()
    folder = tmp_path_factory.mktemp("teacher_report")
    rows = [json.loads(line) for line in speech_manifests["replay"].read_text().splitlines()]
    for i, row in enumerate(rows):
        row["speaker"] = f"voice{i}"
    speakers = folder / "speakers.jsonl"
    speakers.write_text("".join(json.dumps(r) + "\n" for r in rows))
    manifests = {**speech_manifests, "speakers": speakers}
    # The clips the gold manifest trains on, their transcripts hidden: none is evaluated.
    train = speech_manifests["train"].read_text().splitlines()
    clips = [json.loads(line)["audio"] for line in train]
    listing = folder / "clips.txt"
    listing.write_text("\n".join(clips) + "\n")
    labelling = folder / "label.yaml"
    labelling.write_text(
        f"name: lab\nbase_model: {tiny_model_dir}\n"
        f"data:\n  unlabeled: [{{source: audio, path: {listing}}}]\n" + EVAL
    )
    none = [f"label.{k}=null" for k in ("min_avg_logprob", "max_compression_ratio")]
    none.append("label.max_no_speech_prob=null")
    labels = label_audio(
        load_recipe(labelling, none), folder / "labels", teacher=str(multilingual), log=quiet
    )
    recipe = _recipe(folder / "student.yaml", tiny_model_dir, labels.kept, manifests)
    run = RunDir(folder / "run")
    train_recipe(load_recipe(recipe), run, log=quiet)
    return {"recipe": recipe, "run": run, "labels": labels.folder, "manifests": manifests}


def test_report_has_the_teacher_beside_the_student(student, multilingual, tmp_path):
    recipe = load_recipe(student["recipe"])
    said: list[str] = []
    report = evaluate_adapter(recipe, student["run"].adapter, log=said.append)
    about = report["teacher"]
    assert about["model"] == str(multilingual)
    assert about["named_by"] == str((student["labels"] / SUMMARY).resolve())
    assert about["language"] == "en"  # a multilingual teacher for an English-only student
    assert about["labelling"]["thresholds"]["min_avg_logprob"] is None
    assert any("with the teacher" in line for line in said)
    loaded = load_model(str(multilingual))
    options = DecodeOptions(
        decoding=recipe.eval.decoding_options(),
        language="en",
        max_new_tokens=recipe.eval.max_new_tokens,
        encoder_precision=recipe.eval.encoder_precision,
    )
    for name in ("eval", "general"):
        data = report["sets"][name]
        # The same figures as every system, and the teacher's own decoding with the options.
        assert set(data["teacher"]) == set(data["base"])
        utts = data["utterances"]
        texts = Transcriber(loaded, options).transcribe_arrays(
            [load_audio(u["audio"]) for u in utts]
        )
        assert [u["teacher"] for u in utts] == texts
        assert all(u["teacher_wer"] >= 0 for u in utts)
        gap = data["teacher_gap"]
        assert gap == teacher_gap(
            data["base"]["wer"], data["adapted"]["wer"], data["teacher"]["wer"]
        )
        assert data["teacher"]["decoding"]["windows"] == len(utts)
    # The groups (two voices in the eval set) carry the teacher too.
    groups = report["sets"]["eval"]["groups"]["speaker"]
    assert set(groups) == {"voice0", "voice1"}
    assert all("teacher" in row and "wer" in row["teacher"] for row in groups.values())
    # Summary, report.html and the student-before/after figures are still there.
    table = summary_table(report)
    assert f"teacher: {multilingual} (labelled the training data" in table
    assert "WER teacher" in table and "student before" in table
    assert any(line.split()[2:3] == ["teacher"] for line in table.splitlines())
    page = render_report(report)
    assert "<th>teacher</th>" in page and "WER teacher" in page and "wb-teacher" in page
    written = write_report(report, tmp_path / "report.json")
    assert json.loads(written[0].read_text())["sets"]["eval"]["teacher"]["wer"] >= 0


def test_no_teacher_when_the_data_had_none(student, speech_manifests, tiny_model_dir, tmp_path):
    gold = _recipe(
        tmp_path / "gold.yaml", tiny_model_dir, speech_manifests["train"], student["manifests"]
    )
    said: list[str] = []
    report = evaluate_adapter(load_recipe(gold), student["run"].adapter, log=said.append)
    assert "teacher" not in report
    for data in report["sets"].values():
        assert "teacher" not in data and "teacher_gap" not in data
        assert all("teacher" not in u for u in data["utterances"])
    assert "teacher" not in summary_table(report) and "<th>teacher</th>" not in render_report(
        report
    )
    assert not any("teacher" in line for line in said)


def test_no_teacher_flag_and_recipe_setting(student, tmp_path, capsys):
    recipe, adapter = student["recipe"], student["run"].adapter
    out = tmp_path / "report.json"
    args = ["eval", str(recipe), "--adapter", str(adapter), "--out", str(out)]
    assert main([*args, "--no-teacher"]) == 0
    assert "teacher" not in json.loads(out.read_text())
    printed = capsys.readouterr().out
    assert "with the teacher" not in printed and "WER teacher" not in printed
    report = evaluate_adapter(load_recipe(recipe, ["eval.teacher=false"]), adapter, log=quiet)
    assert "teacher" not in report and "teacher" not in report["sets"]["eval"]


def test_train_teacher_is_compared(student, other_english, tiny_model_dir, tmp_path):
    gold = _recipe(
        tmp_path / "kd.yaml", tiny_model_dir, student["manifests"]["train"], student["manifests"]
    )
    recipe = load_recipe(gold, [f"train.teacher={other_english}", "train.teacher_weight=1.0"])
    report = evaluate_adapter(recipe, student["run"].adapter, log=quiet)
    assert report["teacher"]["model"] == str(other_english)
    assert report["teacher"]["named_by"] == "train.teacher"
    assert report["teacher"]["language"] is None  # English-only: no language token
    assert "teacher" in report["sets"]["general"]


def test_a_teacher_that_is_gone_is_left_out(student, tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    kept = labels / "kept.jsonl"
    kept.write_text((student["labels"] / "kept.jsonl").read_text())
    summary = json.loads((student["labels"] / SUMMARY).read_text())
    summary["teacher"] = str(tmp_path / "no-such-model")
    (labels / SUMMARY).write_text(json.dumps(summary))
    recipe = _recipe(
        tmp_path / "gone.yaml",
        Path(load_recipe(student["recipe"]).base_model),
        kept,
        student["manifests"],
    )
    said: list[str] = []
    report = evaluate_adapter(load_recipe(recipe), student["run"].adapter, log=said.append)
    assert "does not load" in report["teacher"]["skipped"]
    assert all("teacher" not in data for data in report["sets"].values())
    assert "not compared" in summary_table(report)
    assert any("left out of the comparison" in line for line in said)
    # Teacher labels with no summary.json: said, and no teacher.
    (labels / SUMMARY).unlink()
    said.clear()
    assert find_teacher(load_recipe(recipe), log=said.append) is None
    assert any("no summary.json" in line for line in said)


def test_teacher_gap_and_its_lines():
    assert teacher_gap(0.5, 0.3, 0.1) == {"before": 0.4, "after": 0.2, "closed": 0.5}
    assert teacher_gap(0.1, 0.2, 0.2)["closed"] is None  # not behind the teacher before
    sets = {
        name: {"base": {"wer": b}, "adapted": {"wer": a}, "teacher": {"wer": t}}
        for name, (b, a, t) in {
            "eval": (0.3, 0.15, 0.1),
            "general": (0.1, 0.2, 0.05),
            "other": (0.04, 0.08, 0.04),
        }.items()
    }
    for data in sets.values():
        data["teacher_gap"] = teacher_gap(
            data["base"]["wer"], data["adapted"]["wer"], data["teacher"]["wer"]
        )
    lines = teacher_lines({"teacher": {"model": "m", "named_by": "train.teacher"}, "sets": sets})
    assert lines == [
        "teacher: m (train.teacher)",
        "eval: WER teacher 0.100, student before 0.300, after 0.150; "
        "training closed 75% of the gap to the teacher",
        "general: WER teacher 0.050, student before 0.100, after 0.200; "
        "training widened the gap to the teacher by 10.0 points",
        "other: WER teacher 0.040, student before 0.040, after 0.080; "
        "the student was not behind the teacher before training; after, 4.0 points behind",
    ]
