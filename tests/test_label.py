"""``workbench label`` end to end on the tiny model: pseudo-labels, filters, the check against
references, the write rule, and training on the kept manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import LIBRIVOX, need_librivox

from workbench.audio import load_audio
from workbench.cli import main
from workbench.data.manifest import read_manifest
from workbench.data.prepare import prepare_data
from workbench.label import KEPT, LABELS, SUMMARY, LabelError, label_audio, reasons_to_drop
from workbench.models.loading import load_model
from workbench.recipe import load_recipe
from workbench.transcribe import DecodeOptions, Transcriber


@pytest.fixture
def recipe(tmp_path, tiny_model_dir) -> Path:
    need_librivox()
    path = tmp_path / "label.yaml"
    path.write_text(
        f"name: lab\nbase_model: {tiny_model_dir}\n"
        f"data:\n  unlabeled: [{{source: audio, path: {LIBRIVOX}}}]\n"
        "eval: {decoding: {beam_size: 1, temperatures: [0.0, 0.5]}}\n"
    )
    return path


def test_label_writes_pseudo_labels_with_confidence(recipe, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "labels"
    check = tmp_path / "check.jsonl"
    refs = {p.stem: f"reference {i}" for i, p in enumerate(sorted(LIBRIVOX.glob("*.wav")))}
    check.write_text(
        "".join(
            json.dumps({"id": k, "audio": str(LIBRIVOX / f"{k}.wav"), "text": v}) + "\n"
            for k, v in list(refs.items())[:3]
        )
    )
    args = ["label", str(recipe), "--teacher", str(tiny_model_dir), "--out", str(out)]
    assert main([*args, "--check", str(check), "label.min_avg_logprob=-3"]) == 0
    printed = capsys.readouterr().out
    assert "5 clips labelled by" in printed and "teacher WER against" in printed

    labels = read_manifest(out / LABELS)
    assert sorted(u.id for u in labels) == sorted(refs)
    assert all(u.label_source == "teacher" and u.duration for u in labels)
    assert all(
        set(u.confidence) == {"avg_logprob", "compression_ratio", "no_speech_prob"} for u in labels
    )
    summary = json.loads((out / SUMMARY).read_text())
    assert summary["teacher"] == str(tiny_model_dir) and summary["clips"] == 5
    assert summary["thresholds"]["min_avg_logprob"] == -3.0
    # The kept manifest holds exactly the clips that pass the recipe's thresholds.
    recipe_spec = load_recipe(recipe, ["label.min_avg_logprob=-3"]).label
    passing = [u.id for u in labels if not reasons_to_drop(u.text, u.confidence, recipe_spec)]
    assert [u.id for u in read_manifest(out / KEPT)] == passing
    assert summary["kept"] == len(passing) and summary["dropped"] == 5 - len(passing)
    assert sum(summary["dropped_by_reason"].values()) >= summary["dropped"]
    assert {d["id"] for d in summary["dropped_clips"]} == {u.id for u in labels} - set(passing)
    # The check: the three referenced clips, scored.
    report = summary["check"]
    assert report["n"] == 3 and report["all"]["n"] == 3 and report["all"]["wer"] > 0
    assert {u["id"] for u in report["utterances"]} == set(list(refs)[:3])
    assert sum(b["n"] for b in report["by_avg_logprob"]) == 3

    # The texts are the project's decoding of the clips, as `transcribe` gives them.
    loaded = load_model(str(tiny_model_dir))
    recipe_obj = load_recipe(recipe)
    options = DecodeOptions(decoding=recipe_obj.eval.decoding_options(), encoder_precision="fp32")
    texts = Transcriber(loaded, options).transcribe_arrays([load_audio(u.audio) for u in labels])
    assert [u.text for u in labels] == texts

    # Labelling again into its own folder replaces it; another folder is refused.
    assert main([*args, "label.min_avg_logprob=null", "label.max_no_speech_prob=null"]) == 0
    summary = json.loads((out / SUMMARY).read_text())
    assert summary["check"] is None
    nonempty = [u.id for u in read_manifest(out / LABELS) if u.text.strip()]
    assert [u.id for u in read_manifest(out / KEPT)] == [
        u.id
        for u in read_manifest(out / LABELS)
        if u.id in nonempty and u.confidence["compression_ratio"] <= 2.4
    ]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    capsys.readouterr()
    assert main(["label", str(recipe), "--teacher", str(tiny_model_dir), "--out", str(mine)]) == 2
    assert "was not written by `workbench label`" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "keep me"


def test_training_takes_the_labelled_manifest(recipe, tiny_model_dir, tmp_path):
    out = tmp_path / "labels"
    overrides = ["label.min_avg_logprob=null", "label.max_no_speech_prob=null"]
    overrides += ["label.max_compression_ratio=null"]
    result = label_audio(
        load_recipe(recipe, overrides), out, teacher=str(tiny_model_dir), log=lambda m: None
    )
    kept = read_manifest(result.kept)
    train = tmp_path / "train.yaml"
    train.write_text(
        f"name: student\nbase_model: {tiny_model_dir}\n"
        f"data:\n  train: [{{source: manifest, path: {result.kept}}}]\n  eval_fraction: 0\n"
    )
    assert kept  # with no threshold, every clip the teacher wrote text for
    prepared = prepare_data(load_recipe(train), tmp_path / "prepared", log=lambda m: None)
    assert sorted(u.id for u in prepared.utterances("train")) == sorted(u.id for u in kept)


def test_label_errors_are_clear(recipe, tiny_model_dir, tmp_path, capsys):
    bare = tmp_path / "bare.yaml"
    bare.write_text(f"name: bare\nbase_model: {tiny_model_dir}\n")
    with pytest.raises(LabelError, match=r"data\.unlabeled is empty"):
        label_audio(load_recipe(bare), tmp_path / "o", log=lambda m: None)
    args = ["label", str(recipe), "--teacher", str(tiny_model_dir), "--out", str(tmp_path / "o")]
    assert main([*args, "--teacher-adapter", str(tmp_path / "nothing")]) == 1
    assert "--teacher-adapter:" in capsys.readouterr().err
    assert main([*args, "--boost", "2"]) == 1
    assert "--boost needs a lexicon" in capsys.readouterr().err
    assert main([*args, "--check", str(tmp_path / "missing.jsonl")]) == 1
    assert "--check" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing half-written
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".o.")] == []
