"""``source: transcriber``: turns of a two-channel mu-law SPHERE call, one clip per speaker.

Runs on a small hand-made ``.trs`` and SPHERE file; the real package's clips are checked
only where ``scripts/setup.sh`` has unpacked it."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import soundfile as sf

from workbench.data.candidates import PrepareContext, SourceError
from workbench.data.sources.transcriber import (
    clean_text,
    default_roots,
    prepare_transcriber,
    read_segments,
    read_sphere_ulaw,
)
from workbench.recipe import TranscriberSource

RATE = 8000
TRS = """<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE Trans SYSTEM "trans-14.dtd">
<Trans audio_filename="know" version="1">
<Speakers>
<Speaker id="spk1" name="speaker#1"/><Speaker id="spk2" name="speaker#2"/>
</Speakers>
<Episode><Section type="report" startTime="0" endTime="3">
<Turn startTime="0" endTime="0.2" speaker="spk2"><Sync time="0"/>((Yeah)).</Turn>
<Turn speaker="spk1" startTime="0.2" endTime="1.2"><Sync time="0.2"/>
{inhale} He's hilarious. {laugh}
</Turn>
<Turn speaker="spk1 spk2" startTime="1.2" endTime="2.2"><Sync time="1.2"/>
<Who nb="1"/>
((I-)) You know what, it's like-
<Who nb="2"/>
I know.
</Turn>
<Turn speaker="spk2" startTime="2.2" endTime="3"><Sync time="2.2"/>[noise] He's great.</Turn>
</Section></Episode></Trans>
"""


def ulaw_encode(x: np.ndarray) -> np.ndarray:
    """G.711 mu-law encoding of float samples in [-1, 1]."""
    pcm = np.clip((x * 32768).astype(np.int32), -32635, 32635)
    sign = np.where(pcm < 0, 0x80, 0)
    mag = np.abs(pcm) + 0x84
    exp = np.floor(np.log2(mag)).astype(np.int32) - 7
    mant = (mag >> (exp + 3)) & 0x0F
    return (~(sign | (exp << 4) | mant) & 0xFF).astype(np.uint8)


def write_call(folder, trs=TRS):
    """spk1 speaks on channel 1 (a 300 Hz tone), spk2 on channel 0 (a quiet 500 Hz tone)."""
    t = np.arange(3 * RATE) / RATE
    ch0 = 0.1 * np.sin(2 * np.pi * 500 * t) * ((t < 0.2) | ((t >= 1.2) & (t < 3)))
    ch1 = 0.5 * np.sin(2 * np.pi * 300 * t) * ((t >= 0.2) & (t < 2.2))
    samples = ulaw_encode(np.stack([ch0, ch1], axis=1).reshape(-1))
    header = (
        b"NIST_1A\n   1024\nsample_count -i 24000\nchannel_count -i 2\nsample_coding -s4 ulaw\n"
        b"sample_n_bytes -i 1\nsample_rate -i 8000\nend_head\n"
    )
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "know.sph.gz", "wb") as f:
        f.write(header.ljust(1024, b" ") + samples.tobytes())
    (folder / "know.trs").write_text(trs, encoding="iso-8859-1")
    return folder


def test_text_keeps_words_as_said():
    assert clean_text("{inhale} He's hilarious. {laugh}") == "He's hilarious."
    assert clean_text("((I-)) You know, it's like- {exhale}") == "I You know, it's like"
    assert clean_text('tells you "you don\'t know." [noise]') == "tells you you don't know."
    assert clean_text("{laugh}") == ""


def test_segments_split_a_shared_turn_by_speaker(tmp_path):
    segs = read_segments(write_call(tmp_path) / "know.trs")
    said = [(s.speaker, s.text, s.alone) for s in segs]
    assert said == [  # the 0.2 s "Yeah" is too short to score
        ("spk1", "He's hilarious.", True),
        ("spk1", "I You know what, it's like", False),
        ("spk2", "I know.", False),
        ("spk2", "He's great.", True),
    ]


def test_mu_law_sphere_decodes_to_the_signal(tmp_path):
    audio, rate = read_sphere_ulaw(write_call(tmp_path) / "know.sph.gz")
    assert rate == RATE and audio.shape == (3 * RATE, 2)
    t = np.arange(RATE // 2) / RATE
    expected = 0.5 * np.sin(2 * np.pi * 300 * (t + 0.5))
    assert np.abs(audio[RATE // 2 : RATE, 1] - expected).max() < 0.02


def test_not_sphere_is_a_clear_error(tmp_path):
    folder = write_call(tmp_path)
    with gzip.open(folder / "know.sph.gz", "wb") as f:
        f.write(b"RIFF" + bytes(2000))
    with pytest.raises(SourceError, match="expected a mu-law NIST SPHERE file"):
        read_sphere_ulaw(folder / "know.sph.gz")


def test_each_clip_is_cut_from_its_speakers_channel(tmp_path):
    folder = write_call(tmp_path / "examples")
    ctx = PrepareContext(staging=tmp_path / "staging", pack_dir=None, lexicon=None, language="en")
    rows = prepare_transcriber(TranscriberSource(), ctx, roots=[folder])
    got = [(c.speaker, c.text) for c in rows.candidates]
    assert got[0] == ("callfriend-know-spk1", "He's hilarious.")
    assert {c.collection for c in rows.candidates} == {"debian:transcriber/callfriend"}
    for cand in rows.candidates:
        audio, rate = sf.read(cand.audio)
        assert rate == RATE
        spectrum = np.abs(np.fft.rfft(audio))
        peak = np.fft.rfftfreq(len(audio), 1 / rate)[spectrum.argmax()]
        assert peak == pytest.approx(300 if cand.speaker.endswith("spk1") else 500, abs=5)
    limited = prepare_transcriber(TranscriberSource(limit=2), ctx, roots=[folder])
    assert len(limited.candidates) == 2


def test_a_missing_package_says_how_to_get_it(tmp_path):
    ctx = PrepareContext(staging=tmp_path, pack_dir=None, lexicon=None, language="en")
    with pytest.raises(SourceError, match=r"scripts/setup\.sh"):
        prepare_transcriber(TranscriberSource(), ctx, roots=[tmp_path / "nowhere"])


def test_the_real_conversation_where_unpacked(tmp_path):
    if not any((r / "know.trs").is_file() for r in default_roots()):
        pytest.skip("the Debian package transcriber is not unpacked (scripts/setup.sh)")
    ctx = PrepareContext(staging=tmp_path, pack_dir=None, lexicon=None, language="en")
    rows = prepare_transcriber(TranscriberSource(), ctx)
    assert len(rows.candidates) == 10
    assert {c.speaker for c in rows.candidates} == {"callfriend-know-spk1", "callfriend-know-spk2"}
    assert rows.candidates[4].text.startswith("I mean, you know, you really don't have to put up")
