"""Telephone channel: 8 kHz, 300–3400 Hz band, optionally G.711-like mu-law quantization."""

from __future__ import annotations

import numpy as np
import soxr
from scipy.signal import butter, sosfilt

from workbench.augment.base import Params, Transform
from workbench.augment.checks import raise_first, telephone_problems

PHONE_RATE = 8000
BAND_HZ = (300.0, 3400.0)
MU = 255.0


def mu_law_roundtrip(x: np.ndarray) -> np.ndarray:
    """Compress, quantize to 8 bits and expand, as a G.711 mu-law codec does."""
    peak = np.abs(x).max()
    if peak == 0:
        return x
    y = x / peak
    compressed = np.sign(y) * np.log1p(MU * np.abs(y)) / np.log1p(MU)
    quantized = np.round((compressed + 1) * 127.5) / 127.5 - 1
    expanded = np.sign(quantized) * ((1 + MU) ** np.abs(quantized) - 1) / MU
    return (expanded * peak).astype(np.float32)


class TelephoneBand(Transform):
    name = "telephone"

    def __init__(self, p: float = 0.2, codec: bool = True) -> None:
        raise_first(telephone_problems(p))
        super().__init__(p)
        self.codec = codec

    def apply(
        self, samples: np.ndarray, sample_rate: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, Params]:
        narrow = soxr.resample(samples, sample_rate, PHONE_RATE, quality="HQ")
        sos = butter(4, BAND_HZ, btype="band", fs=PHONE_RATE, output="sos")
        narrow = sosfilt(sos, narrow).astype(np.float32)
        if self.codec:
            narrow = mu_law_roundtrip(narrow)
        wide = soxr.resample(narrow, PHONE_RATE, sample_rate, quality="HQ").astype(np.float32)
        if wide.size >= samples.size:
            wide = wide[: samples.size]
        else:
            wide = np.pad(wide, (0, samples.size - wide.size))
        return wide, {"telephone": True, "codec": "mu-law" if self.codec else None}
