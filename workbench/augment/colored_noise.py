"""White, pink and brown noise, by audiomentations' ``AddColorNoise`` at a fixed spectral slope."""

from __future__ import annotations

import numpy as np
from audiomentations import AddColorNoise

from workbench.augment.base import seeded_globals

# Spectral slope in dB per octave: 0 white, -3.01 pink (1/f), -6.02 brown (1/f^2).
F_DECAY = {"white": 0.0, "pink": -3.01, "brown": -6.02}


def add_colored_noise(
    samples: np.ndarray, sample_rate: int, kind: str, snr_db: float, seed: int
) -> np.ndarray:
    """``samples`` with ``kind`` noise at ``snr_db``; deterministic for ``seed``."""
    transform = AddColorNoise(
        min_snr_db=snr_db,
        max_snr_db=snr_db,
        min_f_decay=F_DECAY[kind],
        max_f_decay=F_DECAY[kind],
        p=1.0,
    )
    with seeded_globals(seed):
        return transform(samples=samples, sample_rate=sample_rate).astype(np.float32)
