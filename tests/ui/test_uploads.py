"""Uploads are untrusted: zip-slip, symlinks, absolute paths, oversize and non-audio files."""

from __future__ import annotations

import stat
import zipfile

import numpy as np
import pytest
import soundfile as sf

from workbench.ui.uploads import (
    UploadError,
    check_dataset,
    extract_zip,
    fresh_folder,
    import_files,
    safe_name,
)


def wav_bytes(tmp_path, name="clip.wav", seconds=1.0, rate=16000):
    path = tmp_path / name
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t), rate)
    return path.read_bytes()


def make_zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries:
            if isinstance(data, zipfile.ZipInfo):
                zf.writestr(data, name)
            else:
                zf.writestr(name, data)
    return path


@pytest.mark.parametrize(
    "evil", ["../escape.wav", "/etc/passwd.wav", "data/../../escape.wav", "C:/windows.wav"]
)
def test_an_archive_with_an_escaping_entry_is_refused_whole(tmp_path, evil):
    archive = make_zip(
        tmp_path / "up.zip",
        [("metadata.csv", "file_name,transcription\n"), (evil, wav_bytes(tmp_path))],
    )
    parent = tmp_path / "data"
    with pytest.raises(UploadError, match="outside"):
        extract_zip(archive, parent)
    assert not parent.exists() or not list(parent.iterdir())  # nothing left behind
    assert not (tmp_path / "escape.wav").exists()


def test_a_symlink_entry_is_refused(tmp_path):
    link = zipfile.ZipInfo("data/link.wav")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = make_zip(tmp_path / "up.zip", [("/etc/passwd", link)])
    with pytest.raises(UploadError, match="symbolic link"):
        extract_zip(archive, tmp_path / "data")


def test_a_good_archive_lands_in_a_fresh_folder_with_refusals_listed(tmp_path):
    clip = wav_bytes(tmp_path)
    archive = make_zip(
        tmp_path / "clinic.zip",
        [
            ("clinic/metadata.csv", "file_name,transcription\na.wav,hello there\nb.wav,bye\n"),
            ("clinic/a.wav", clip),
            ("clinic/b.wav", clip[:100]),  # truncated: refused at the door
            ("clinic/notes.exe", b"MZ..."),
            ("clinic/big.wav", wav_bytes(tmp_path, "big.wav", seconds=3.0)),
        ],
    )
    parent = tmp_path / "data"
    (parent / "clinic").mkdir(parents=True)  # taken: the upload must not land in it
    (parent / "clinic" / "mine.txt").write_text("keep")
    result = extract_zip(archive, parent, max_file_bytes=len(clip) + 100)
    assert result.folder == parent / "clinic-2"
    assert (parent / "clinic" / "mine.txt").read_text() == "keep"
    refused = " ".join(result.refused)
    assert "notes.exe: not an audio file" in refused and "big.wav" in refused
    assert "clinic/b.wav: truncated" in refused
    assert not (result.folder / "b.wav").exists()
    check = check_dataset(result.folder)
    assert check.n == 1 and check.samples[0][1] == "hello there"
    assert any("b.wav" in p for p in check.problems)  # its metadata row has no file


def test_not_a_zip_is_refused(tmp_path):
    bad = tmp_path / "up.zip"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(UploadError, match="not a zip"):
        extract_zip(bad, tmp_path / "data")


def test_loose_files_and_a_csv_become_an_audiofolder(tmp_path):
    up = tmp_path / "upload"
    up.mkdir()
    (up / "one.wav").write_bytes(wav_bytes(tmp_path, seconds=1.2))
    (up / "two.wav").write_bytes(wav_bytes(tmp_path, "x.wav", seconds=0.8, rate=22050))
    (up / "fake.wav").write_bytes(b"RIFF0000WAVEjunk")
    (up / "list.csv").write_text(
        "audio,text\none.wav,first clip\n../two.wav,second clip\nfake.wav,third\nnone.wav,x\n"
    )
    files = [up / "one.wav", up / "two.wav", up / "fake.wav", up / "list.csv"]
    result = import_files(files, tmp_path / "data", "my data")
    assert result.folder.name == "my-data"
    refused = " ".join(result.refused)
    assert "no uploaded audio file 'none.wav'" in refused
    assert "fake.wav: cannot decode audio" in refused and result.files == 2
    assert not (result.folder / "fake.wav").exists()
    check = check_dataset(result.folder)
    assert check.n == 2 and not check.problems
    assert check.hours == pytest.approx(2.0 / 3600, rel=0.05)


def test_files_without_one_csv_are_refused(tmp_path):
    (tmp_path / "a.wav").write_bytes(wav_bytes(tmp_path))
    with pytest.raises(UploadError, match="one CSV"):
        import_files([tmp_path / "a.wav"], tmp_path / "data")
    bad = tmp_path / "t.csv"
    bad.write_text("name,words\na.wav,hi\n")
    with pytest.raises(UploadError, match="expected a column"):
        import_files([tmp_path / "a.wav", bad], tmp_path / "data")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("my clip (1).wav", "my-clip-1-.wav"),
        ("..", "upload"),
        ("a\\b\\c.wav", "c.wav"),
    ],
)
def test_safe_name(name, expected):
    assert safe_name(name) == expected


def test_fresh_folder_never_reuses_a_name(tmp_path):
    first = fresh_folder(tmp_path, "x")
    second = fresh_folder(tmp_path, "x")
    assert first != second and first.is_dir() and second.is_dir()
