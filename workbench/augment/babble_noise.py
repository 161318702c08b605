"""Babble: several other utterances of the training set talking at once."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from workbench.augment.base import fit_length

# Draws the audio of a random other utterance (16 kHz mono) from the training set.
ClipSource = Callable[[np.random.Generator], np.ndarray]


def babble_noise(
    n: int, clips: ClipSource, rng: np.random.Generator, min_talkers: int = 3, max_talkers: int = 6
) -> tuple[np.ndarray, dict]:
    """``n`` samples of ``min_talkers``..``max_talkers`` voices, each at equal power."""
    talkers = int(rng.integers(min_talkers, max_talkers + 1))
    mix = np.zeros(n, np.float64)
    for _ in range(talkers):
        clip = fit_length(clips(rng), n, rng).astype(np.float64)
        level = np.sqrt(np.mean(clip**2)) + 1e-12
        mix += clip / level
    return mix.astype(np.float32), {"talkers": talkers}
