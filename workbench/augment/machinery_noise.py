"""Procedural machinery noise: motor hum with harmonics, broadband rumble, random impacts."""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def machinery_noise(n: int, sample_rate: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """``n`` samples of a running machine; returns the noise and what was drawn."""
    t = np.arange(n) / sample_rate
    mains = float(rng.choice([50.0, 60.0]))
    # Hum: the mains frequency and its harmonics, with a little wow.
    hum = np.zeros(n)
    for k in range(1, 8):
        wobble = 1 + 0.002 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t)
        hum += (
            rng.uniform(0.3, 1.0)
            / k
            * np.sin(2 * np.pi * mains * k * wobble * t + rng.uniform(0, 6.3))
        )
    # Broadband rumble: white noise through a one-pole low-pass (brown-ish) filter.
    pole = rng.uniform(0.95, 0.995)
    rumble = lfilter([1 - pole], [1, -pole], rng.standard_normal(n))
    rumble /= np.std(rumble) + 1e-12
    # Impacts: decaying clicks at random moments (a press, a dropped part, a valve).
    impacts = np.zeros(n)
    count = int(rng.poisson(max(1.0, n / sample_rate * 0.8)))
    decay = np.exp(-np.arange(int(0.05 * sample_rate)) / (0.008 * sample_rate))
    for start in rng.integers(0, max(1, n), size=count):
        burst = rng.standard_normal(decay.size) * decay * rng.uniform(2, 6)
        end = min(n, start + decay.size)
        impacts[start:end] += burst[: end - start]
    mix = rng.uniform(0.5, 1.5) * hum / (np.std(hum) + 1e-12) + rumble + impacts
    return mix.astype(np.float32), {"mains_hz": mains, "impacts": count}
