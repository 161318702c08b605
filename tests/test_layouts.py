"""The speech dataset layouts people already have, each prepared as it is, row by row.

Each fixture is a small copy of a layout (audio made here with numpy and soundfile): a
Hugging Face audiofolder, a CSV/TSV with other column names, a ``save_to_disk`` dataset, a
NeMo manifest, a Kaldi data directory with segments, a Common Voice release, LibriSpeech
folders. Each is prepared by its own source and by ``source: manifest`` (by its shape).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import datasets
import pytest
import soundfile as sf
from audio_files import tone

from workbench.data.candidates import PrepareContext, SourceError
from workbench.data.prepare import DataError, prepare_data
from workbench.data.sources import PREPARERS
from workbench.data.sources.manifest import manifest_kind
from workbench.recipe import HubDatasetSource, load_recipe


def rows_of(prepared, split="train"):
    return [(u.id, u.text, u.speaker, round(u.duration, 1)) for u in prepared.utterances(split)]


def prepare(tmp_path, source: str, name="r", extra=""):
    recipe = tmp_path / f"{name}.yaml"
    recipe.write_text(f"name: t\ndata:\n  eval_fraction: 0\n  train: [{source}]\n{extra}")
    return prepare_data(load_recipe(recipe), tmp_path / f"out-{name}", log=lambda m: None)


# --- the layouts: (explicit source, path for source: manifest, expected rows) ---------


def audiofolder(d):
    tone(d / "af" / "a.wav", 300, 1.0)
    tone(d / "af" / "sub" / "b.wav", 310, 1.5, rate=44100)
    (d / "af" / "metadata.csv").write_text(
        "file_name,transcription,speaker_id\na.wav,first clip,s1\nsub/b.wav,second clip,s2\n"
    )
    expected = [("a", "first clip", "s1", 1.0), ("b", "second clip", "s2", 1.5)]
    return "{source: audiofolder, path: af}", d / "af", expected


def csv_other_names(d):
    tone(d / "clips" / "x.wav", 320, 1.0)
    tone(d / "clips" / "y.wav", 330, 2.0)
    (d / "table.csv").write_text(
        'wav,transcript,client_id\nclips/x.wav,"hello, there",c1\nclips/y.wav,bye now,c2\n'
    )
    expected = [("x", "hello, there", "c1", 1.0), ("y", "bye now", "c2", 2.0)]
    return "{source: csv, path: table.csv}", d / "table.csv", expected


def tsv_table(d):
    tone(d / "clips" / "p.wav", 340, 1.0)
    tone(d / "clips" / "q.wav", 350, 1.2)
    (d / "table.tsv").write_text(
        'audio\ttext\tspeaker\nclips/p.wav\tsay "when"\tann\nclips/q.wav\tquoted\tbob\n'
    )
    expected = [("p", 'say "when"', "ann", 1.0), ("q", "quoted", "bob", 1.2)]
    return "{source: csv, path: table.tsv}", d / "table.tsv", expected


def hf_saved(d):
    one = tone(d / "src" / "one.wav", 360, 1.0)
    two = tone(d / "src" / "two.wav", 370, 1.4)
    data = datasets.Dataset.from_dict(
        {
            "audio": [{"bytes": p.read_bytes(), "path": p.name} for p in (one, two)],
            "transcription": ["saved one", "saved two"],
            "speaker_id": ["h1", "h2"],
            "id": ["u1", "u2"],
        }
    ).cast_column("audio", datasets.Audio(decode=False))
    data.save_to_disk(d / "ds")
    expected = [("u1", "saved one", "h1", 1.0), ("u2", "saved two", "h2", 1.4)]
    return "{source: hf_disk, path: ds}", d / "ds", expected


def nemo(d):
    tone(d / "clips" / "n.wav", 380, 1.0)
    tone(d / "long" / "meeting.wav", 390, 4.0)
    rows = [
        {"audio_filepath": "clips/n.wav", "text": "nemo row", "duration": 1.0},
        {
            "audio_filepath": "long/meeting.wav",
            "offset": 1.0,
            "duration": 1.5,
            "text": "cut from the meeting",
            "speaker": "chair",
        },
    ]
    (d / "train_manifest.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    expected = [
        ("n", "nemo row", None, 1.0),
        ("meeting-0001000", "cut from the meeting", "chair", 1.5),
    ]
    return "{source: nemo, path: train_manifest.json}", d / "train_manifest.json", expected


def kaldi(d):
    k = d / "data" / "train"
    tone(d / "rec" / "rec1.wav", 400, 4.0, rate=8000)
    tone(k / "audio" / "rec2.flac", 410, 3.0, format="FLAC")
    (k / "wav.scp").write_text(f"rec1 {d / 'rec' / 'rec1.wav'}\nrec2 audio/rec2.flac\n")
    (k / "segments").write_text("utt1 rec1 0.5 1.5\nutt2 rec1 2.0 3.7\nutt3 rec2 0.0 2.0\n")
    (k / "text").write_text("utt1 first cut\nutt2 second cut\nutt3 third cut\n")
    (k / "utt2spk").write_text("utt1 spkA\nutt2 spkA\nutt3 spkB\n")
    expected = [
        ("utt1", "first cut", "spkA", 1.0),
        ("utt2", "second cut", "spkA", 1.7),
        ("utt3", "third cut", "spkB", 2.0),
    ]
    return "{source: kaldi, path: data/train}", k, expected


def kaldi_without_segments(d):
    k = d / "kd"
    tone(k / "r1.wav", 420, 1.0)
    tone(k / "r2.wav", 430, 1.3)
    (k / "wav.scp").write_text("r1 r1.wav\nr2 r2.wav\n")
    (k / "text").write_text("r1 whole recording one\nr2 whole recording two\n")
    expected = [("r1", "whole recording one", None, 1.0), ("r2", "whole recording two", None, 1.3)]
    return "{source: kaldi, path: kd}", k, expected


def common_voice(d):
    cv = d / "cv" / "en"
    tone(cv / "clips" / "common_voice_en_1.mp3", 440, 2.0, rate=48000, format="MP3")
    tone(cv / "clips" / "common_voice_en_2.mp3", 450, 3.0, rate=48000, format="MP3")
    tone(cv / "clips" / "common_voice_en_3.mp3", 460, 1.0, rate=48000, format="MP3")
    head = "client_id\tpath\tsentence_id\tsentence\tup_votes\tdown_votes\tage\n"
    (cv / "train.tsv").write_text(
        head
        + 'abc\tcommon_voice_en_1.mp3\t1\tThe "quick" fox.\t2\t0\t\n'
        + "def\tcommon_voice_en_2.mp3\t2\tA second sentence.\t3\t0\tforties\n"
    )
    (cv / "dev.tsv").write_text(head + "ghi\tcommon_voice_en_3.mp3\t3\tDev sentence.\t2\t0\t\n")
    expected = [
        ("common_voice_en_1", 'The "quick" fox.', "abc", 2.0),
        ("common_voice_en_2", "A second sentence.", "def", 3.0),
    ]
    return "{source: common_voice, path: cv/en}", cv, expected


def librispeech(d):
    ls = d / "LibriSpeech" / "dev-clean"
    for spk, chapter, freq in (("19", "198", 470), ("26", "495", 480)):
        folder = ls / spk / chapter
        lines = []
        for n in range(2):
            utt = f"{spk}-{chapter}-{n:04d}"
            tone(folder / f"{utt}.flac", freq + 5 * n, 1.0 + 0.5 * n, format="FLAC")
            lines.append(f"{utt} SENTENCE {n} OF SPEAKER {spk}")
        (folder / f"{spk}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    expected = [
        (f"{s}-{c}-{n:04d}", f"SENTENCE {n} OF SPEAKER {s}", s, 1.0 + 0.5 * n)
        for s, c in (("19", "198"), ("26", "495"))
        for n in range(2)
    ]
    return "{source: librispeech, path: LibriSpeech}", d / "LibriSpeech", expected


LAYOUTS = [
    audiofolder,
    csv_other_names,
    tsv_table,
    hf_saved,
    nemo,
    kaldi,
    kaldi_without_segments,
    common_voice,
    librispeech,
]


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda f: f.__name__)
def test_each_layout_prepares_row_by_row(tmp_path, layout):
    source, path, expected = layout(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    got = prepare(tmp_path, source, "own")
    assert rows_of(got) == expected
    assert got.report["splits"]["train"]["dropped"] == 0
    by_shape = prepare(tmp_path, f"{{source: manifest, path: {path}}}", "shape")
    assert rows_of(by_shape) == expected
    for utt in got.utterances("train"):  # what training reads: 16 kHz mono
        assert sf.info(utt.audio).samplerate == 16000
    after = {p: p.read_bytes() for p in before}
    assert after == before, "the user's files were modified"


def test_manifest_kinds_by_shape(tmp_path):
    kinds = {}
    for layout in LAYOUTS:
        folder = tmp_path / layout.__name__
        folder.mkdir()
        kinds[layout.__name__] = manifest_kind(layout(folder)[1])
    assert kinds == {
        "audiofolder": "audiofolder",
        "csv_other_names": "csv",
        "tsv_table": "csv",
        "hf_saved": "hf_disk",
        "nemo": "nemo",
        "kaldi": "kaldi",
        "kaldi_without_segments": "kaldi",
        "common_voice": "common_voice",
        "librispeech": "librispeech",
    }
    assert manifest_kind(tmp_path / "common_voice" / "cv" / "en" / "dev.tsv") == "common_voice"


def test_columns_named_in_the_recipe(tmp_path):
    tone(tmp_path / "c" / "one.wav", 300)
    (tmp_path / "list.csv").write_text("recording,words,who\nc/one.wav,named columns,zoe\n")
    source = (
        "{source: csv, path: list.csv, audio_column: recording, text_column: words, "
        "speaker_column: who}"
    )
    assert rows_of(prepare(tmp_path, source)) == [("one", "named columns", "zoe", 1.0)]


def test_common_voice_split_and_librispeech_lowercase(tmp_path):
    common_voice(tmp_path)
    got = prepare(tmp_path, "{source: common_voice, path: cv/en, split: dev}", "dev")
    assert rows_of(got) == [("common_voice_en_3", "Dev sentence.", "ghi", 1.0)]
    with pytest.raises(DataError, match=r"no test.tsv for split 'test'; the folder has"):
        prepare(tmp_path, "{source: common_voice, path: cv/en, split: test}", "test")
    librispeech(tmp_path)
    got = prepare(tmp_path, "{source: librispeech, path: LibriSpeech, lowercase: true}", "ls")
    assert rows_of(got)[0][1] == "sentence 0 of speaker 19"


# --- the common mistakes, each with a sentence that says what to fix -------------------


def cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def test_wrong_column_names(tmp_path):
    tone(tmp_path / "clips" / "a.wav", 300)
    (tmp_path / "clips" / "metadata.csv").write_text("wavfile,words\na.wav,hello\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: t\ndata:\n  train: [{source: csv, path: clips/metadata.csv}]\n")
    result = cli("recipe", "validate", recipe, cwd=tmp_path)
    assert result.returncode == 2
    assert (
        f"r.yaml:3: data.train[0]: {tmp_path}/clips/metadata.csv:1: no audio column (looked for "
        "file_name, audio_filepath, path, audio, wav, audio_path, filename); no text column "
        "(looked for text, transcription, sentence, transcript, normalized_text); the header "
        "has ['wavfile', 'words']; set audio_column and text_column in the source"
    ) in result.stderr
    result = cli("data", "prepare", recipe, "--out", tmp_path / "o", cwd=tmp_path)
    assert result.returncode == 1
    assert "error: data.train[0]: " in result.stderr and "set audio_column" in result.stderr
    recipe.write_text(
        "name: t\ndata:\n  train: [{source: csv, path: clips/metadata.csv, "
        "audio_column: wav_file, text_column: words}]\n"
    )
    result = cli("recipe", "validate", recipe, cwd=tmp_path)
    assert "audio_column 'wav_file' is not a column; the header has ['wavfile', 'words']" in (
        result.stderr
    )


def test_missing_audio(tmp_path):
    (tmp_path / "m.csv").write_text("file_name,text\nclips/a.wav,one\nclips/b.wav,two\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: t\ndata:\n  train: [{source: csv, path: m.csv}]\n")
    result = cli("recipe", "validate", recipe, cwd=tmp_path)
    assert result.returncode == 2
    assert "data.train[0]: none of its first 2 row(s) can be used: " in result.stderr
    assert f"{tmp_path}/m.csv:2: {tmp_path}/clips/a.wav: no such file" in result.stderr
    result = cli("data", "prepare", recipe, "--out", tmp_path / "o", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: data.train ended empty: all 2 row(s) were dropped; audio paths are relative "
        "to the file that lists them (or absolute): check that they point at the clips. "
        f"The first problem: {tmp_path}/m.csv:2: {tmp_path}/clips/a.wav: no such file"
    )
    assert not (tmp_path / "o").exists()
    # The same check before training starts.
    result = cli("train", recipe, "--run-dir", tmp_path / "run", cwd=tmp_path)
    assert result.returncode == 1 and "error: data.train ended empty" in result.stderr


def test_piped_wav_scp(tmp_path):
    k = tmp_path / "kd"
    k.mkdir()
    (k / "wav.scp").write_text("r1 sox r1.sph -t wav - |\nr2 sph2pipe -f wav r2.sph |\n")
    (k / "text").write_text("r1 hello\nr2 there\n")
    ctx = PrepareContext(staging=tmp_path / "s", pack_dir=None, lexicon=None, language=None)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: t\ndata:\n  train: [{source: manifest, path: kd}]\n")
    expected = (
        f"{k}/wav.scp:1: 'r1' is a piped command ('sox r1.sph -t wav - |'), and 2 line(s) in "
        "all are; the workbench never runs commands from data files. Run the commands once to "
        "write WAV or FLAC files, and list those paths in wav.scp"
    )
    with pytest.raises(SourceError) as err:
        PREPARERS["kaldi"](load_recipe(recipe).data.train[0], ctx)
    assert str(err.value) == expected
    result = cli("recipe", "validate", recipe, cwd=tmp_path)
    assert result.returncode == 2 and expected in result.stderr
    (k / "wav.scp").write_text("r1 feats.ark:1234\n")
    with pytest.raises(DataError, match="points into a Kaldi archive"):
        prepare(tmp_path, "{source: kaldi, path: kd}")


def test_empty_split_the_recipe_asked_for(tmp_path):
    source, _, _ = audiofolder(tmp_path)
    (tmp_path / "eval.csv").write_text("file_name,text\n")
    with pytest.raises(DataError) as err:
        prepare(tmp_path, source, extra="  eval: [{source: csv, path: eval.csv}]\n")
    assert str(err.value) == (
        "data.eval ended empty: its sources gave no rows at all; point data.eval at a file or "
        "folder that lists utterances"
    )
    # The same clips for eval as for train: nothing left to train on.
    with pytest.raises(DataError, match=r"data.train ended empty: .*give each split clips"):
        prepare(tmp_path, source, "same", extra=f"  eval: [{source}]\n")
    # Every train sentence also in eval (other recordings): nothing left to train on.
    tone(tmp_path / "ev" / "a2.wav", 900)
    tone(tmp_path / "ev" / "b2.wav", 910)
    (tmp_path / "ev" / "metadata.csv").write_text(
        "file_name,transcription\na2.wav,first clip\nb2.wav,Second clip!\n"
    )
    with pytest.raises(DataError, match=r"data.train ended empty: .*every training sentence"):
        prepare(tmp_path, source, "text", extra="  eval: [{source: audiofolder, path: ev}]\n")


def test_kaldi_segment_past_the_end_is_dropped_with_its_times(tmp_path):
    _, k, _ = kaldi(tmp_path)
    (k / "segments").write_text("utt1 rec1 0.5 1.5\nutt2 rec1 9.0 10.0\nutt3 rec2 0.0 2.0\n")
    got = prepare(tmp_path, "{source: kaldi, path: data/train}")
    assert [r[0] for r in rows_of(got)] == ["utt1", "utt3"]
    assert got.report["splits"]["train"]["problems"] == [
        f"{k}/text:2: {tmp_path}/rec/rec1.wav: segment 9-10.0 s is past the end of the "
        "recording (4.00 s)"
    ]


# --- datasets by hub id -----------------------------------------------------------------


def test_hub_dataset_offline_is_a_clear_error_at_once(tmp_path, monkeypatch):
    from workbench.data.sources.hf_hub import prepare_hf_hub

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    ctx = PrepareContext(staging=tmp_path / "s", pack_dir=None, lexicon=None, language=None)
    spec = HubDatasetSource(id="someone/dictations")
    for env, reason in (
        ({"HF_HUB_OFFLINE": "1"}, "HF_HUB_OFFLINE is set"),
        (
            {"HF_ENDPOINT": "http://127.0.0.1:9"},
            "http://127.0.0.1:9 did not answer: ConnectionRefusedError",
        ),
    ):
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_ENDPOINT"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        start = time.monotonic()
        with pytest.raises(SourceError) as err:
            prepare_hf_hub(spec, ctx)
        assert time.monotonic() - start < 10
        assert str(err.value) == (
            "hub dataset someone/dictations (split 'train') is not in the local datasets cache "
            f"and the hub is not usable ({reason}); download it where the hub is reachable and "
            "save it with save_to_disk, then use source: hf_disk"
        )
    assert not datasets.config.HF_HUB_OFFLINE  # offline mode was only for that call


def test_hub_dataset_rows_when_the_hub_answers(tmp_path, monkeypatch):
    from workbench.data.sources import hf_hub

    wav = tone(tmp_path / "h.wav", 300)
    asked = {}

    def load_dataset(path, **kwargs):
        asked.update(kwargs, path=path)
        data = datasets.Dataset.from_dict(
            {"audio": [str(wav)], "sentence": ["from the hub"], "client_id": ["c9"]}
        )
        return data.cast_column("audio", datasets.Audio(decode=False))

    monkeypatch.setattr(hf_hub, "offline_reason", lambda: None)
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    ctx = PrepareContext(staging=tmp_path / "s", pack_dir=None, lexicon=None, language=None)
    spec = HubDatasetSource(id="org/cv-mini", config="en", split="validation", revision="v1")
    rows = hf_hub.prepare_hf_hub(spec, ctx)
    assert asked == {"path": "org/cv-mini", "name": "en", "split": "validation", "revision": "v1"}
    assert [(c.text, c.speaker) for c in rows.candidates] == [("from the hub", "c9")]
    assert rows.candidates[0].audio.read_bytes() == wav.read_bytes()
