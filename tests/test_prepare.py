"""workbench data prepare: validation, dropped rows, caching, splits, and the user's files."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time

import pytest
import soundfile as sf
from audio_files import tone

from workbench.data.prepare import DataError, prepare_data
from workbench.recipe import load_recipe


def tree_hash(folder):
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def user(tmp_path):
    """A user's folder of clips and a manifest with every kind of bad row."""
    d = tmp_path / "user"
    tone(d / "good1.wav", 300)
    tone(d / "good2.flac", 320, rate=44100, channels=2, format="FLAC")
    tone(d / "good3.wav", 340, rate=8000)
    tone(d / "good4.wav", 360, seconds=2.0)
    tone(d / "long.wav", 380, seconds=31)
    tone(d / "low.wav", 390, rate=4000)
    (d / "empty.wav").write_bytes(b"")
    (d / "corrupt.wav").write_bytes(b"RIFF" + bytes(200))
    sf.write(d / "silent.wav", [0.0] * 16000, 16000)
    shutil.copy(d / "good1.wav", d / "copy_of_good1.wav")
    rows = [
        {"id": "g1", "audio": "good1.wav", "text": "the first good clip", "speaker": "ann"},
        {"id": "g2", "audio": "good2.flac", "text": "the second good clip", "speaker": "ann"},
        {"id": "g3", "audio": "good3.wav", "text": "a narrowband clip", "speaker": "bob"},
        {"id": "g4", "audio": str(d / "good4.wav"), "text": "an absolute path", "speaker": "bob"},
        {"id": "long", "audio": "long.wav", "text": "too long"},
        {"id": "low", "audio": "low.wav", "text": "too low a rate"},
        {"id": "empty", "audio": "empty.wav", "text": "empty file"},
        {"id": "corrupt", "audio": "corrupt.wav", "text": "corrupt file"},
        {"id": "silent", "audio": "silent.wav", "text": "silence"},
        {"id": "dupaudio", "audio": "copy_of_good1.wav", "text": "same sound"},
        {"id": "g1", "audio": "good4.wav", "text": "duplicate id"},
        {"id": "notext", "audio": "good4.wav", "text": "   "},
        {"id": "nofile", "audio": "missing.wav", "text": "no such file"},
    ]
    (d / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    tone(d / "good5.wav", 370)
    (d / "eval.jsonl").write_text(
        json.dumps({"id": "e1", "audio": "good5.wav", "text": "An absolute path!"})
        + "\n"
        + json.dumps({"id": "e2", "audio": "good3.wav", "text": "eval clip also in train"})
        + "\n"
    )
    return d


def recipe(tmp_path, user, extra=""):
    path = tmp_path / "recipe.yaml"
    path.write_text(
        f"name: t\ndata:\n  train: [{{source: manifest, path: {user}/train.jsonl}}]\n{extra}"
    )
    return load_recipe(path)


EXPECTED_REASONS = {
    "long": "clip is 31.0 s, longer than 30 s",
    "low": "sample rate 4000 Hz is too low",
    "empty": "empty file (0 bytes)",
    "corrupt": "cannot decode audio",
    "silent": "silent audio",
    "dupaudio": "same audio as",
    "g1 again": "duplicate id 'g1'",
    "notext": "empty text",
    "nofile": "no such file",
}


def test_bad_rows_are_dropped_with_file_line_and_reason(tmp_path, user):
    before = tree_hash(user)
    prepared = prepare_data(recipe(tmp_path, user), tmp_path / "out", log=lambda m: None)
    train = prepared.report["splits"]["train"]
    problems = train["problems"]
    assert train["dropped"] == len(EXPECTED_REASONS) == len(problems)
    for reason in EXPECTED_REASONS.values():
        assert sum(reason in p for p in problems) == 1, (reason, problems)
    assert all(p.startswith(f"{user}/train.jsonl:") for p in problems)
    assert tree_hash(user) == before  # nothing the user gave is modified

    utts = {u.id: u for u in prepared.utterances("train")} | {
        u.id: u for u in prepared.utterances("eval")
    }
    assert set(utts) == {"g1", "g2", "g3", "g4"}
    assert utts["g1"].audio == str(user / "good1.wav")  # 16 kHz mono wav: used in place
    for converted in ("g2", "g3"):  # 44.1 kHz stereo flac, 8 kHz wav: written at 16 kHz mono
        info = sf.info(utts[converted].audio)
        assert (info.samplerate, info.channels) == (16000, 1)
        assert utts[converted].audio.startswith(str(tmp_path / "out"))
    assert prepared.report["converted_audio"] == 2
    assert utts["g1"].duration == pytest.approx(1.0)


def test_stop_mode_lists_every_bad_row_and_writes_nothing(tmp_path, user):
    r = recipe(tmp_path, user, "  on_bad_rows: stop\n")
    with pytest.raises(DataError) as err:
        prepare_data(r, tmp_path / "out", log=lambda m: None)
    assert len(err.value.problems) == len(EXPECTED_REASONS)
    assert "on_bad_rows is 'stop'" in str(err.value)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_second_run_is_cached_and_a_changed_source_is_noticed(tmp_path, user):
    r = recipe(tmp_path, user)
    first = prepare_data(r, log=lambda m: None)
    assert not first.cached
    start = time.perf_counter()
    again = prepare_data(r, log=lambda m: None)
    assert again.cached and again.folder == first.folder
    assert time.perf_counter() - start < 1.0
    tone(user / "good4.wav", 999, seconds=2.0)  # the user re-records a clip
    changed = prepare_data(r, log=lambda m: None)
    assert not changed.cached and changed.folder != first.folder


def test_never_the_same_sentence_in_train_and_eval(tmp_path, user):
    r = recipe(tmp_path, user, f"  eval: [{{source: manifest, path: {user}/eval.jsonl}}]\n")
    prepared = prepare_data(r, tmp_path / "out", log=lambda m: None)
    assert [u.id for u in prepared.utterances("eval")] == ["e1", "e2"]
    train = {u.id for u in prepared.utterances("train")}
    assert "g4" not in train and "g3" not in train  # the same sentence; the same clip
    problems = prepared.report["splits"]["train"]["problems"]
    assert any("g4: same sentence as an eval" in p for p in problems)
    assert any("good3.wav: same audio as" in p and "eval.jsonl:2" in p for p in problems)


def test_eval_split_off_train_keeps_speakers_apart(tmp_path, user):
    prepared = prepare_data(
        recipe(tmp_path, user, "  eval_fraction: 0.3\n"), tmp_path / "o", log=print
    )
    train, held = prepared.utterances("train"), prepared.utterances("eval")
    assert train and held
    assert not {u.speaker for u in train} & {u.speaker for u in held}
    assert prepared.report["eval_split_from_train"] == "speaker"


def test_a_foreign_folder_is_never_written_into(tmp_path, user):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    with pytest.raises(DataError, match="was not written by `workbench data prepare`"):
        prepare_data(recipe(tmp_path, user), out, log=lambda m: None)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_failure_leaves_the_previous_preparation_intact(tmp_path, user, monkeypatch):
    out = tmp_path / "out"
    r = recipe(tmp_path, user)
    prepare_data(r, out, log=lambda m: None)
    before = tree_hash(out)
    from workbench.data import validate

    def boom(self, cand, split):
        raise OSError("disk full")

    monkeypatch.setattr(validate.Validator, "check", boom)
    with pytest.raises(OSError, match="disk full"):
        prepare_data(r, out, force=True, log=lambda m: None)
    assert tree_hash(out) == before


def test_cli_prints_counts_and_dropped_rows(tmp_path, user):
    path = tmp_path / "recipe.yaml"
    path.write_text(
        f"name: t\ndata:\n  train: [{{source: manifest, path: {user}/train.jsonl}}]\n"
        "  eval_fraction: 0\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench.cli",
            "data",
            "prepare",
            str(path),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.split()[:2] == ["train", "4"] for line in lines)
    assert f"dropped {len(EXPECTED_REASONS)} row(s):" in result.stdout
    assert f"manifests in {tmp_path / 'o'}" in result.stdout


def test_a_source_part_reaches_the_manifest_and_old_recipes_keep_their_data(tmp_path, user):
    plain = recipe(tmp_path, user, f"  eval: [{{source: manifest, path: {user}/eval.jsonl}}]\n")
    first = prepare_data(plain, log=lambda m: None)
    assert {u.part for u in first.utterances("eval")} == {None}
    named = recipe(
        tmp_path,
        user,
        f"  eval: [{{source: manifest, path: {user}/eval.jsonl, part: your recordings}}]\n",
    )
    prepared = prepare_data(named, log=lambda m: None)
    assert prepared.folder != first.folder  # the manifest changes with the part
    assert {u.part for u in prepared.utterances("eval")} == {"your recordings"}
    assert {u.part for u in prepared.utterances("train")} == {None}
    assert prepare_data(plain, log=lambda m: None).cached  # no part: the same data as before
