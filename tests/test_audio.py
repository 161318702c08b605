"""Reading audio: formats, rates and channels in; 16 kHz mono float32 out; clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from workbench.audio import SAMPLE_RATE, AudioError, load_audio


def _tone(rate: int, seconds: float = 0.5, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    mono = 0.3 * np.sin(2 * np.pi * 440 * t)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


@pytest.mark.parametrize(
    ("suffix", "fmt", "rate", "channels"),
    [
        (".wav", "WAV", 16000, 1),
        (".wav", "WAV", 44100, 2),
        (".flac", "FLAC", 48000, 1),
        (".ogg", "OGG", 22050, 2),
        (".mp3", "MP3", 44100, 2),
        (".wav", "WAV", 96000, 6),
    ],
)
def test_formats_rates_and_channels(tmp_path, suffix, fmt, rate, channels):
    path = tmp_path / f"clip{suffix}"
    sf.write(path, _tone(rate, channels=channels), rate, format=fmt)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - SAMPLE_RATE * 0.5) < SAMPLE_RATE * 0.06  # mp3 adds codec padding
    assert 0.2 < np.abs(audio).max() < 0.4  # the tone survives resampling and downmix


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunk"), "cannot decode"),
        (lambda p: p.write_bytes(np.random.default_rng(0).bytes(4000)), "cannot decode"),
        (lambda p: p.mkdir(), "not a file"),
        (lambda p: None, "no such file"),
        (
            lambda p: sf.write(p, np.array([0.1, np.nan, 0.2], "f4"), 16000, subtype="FLOAT"),
            "NaN or infinite",
        ),
        (lambda p: sf.write(p, np.zeros((0,), dtype=np.float32), 16000), "no audio samples"),
    ],
)
def test_bad_files_name_the_file_and_reason(tmp_path, make, reason):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert str(err.value).startswith(f"{path}: ")
    assert reason in str(err.value)
    assert "\n" not in str(err.value)


def test_wav_cut_inside_its_header_is_refused(tmp_path):
    path = tmp_path / "cut.wav"
    sf.write(path, _tone(16000, 1.0), 16000)
    path.write_bytes(path.read_bytes()[:20])  # header cut mid-way
    with pytest.raises(AudioError, match=r"cut\.wav: cannot decode"):
        load_audio(path)
