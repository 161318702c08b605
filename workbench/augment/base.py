"""What every transform shares: the probability draw, seeded randomness, mixing at an SNR.

Transforms follow audiomentations' style: ranges as ``min_x``/``max_x`` with units, checked
in the constructor (``ValueError`` naming the argument). Unlike audiomentations they take an
explicit ``numpy.random.Generator`` and return the parameters they drew, so any augmented
sample can be reproduced and its parameters logged.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np

from workbench.augment.checks import probability_problems, raise_first

Params = dict[str, Any]


class Transform:
    """Applies itself with probability ``p``; ``apply`` does the work."""

    name = "transform"

    def __init__(self, p: float) -> None:
        raise_first(probability_problems(p))
        self.p = p

    def __call__(
        self, samples: np.ndarray, sample_rate: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, Params]:
        # Always draw, so that whether one transform applies never shifts another's numbers.
        if rng.random() >= self.p or samples.size == 0:
            return samples, {}
        return self.apply(samples, sample_rate, rng)

    def apply(
        self, samples: np.ndarray, sample_rate: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, Params]:
        raise NotImplementedError


@contextlib.contextmanager
def seeded_globals(seed: int) -> Iterator[None]:
    """Seed ``random`` and numpy's global RNG for an audiomentations call, then restore them."""
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float | None:
    """The SNR actually achieved: clean power over the power of what was added."""
    noise = power(noisy.astype(np.float64) - clean)
    signal = power(clean)
    if noise == 0 or signal == 0:
        return None
    return 10 * np.log10(signal / noise)


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, target_db: float) -> np.ndarray:
    """``clean`` plus ``noise`` scaled so that the clip's SNR is ``target_db``.

    A silent clip comes back unchanged (no SNR is defined for it).
    """
    signal, level = power(clean), power(noise)
    if signal == 0 or level == 0:
        return clean
    gain = np.sqrt(signal / (level * 10 ** (target_db / 10)))
    return (clean + gain * noise).astype(np.float32)


def fit_length(noise: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Loop or crop ``noise`` to ``n`` samples, starting at a random point."""
    if noise.size == 0:
        return np.zeros(n, np.float32)
    reps = int(np.ceil((n + noise.size) / noise.size))
    tiled = np.tile(noise, reps)
    start = int(rng.integers(0, noise.size))
    return tiled[start : start + n].astype(np.float32)
