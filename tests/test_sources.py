"""Each data source reads its form into candidate rows, and refuses what it must."""

from __future__ import annotations

import json

import datasets
import pytest
from audio_files import tone

from workbench.data.candidates import PrepareContext, SourceError
from workbench.data.sources import PREPARERS
from workbench.data.sources.manifest import manifest_kind
from workbench.recipe import (
    AsteriskSource,
    AudioFolderSource,
    CsvSource,
    DiskDatasetSource,
    ManifestSource,
    PocketsphinxSource,
)


@pytest.fixture
def ctx(tmp_path):
    return PrepareContext(staging=tmp_path / "staging", pack_dir=None, lexicon=None, language=None)


def _audiofolder(folder, kind="csv"):
    tone(folder / "a.wav", 300)
    tone(folder / "sub" / "b.wav", 400)
    rows = [
        {"file_name": "a.wav", "transcription": "first clip", "speaker_id": "s1"},
        {"file_name": "sub/b.wav", "transcription": "second clip", "speaker_id": "s2"},
        {"file_name": "../../etc/passwd", "transcription": "escape"},
        {"file_name": "", "transcription": "no file"},
    ]
    if kind == "csv":
        lines = ["file_name,transcription,speaker_id"]
        lines += [f"{r['file_name']},{r['transcription']},{r.get('speaker_id', '')}" for r in rows]
        (folder / "metadata.csv").write_text("\n".join(lines) + "\n")
    else:
        (folder / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n{bad\n")
    return folder


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_audiofolder(tmp_path, ctx, kind):
    folder = _audiofolder(tmp_path / "af", kind)
    rows = PREPARERS["audiofolder"](AudioFolderSource(path=str(folder)), ctx)
    assert [(c.text, c.speaker) for c in rows.candidates] == [
        ("first clip", "s1"),
        ("second clip", "s2"),
    ]
    assert rows.candidates[1].audio == (folder / "sub" / "b.wav").resolve()
    reasons = [p.reason for p in rows.problems]
    assert any("points outside" in r for r in reasons)
    assert "missing file_name" in reasons
    if kind == "jsonl":
        assert any("not valid JSON" in r for r in reasons)
    meta = "metadata.csv" if kind == "csv" else "metadata.jsonl"
    assert all(p.origin.startswith(str(folder / meta) + ":") for p in rows.problems)


def test_csv_table_and_missing_columns(tmp_path, ctx):
    tone(tmp_path / "clips" / "x.wav", 500)
    table = tmp_path / "data.csv"
    table.write_text("path,sentence\nclips/x.wav,hello there\n,no audio\n")
    rows = PREPARERS["csv"](
        CsvSource(path=str(table), audio_column="path", text_column="sentence"), ctx
    )
    assert [(c.audio, c.text) for c in rows.candidates] == [
        (tmp_path / "clips" / "x.wav", "hello there")
    ]
    assert [str(p) for p in rows.problems] == [f"{table}:3: empty 'path'"]
    # path and sentence are recognised without naming them
    assert len(PREPARERS["csv"](CsvSource(path=str(table)), ctx).candidates) == 1
    table.write_text("recording,words\nclips/x.wav,hello there\n")
    with pytest.raises(SourceError, match=r"no audio column .* the header has \['recording'"):
        PREPARERS["csv"](CsvSource(path=str(table)), ctx)


def test_saved_dataset_with_embedded_and_linked_audio(tmp_path, ctx):
    wav = tone(tmp_path / "x.wav", 600)
    data = datasets.Dataset.from_dict(
        {
            "audio": [
                {"bytes": wav.read_bytes(), "path": "clip.wav"},
                {"bytes": None, "path": str(wav)},
            ],
            "text": ["embedded clip", "linked clip"],
        }
    ).cast_column("audio", datasets.Audio(decode=False))
    data.save_to_disk(tmp_path / "ds")
    rows = PREPARERS["hf_disk"](DiskDatasetSource(path=str(tmp_path / "ds")), ctx)
    assert [c.text for c in rows.candidates] == ["embedded clip", "linked clip"]
    for cand in rows.candidates:  # save_to_disk embeds linked files too
        assert cand.audio.read_bytes() == wav.read_bytes()
    assert rows.candidates[0].audio.is_relative_to(ctx.staging)


def test_manifest_source_recognises_every_form(tmp_path, ctx):
    folder = _audiofolder(tmp_path / "af")
    assert manifest_kind(folder) == "audiofolder"
    rows = PREPARERS["manifest"](ManifestSource(path=str(folder)), ctx)
    assert len(rows.candidates) == 2
    tone(tmp_path / "c.wav", 700)
    (tmp_path / "t.csv").write_text("audio,text\nc.wav,from csv\n")
    rows = PREPARERS["manifest"](ManifestSource(path=str(tmp_path / "t.csv")), ctx)
    assert [c.text for c in rows.candidates] == ["from csv"]
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text(
        '{"id": "u1", "audio": "c.wav", "text": "from jsonl", "speaker": "s"}\n'
        '{"id": "u2", "audio": "c.wav"}\n[1, 2]\nnot json\n'
    )
    rows = PREPARERS["manifest"](ManifestSource(path=str(jsonl)), ctx)
    assert [(c.id, c.text, c.speaker) for c in rows.candidates] == [("u1", "from jsonl", "s")]
    assert [str(p) for p in rows.problems] == [
        f"{jsonl}:2: missing 'text'",
        f"{jsonl}:3: expected a JSON object, got list",
        f"{jsonl}:4: not valid JSON (Expecting value)",
    ]


def test_pocketsphinx_package(ctx):
    rows = PREPARERS["pocketsphinx"](PocketsphinxSource(), ctx)
    assert len(rows.candidates) == 10
    assert all(c.audio.is_file() for c in rows.candidates)
    texts = [c.text for c in rows.candidates]
    assert "he was not an ill disposed young man" in texts
    assert any(t.startswith("and Mr. john dashwood") for t in texts)


def test_asterisk_package_sample_is_seeded(ctx):
    full = PREPARERS["asterisk"](AsteriskSource(min_words=4), ctx).candidates
    assert len(full) > 200
    assert all(len(c.text.split()) >= 4 and not c.text.startswith(("[", "(")) for c in full)
    a = PREPARERS["asterisk"](AsteriskSource(limit=20, seed=3), ctx).candidates
    b = PREPARERS["asterisk"](AsteriskSource(limit=20, seed=3), ctx).candidates
    c = PREPARERS["asterisk"](AsteriskSource(limit=20, seed=4), ctx).candidates
    assert [x.id for x in a] == [x.id for x in b] != [x.id for x in c]


def test_missing_debian_package_names_the_install(tmp_path, ctx):
    from workbench.data.sources.pocketsphinx import prepare_pocketsphinx

    with pytest.raises(SourceError, match="apt-get install pocketsphinx-testdata"):
        prepare_pocketsphinx(PocketsphinxSource(), ctx, root=tmp_path)
