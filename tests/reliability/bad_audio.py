"""Hand-made bad (and merely odd) audio files, the same set for every entry point."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.audio_files import tone


@dataclass(frozen=True)
class Case:
    """One file; ``usable``: a valid file every entry point must accept (maybe slowly)."""

    name: str
    path: Path
    usable: bool


def _wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    data = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + b"data" + struct.pack("<I", len(data)) + data


def bad_audio(folder: Path, long_minutes: float = 40.0) -> list[Case]:
    """Write every case into ``folder``; returns them, unusable ones first."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    one_second = 0.3 * np.sin(2 * np.pi * 330 * np.arange(16000) / 16000)
    cases: list[Case] = []

    def add(name: str, usable: bool = False) -> Path:
        cases.append(Case(name, folder / name, usable))
        return folder / name

    add("truncated.wav").write_bytes(_wav_bytes(one_second)[: 44 + 9000])
    add("zero-length.wav").write_bytes(b"")
    add("wrong-header.wav").write_bytes(b"RIFX\x00\x00\x00\x00WAVEjunk" + rng.bytes(4000))
    add("text-named.flac").write_text("this is not audio\n")
    add("header-only.wav").write_bytes(_wav_bytes(np.zeros(0)))
    nan = one_second.astype(np.float32).copy()
    nan[100] = np.nan
    sf.write(add("nan.wav"), nan, 16000, subtype="FLOAT")
    inf = one_second.astype(np.float32).copy()
    inf[5] = np.inf
    sf.write(add("inf.wav"), inf, 16000, subtype="FLOAT")
    add("garbage.mp3").write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + rng.bytes(20000))
    add("folder.wav").mkdir()
    add("one-sample-96k.wav").write_bytes(_wav_bytes(np.array([0.1]), rate=96000))
    # Valid, if unusual: every entry point must take these (or refuse them by rule, e.g. a
    # training clip over 30 s), never crash on them.
    add("one-sample.wav", usable=True).write_bytes(_wav_bytes(np.array([0.1])))
    tone(add("96k-6ch.wav", usable=True), 523.0, seconds=1.5, rate=96000, channels=6)
    long = add("40-minutes.wav", usable=True)
    with sf.SoundFile(long, "w", 16000, 1, subtype="PCM_16") as out:
        block = (0.01 * rng.standard_normal(16000 * 60)).astype(np.float32)
        for _ in range(int(long_minutes)):
            out.write(block)
    cases.sort(key=lambda c: c.usable)
    return cases
