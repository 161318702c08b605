"""Test clips: a speech-like signal (harmonic tone with a syllable rhythm), silence, a click."""

from __future__ import annotations

import numpy as np

SR = 16000


def speechlike(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.7 * t)
    voiced = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / SR) / k for k in range(1, 12))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2  # about four syllables a second
    x = voiced * envelope + 0.01 * rng.standard_normal(t.size)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


EDGE_CASES = {
    "silence": np.zeros(SR, np.float32),
    "one_sample": np.array([0.2], np.float32),
    "ten_ms": speechlike(0.01),
}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)
