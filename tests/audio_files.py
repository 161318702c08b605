"""Test helper: small audio files of known content (distinct tones, so no two are equal)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def tone(
    path: Path,
    freq: float = 440.0,
    seconds: float = 1.0,
    rate: int = 16000,
    channels: int = 1,
    **kw,
) -> Path:
    t = np.arange(int(rate * seconds)) / rate
    mono = 0.3 * np.sin(2 * np.pi * freq * t)
    data = np.stack([mono] * channels, axis=1) if channels > 1 else mono
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, rate, **kw)
    return path
