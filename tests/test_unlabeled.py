"""Untranscribed audio (``data.unlabeled``), the pseudo-label manifest fields, the filters."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from audio_files import tone

from workbench.data.manifest import ManifestError, Utterance, read_manifest, write_manifest
from workbench.data.sources.audio_files import fingerprint_audio, prepare_audio
from workbench.data.validate import Validator
from workbench.label import check_report, reason_kind, reasons_to_drop
from workbench.recipe import AudioSource, LabelSpec, RecipeError, load_recipe


def _clips(folder: Path) -> Path:
    tone(folder / "a.wav", 300)
    tone(folder / "sub" / "b.flac", 500, format="FLAC")
    tone(folder / "c.wav", 700, rate=44100, channels=2)  # converted when validated
    (folder / "a.txt").write_text("a transcript sidecar, not audio")
    return folder


def _checked(spec: AudioSource, tmp_path: Path):
    rows = prepare_audio(spec)
    validator = Validator(tmp_path / "converted")
    checked = [validator.check(c, "unlabeled", need_text=False) for c in rows.candidates]
    return rows, checked


def test_a_folder_gives_its_audio_files_without_text(tmp_path):
    folder = _clips(tmp_path / "clips")
    rows, checked = _checked(AudioSource(path=str(folder)), tmp_path)
    assert [c.id for c in rows.candidates] == ["a", "c", "sub/b"]  # no sidecar
    assert all(c.text is None for c in rows.candidates) and not rows.problems
    assert all(isinstance(u, Utterance) and u.text == "" for u in checked)
    assert checked[1].audio.endswith(".flac") and "converted" in checked[1].audio
    assert [
        c.id for c in prepare_audio(AudioSource(path=str(folder), recursive=False)).candidates
    ] == [
        "a",
        "c",
    ]
    assert len(prepare_audio(AudioSource(path=str(folder), limit=2)).candidates) == 2
    before = fingerprint_audio(AudioSource(path=str(folder)))
    tone(folder / "d.wav", 900)
    assert fingerprint_audio(AudioSource(path=str(folder))) != before


def test_a_list_file_names_clips_relative_to_itself(tmp_path):
    folder = _clips(tmp_path / "clips")
    listing = tmp_path / "list.txt"
    other = tone(tmp_path / "elsewhere" / "a.wav", 1100)
    listing.write_text(f"# my clips\nclips/a.wav\n\n{other}\nclips/sub/b.flac\n")
    rows, checked = _checked(AudioSource(path=str(listing)), tmp_path)
    assert [c.id for c in rows.candidates] == ["a", "a-2", "b"]  # a repeated stem kept apart
    assert rows.candidates[0].origin == f"{listing}:2"
    assert all(isinstance(u, Utterance) for u in checked)
    assert Path(checked[0].audio) == (folder / "a.wav").resolve()


def test_bad_files_are_refused_each_with_its_file_and_reason(tmp_path):
    folder = tmp_path / "clips"
    tone(folder / "good.wav", 300)
    (folder / "empty.wav").write_bytes(b"")
    (folder / "text.wav").write_text("not audio at all")
    tone(folder / "long.wav", 400, seconds=31)
    tone(folder / "same.wav", 300)  # the same audio as good.wav
    os.mkfifo(folder / "pipe.wav")
    _, checked = _checked(AudioSource(path=str(folder)), tmp_path)
    reasons = {Path(str(r.origin)).name: r.reason for r in checked if not isinstance(r, Utterance)}
    assert "empty file" in reasons["empty.wav"]
    assert "cannot decode audio" in reasons["text.wav"]
    assert "longer than 30 s" in reasons["long.wav"]
    assert "FIFO" in reasons["pipe.wav"]
    assert "same audio as" in reasons["same.wav"]
    assert [u.id for u in checked if isinstance(u, Utterance)] == ["good"]
    # each reason names the file
    assert all(name in reason for name, reason in reasons.items())


def test_a_list_that_is_not_text_or_names_nothing(tmp_path):
    from workbench.data.candidates import SourceError

    binary = tmp_path / "list.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(SourceError, match="not a list of audio paths"):
        prepare_audio(AudioSource(path=str(binary)))
    blank = tmp_path / "blank.txt"
    blank.write_text("# nothing\n\n")
    assert "lists no audio paths" in str(prepare_audio(AudioSource(path=str(blank))).problems[0])
    empty = tmp_path / "nothing"
    empty.mkdir()
    assert "no audio files" in str(prepare_audio(AudioSource(path=str(empty))).problems[0])


def _recipe(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text("name: lab\nbase_model: bundled:tiny.en\n" + body)
    return path


def test_the_recipe_takes_unlabeled_sources_and_checks_them(tmp_path):
    folder = _clips(tmp_path / "clips")
    recipe = load_recipe(_recipe(tmp_path, "data:\n  unlabeled: [{source: audio, path: clips}]\n"))
    assert recipe.data.unlabeled[0].path == str(folder.resolve())
    with pytest.raises(RecipeError) as err:
        load_recipe(_recipe(tmp_path, "data:\n  unlabeled: [{source: audiofolder, path: clips}]\n"))
    assert "data.unlabeled[0].source: unknown source 'audiofolder'; expected one of audio" in str(
        err.value
    )
    with pytest.raises(RecipeError, match="no such file"):
        load_recipe(_recipe(tmp_path, "data:\n  unlabeled: [{source: audio, path: gone}]\n"))
    # recipe validate reads the first clips: a folder of bad audio is an error there
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.wav").write_text("not audio")
    body = "data:\n  unlabeled: [{source: audio, path: bad}]\n"
    with pytest.raises(RecipeError, match=r"data\.unlabeled\[0\].*cannot decode audio"):
        load_recipe(_recipe(tmp_path, body), check_inputs=True)


def test_label_thresholds_are_checked():
    with pytest.raises(ValueError, match="min_avg_logprob"):
        LabelSpec(min_avg_logprob=0.5)
    with pytest.raises(ValueError, match="max_no_speech_prob"):
        LabelSpec(max_no_speech_prob=2)
    with pytest.raises(ValueError, match="max_compression_ratio"):
        LabelSpec(max_compression_ratio=0)
    LabelSpec(min_avg_logprob=None, max_compression_ratio=None, max_no_speech_prob=None)


def _conf(lp: float, cr: float = 1.2, ns: float = 0.01) -> dict:
    return {"avg_logprob": lp, "compression_ratio": cr, "no_speech_prob": ns}


def test_the_filters_drop_with_reasons():
    spec = LabelSpec(min_avg_logprob=-0.5, max_compression_ratio=2.0, max_no_speech_prob=0.5)
    assert reasons_to_drop("fine text", _conf(-0.2), spec) == []
    assert reasons_to_drop("fine text", _conf(-0.7), spec) == ["avg_logprob -0.700 < -0.5"]
    assert reasons_to_drop("la la la", _conf(-0.2, cr=3.1), spec) == ["compression_ratio 3.10 > 2"]
    assert reasons_to_drop("hm", _conf(-0.2, ns=0.8), spec) == ["no_speech_prob 0.800 > 0.5"]
    both = reasons_to_drop("", _conf(-1.5), spec)
    assert [reason_kind(r) for r in both] == ["empty transcript", "avg_logprob"]
    off = LabelSpec(min_avg_logprob=None, max_compression_ratio=None, max_no_speech_prob=None)
    assert reasons_to_drop("x", _conf(-9, cr=9, ns=1), off) == []
    assert reasons_to_drop(" ", _conf(-0.1), off) == ["empty transcript (no speech)"]


def test_wer_against_references_by_bucket_and_threshold():
    def utt(i: int, text: str, lp: float) -> Utterance:
        return Utterance(id=str(i), audio=f"/{i}.wav", text=text, confidence=_conf(lp))

    checked = [
        (utt(1, "the cat sat", -0.1), "the cat sat", True),  # right, confident
        (utt(2, "the dog ran", -0.2), "the dog ran", True),
        (utt(3, "a bog fan", -0.6), "the dog ran", True),  # 3 errors of 3 words
        (utt(4, "", -1.4), "hello there", False),  # dropped: 2 deletions
    ]
    report = check_report(checked, LabelSpec(), "en")
    assert report["all"] == {"n": 4, "wer": round(5 / 11, 4), "ref_words": 11}
    assert report["kept"]["wer"] == round(3 / 9, 4) and report["dropped"]["wer"] == 1.0
    buckets = {b["bucket"]: b for b in report["by_avg_logprob"]}
    assert buckets["[-0.15, 0]"]["wer"] == 0.0 and buckets["[-0.3, -0.15)"]["wer"] == 0.0
    assert buckets["[-0.7, -0.5)"]["wer"] == 1.0 and buckets["< -1"]["wer"] == 1.0
    trials = {t["min_avg_logprob"]: t for t in report["if_min_avg_logprob"]}
    assert trials[-0.5] == {"min_avg_logprob": -0.5, "n": 2, "wer": 0.0, "ref_words": 6}
    assert trials[-1.0]["n"] == 3
    assert [u["wer"] for u in report["utterances"]] == [0.0, 0.0, 1.0, 1.0]


def test_manifest_pseudo_label_fields_round_trip_and_are_strict(tmp_path):
    tone(tmp_path / "a.wav")
    utt = Utterance(
        id="a",
        audio=str(tmp_path / "a.wav"),
        text="metoprolol twice daily",
        label_source="teacher",
        confidence=_conf(-0.25),
        terms=["metoprolol"],
    )
    path = tmp_path / "labels.jsonl"
    write_manifest(path, [utt])
    assert read_manifest(path) == [utt]
    row = json.loads(path.read_text())
    bad_rows = {
        "label_source": ("model", "must be one of teacher, reviewed, human"),
        "confidence": ({"avg_logprob": "high"}, "confidence.avg_logprob' must be a finite"),
        "terms": ("metoprolol", "'terms' must be a list of strings"),
    }
    for key, (value, message) in bad_rows.items():
        path.write_text(json.dumps({**row, key: value}) + "\n")
        with pytest.raises(ManifestError, match=message) as err:
            read_manifest(path)
        assert f"{path}:1" in str(err.value)
    path.write_text(json.dumps({**row, "confidence": {"logprob": -1}}) + "\n")
    with pytest.raises(ManifestError, match="unknown key 'logprob'"):
        read_manifest(path)
