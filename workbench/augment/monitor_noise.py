"""Procedural ward noise: patient-monitor beeps over ventilation hiss."""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, lfilter


def monitor_noise(n: int, sample_rate: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """``n`` samples of a ward: periodic beeps (a heart-rate tone) and high-passed air hiss."""
    t = np.arange(n) / sample_rate
    tone_hz = float(rng.uniform(800, 1200))
    bpm = float(rng.uniform(55, 110))
    period = 60.0 / bpm
    beep_len = 0.08
    gate = ((t + rng.uniform(0, period)) % period) < beep_len
    beeps = np.sin(2 * np.pi * tone_hz * t) * gate
    b, a = butter(2, 2000 / (sample_rate / 2), btype="high")
    hiss = lfilter(b, a, rng.standard_normal(n))
    hiss /= np.std(hiss) + 1e-12
    mix = rng.uniform(0.5, 2.0) * beeps + hiss
    return mix.astype(np.float32), {"beep_hz": round(tone_hz), "beep_bpm": round(bpm)}
