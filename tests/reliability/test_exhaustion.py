"""Small hostile files must not exhaust the machine (issue 19, items 5, 6 and 7).

- A 710 KB FLAC holding 3.9 hours of silence: refused from its header by every door with a
  shorter limit, while memory stays small; a FLAC whose header does not tell its length is
  refused while decoding, block by block. A 192 kHz file costs the memory of its 16 kHz
  output, not 12 times that.
- A 765 KB zip of five 150 MB silent WAVs: refused from the archive's directory, nothing left
  in the workspace; the expansion of an archive and the bytes an import keeps are capped.
- Devices, FIFOs and sockets as data sources, manifests, lexicons, noise folders: refused by
  every reader and by ``recipe validate``; the data fingerprint never reads them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from workbench.audio import AudioError, AudioTooLong, load_audio

pytestmark = pytest.mark.reliability
ROOT = Path(__file__).resolve().parents[2]
MB = 1024**2


def silent_flac(path: Path, seconds: float, rate: int = 16000) -> Path:
    """A FLAC of digital silence, written block by block (silence packs to a few bytes)."""
    total, block = int(seconds * rate), np.zeros(rate * 600, np.int16)
    with sf.SoundFile(path, "w", rate, 1, format="FLAC", subtype="PCM_16") as f:
        written = 0
        while written < total:
            n = min(block.size, total - written)
            f.write(block[:n])
            written += n
    return path


def without_length(path: Path, out: Path) -> Path:
    """The same FLAC with STREAMINFO's total-samples field set to 0 ("unknown")."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC"
    info = 8  # "fLaC" and the metadata block header
    # total samples: the low 4 bits of byte 13 and bytes 14..17 of STREAMINFO
    data[info + 13] &= 0xF0
    data[info + 14 : info + 18] = b"\0\0\0\0"
    out.write_bytes(bytes(data))
    return out


@pytest.fixture(scope="session")
def hostile_flac(tmp_path_factory) -> Path:
    path = silent_flac(tmp_path_factory.mktemp("hostile") / "silence.flac", 3.9 * 3600)
    assert path.stat().st_size < 1 * MB
    return path


def peak_bytes(fn, *args, **kwargs) -> tuple[object, int]:
    """(result or exception, peak traced bytes) of a call; numpy's buffers are traced."""
    tracemalloc.start()
    try:
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- item 5: audio size and duration -------------------------------------------------------


def test_a_small_flac_of_hours_of_silence_is_refused_cheaply(hostile_flac):
    start = time.perf_counter()
    result, peak = peak_bytes(load_audio, hostile_flac, max_seconds=120)
    elapsed = time.perf_counter() - start
    assert isinstance(result, AudioTooLong), result
    assert "3.9 hours by its header" in str(result)
    print(f"\n3.9 h FLAC (710 KB): refused in {elapsed:.2f} s, peak {peak / MB:.1f} MB")
    assert peak < 16 * MB and elapsed < 5


def test_a_flac_without_its_length_is_refused_while_decoding(hostile_flac, tmp_path):
    blind = without_length(hostile_flac, tmp_path / "blind.flac")
    assert sf.info(str(blind)).frames in (0, 2**63 - 1) or sf.info(str(blind)).frames > 0
    start = time.perf_counter()
    result, peak = peak_bytes(load_audio, blind, max_seconds=120)
    elapsed = time.perf_counter() - start
    assert isinstance(result, AudioError), result
    print(f"\nlength-less FLAC: refused in {elapsed:.2f} s, peak {peak / MB:.1f} MB")
    assert peak < 16 * MB and elapsed < 30


def test_a_192khz_file_costs_the_memory_of_its_16khz_output(tmp_path):
    path = silent_flac(tmp_path / "hi-rate.flac", 300, rate=192_000)
    audio, peak = peak_bytes(load_audio, path)
    assert isinstance(audio, np.ndarray) and audio.size == 300 * 16000
    output = audio.nbytes  # 19 MB; at the file's own rate it would be 230 MB
    print(f"\n5 min at 192 kHz: output {output / MB:.0f} MB, peak {peak / MB:.0f} MB")
    assert peak < 2.5 * output


def test_the_four_hour_limit_counts_seconds(tmp_path):
    path = silent_flac(tmp_path / "ten.flac", 10, rate=48_000)
    with pytest.raises(AudioTooLong, match="10 s by its header"):
        load_audio(path, max_seconds=5)
    head = load_audio(path, max_seconds=5, truncate=True)
    assert head.size == 5 * 16000


def test_uploads_refuse_it_at_the_door_without_holding_it(hostile_flac, tmp_path):
    from workbench.ui.uploads import import_files

    table = tmp_path / "list.csv"
    table.write_text(f"file_name,text\n{hostile_flac.name},silence\n")
    parent = tmp_path / "data"
    result, peak = peak_bytes(import_files, [hostile_flac, table], parent)
    assert not isinstance(result, Exception), result
    assert result.folder is None and result.files == 0
    assert any("by its header" in r for r in result.refused), result.refused
    assert not parent.exists() or not any(parent.rglob("*"))
    assert peak < 16 * MB


# --- item 6: archives, uploads, what an import keeps ----------------------------------------


def silent_wav_zip(path: Path, count: int, megabytes: int) -> Path:
    """A zip of ``count`` silent 16 kHz WAVs of ``megabytes`` each (deflated to KBs)."""
    frames = megabytes * MB // 2
    header = bytearray(44)
    header[0:4], header[8:16] = b"RIFF", b"WAVEfmt "
    header[4:8] = (36 + frames * 2).to_bytes(4, "little")
    header[16:20] = (16).to_bytes(4, "little")
    header[20:22], header[22:24] = (1).to_bytes(2, "little"), (1).to_bytes(2, "little")
    header[24:28], header[28:32] = (16000).to_bytes(4, "little"), (32000).to_bytes(4, "little")
    header[32:34], header[34:36] = (2).to_bytes(2, "little"), (16).to_bytes(2, "little")
    header[36:40], header[40:44] = b"data", (frames * 2).to_bytes(4, "little")
    zeros = bytes(MB)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr(
            "clips/metadata.csv",
            "file_name,transcription\n" + "".join(f"s{i}.wav,silence {i}\n" for i in range(count)),
        )
        for i in range(count):
            with zf.open(f"clips/s{i}.wav", "w", force_zip64=True) as entry:
                entry.write(bytes(header))
                for _ in range(megabytes):
                    entry.write(zeros)
    return path


@pytest.fixture(scope="session")
def zip_bomb(tmp_path_factory) -> Path:
    path = silent_wav_zip(tmp_path_factory.mktemp("bomb") / "bomb.zip", 5, 150)
    assert path.stat().st_size < 4 * MB
    return path


def test_a_zip_of_silent_wavs_leaves_nothing_behind(zip_bomb, tmp_path):
    from workbench.ui.uploads import extract_zip

    parent = tmp_path / "data"
    start = time.perf_counter()
    result, peak = peak_bytes(extract_zip, zip_bomb, parent)
    elapsed = time.perf_counter() - start
    assert not isinstance(result, Exception), result
    assert result.folder is None and result.files == 0
    kept = sum(p.stat().st_size for p in parent.rglob("*") if p.is_file())
    print(f"\nzip of 5 x 150 MB silent WAVs: {kept} bytes kept, {elapsed:.1f} s")
    assert kept == 0 and not any(parent.iterdir())
    assert peak < 32 * MB


def test_small_silent_wavs_too_long_for_training_are_not_kept(tmp_path):
    """Under the size limit, but far over a training clip's 30 s: refused from the header
    once unpacked, deleted, and the empty import removed."""
    from workbench.ui.uploads import extract_zip

    archive = silent_wav_zip(tmp_path / "long.zip", 3, 20)  # 20 MB: 11 minutes each
    parent = tmp_path / "data"
    result = extract_zip(archive, parent)
    assert result.folder is None
    assert sum("by its header" in r for r in result.refused) == 3, result.refused
    assert not any(p.is_file() for p in parent.rglob("*"))


def test_archive_expansion_and_kept_bytes_are_capped(tmp_path):
    from workbench.ui.uploads import UploadError, extract_zip, import_files

    clip = tmp_path / "clip.wav"
    tone = 0.3 * np.sin(np.arange(16000) / 16000 * 2 * np.pi * 220)
    sf.write(clip, tone, 16000)
    size = clip.stat().st_size
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(6):
            zf.write(clip, f"c{i}.wav")
    parent = tmp_path / "data"
    with pytest.raises(UploadError, match="unpacked"):
        extract_zip(archive, parent, max_total_bytes=3 * size)
    assert not parent.exists() or not any(parent.rglob("*"))
    result = extract_zip(archive, parent, max_kept_bytes=2 * size + 10)
    assert result.files == 2 and sum("the limit is" in r for r in result.refused) == 4
    files = [clip] + [tmp_path / f"copy{i}.wav" for i in range(3)]
    for f in files[1:]:
        f.write_bytes(clip.read_bytes() + b"")
    table = tmp_path / "t.csv"
    table.write_text("file_name,text\n" + "".join(f"{f.name},x\n" for f in files))
    result = import_files([*files, table], tmp_path / "loose", max_kept_bytes=size + 10)
    assert result.files == 1 and sum("the limit is" in r for r in result.refused) == 3


def test_the_ui_caps_uploads_and_cleans_up_consumed_ones(tmp_path, monkeypatch):
    from workbench.ui import uploads
    from workbench.ui.app import launch_options, max_upload_bytes
    from workbench.ui.workspace import Workspace

    assert max_upload_bytes() == 512 * MB
    monkeypatch.setenv("WORKBENCH_MAX_UPLOAD_MB", "10")
    ws = Workspace.open(tmp_path / "ws", tmp_path / "runs")
    assert launch_options(ws)["max_file_size"] == 10 * MB
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    held = tmp_path / "gradio" / "abc123" / "clip.wav"
    held.parent.mkdir(parents=True)
    held.write_bytes(b"x")
    mine = tmp_path / "mine.wav"
    mine.write_bytes(b"y")
    assert uploads.discard_upload(mine, 0) is False and mine.exists()  # not Gradio's: kept
    uploads.hold_uploads([held, held])  # two actions consume the same upload
    assert uploads.discard_upload(held, 0) is True
    assert held.exists()  # the other action still holds it
    assert uploads.discard_upload(held, 0) is True
    assert not held.exists() and not held.parent.exists()


# --- item 7: special files -----------------------------------------------------------------


def with_timeout(fn, seconds: float):
    """fn() in a thread; (finished, result or exception)."""
    box: list = []

    def run():
        try:
            box.append(fn())
        except BaseException as exc:
            box.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return (not thread.is_alive()), (box[0] if box else None)


@pytest.fixture
def specials(tmp_path):
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock.jsonl"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    yield {"fifo": fifo, "socket": sock_path, "device": Path("/dev/zero")}
    sock.close()
    # a FIFO opened for reading by a hung reader is released by opening it for writing
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    except OSError:
        pass


def test_the_fingerprint_and_readers_refuse_special_files(specials, tmp_path):
    from workbench.data.manifest import read_manifest
    from workbench.data.sources._files import file_digest
    from workbench.fileio import SpecialFileError
    from workbench.lexicon import LexiconError, load_lexicon

    for kind, path in specials.items():
        for name, fn, error in (
            ("fingerprint", lambda p=path: file_digest(p), SpecialFileError),
            ("manifest", lambda p=path: read_manifest(p), SpecialFileError),
            ("lexicon", lambda p=path: load_lexicon(p), LexiconError),
        ):
            finished, result = with_timeout(fn, 10)
            assert finished, f"{name} hung on a {kind}"
            assert isinstance(result, error), (name, kind, result)
            assert "not a regular file" in str(result), (name, kind, result)
    with pytest.raises(AudioError, match="not a regular file"):
        load_audio(specials["fifo"])


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The workbench CLI in a subprocess, its memory capped at 2 GB (a reader of /dev/zero
    must fail on the cap, not take the machine)."""
    import resource

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        preexec_fn=cap,
    )


def test_recipe_validate_refuses_special_files(specials, tmp_path):
    noise = tmp_path / "noise"
    noise.mkdir()
    os.mkfifo(noise / "hum.wav")
    lexicon_fifo = tmp_path / "terms.tsv"
    os.mkfifo(lexicon_fifo)
    cases = {
        "manifest fifo": f"data:\n  train: [{{source: manifest, path: {specials['fifo']}}}]\n",
        "manifest /dev/zero": "data:\n  train: [{source: manifest, path: /dev/zero}]\n",
        "csv socket": f"data:\n  train: [{{source: csv, path: {specials['socket']}}}]\n",
        "lexicon fifo": f"lexicon: {{path: {lexicon_fifo}}}\n",
        "noise folder with a fifo": f"augment:\n  noise: {{kinds: [folder], folder: {noise}}}\n",
    }
    for name, body in cases.items():
        recipe = tmp_path / f"{name.replace(' ', '-').replace('/', '')}.yaml"
        recipe.write_text(f"name: special\nbase_model: bundled:tiny.en\n{body}")
        try:
            done = cli("recipe", "validate", str(recipe), timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name}: recipe validate hung")
        said = done.stdout + done.stderr
        assert done.returncode == 2, (name, said)
        assert "not a regular file" in said or "special files" in said, (name, said)
        assert "Traceback" not in said, (name, said)
    # The recipe file itself as a FIFO: refused, not waited on.
    fifo_recipe = tmp_path / "recipe.yaml"
    os.mkfifo(fifo_recipe)
    try:
        done = cli("recipe", "validate", str(fifo_recipe), timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("recipe validate hung on a FIFO recipe")
    finally:
        with contextlib.suppress(OSError):
            os.close(os.open(fifo_recipe, os.O_WRONLY | os.O_NONBLOCK))
    assert done.returncode == 2 and "not a regular file" in done.stdout + done.stderr
