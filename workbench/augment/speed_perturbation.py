"""Speed perturbation: resampling that changes tempo and pitch together (Kaldi style).

Playing a clip ``rate`` times faster makes it ``1/rate`` as long and raises its pitch by the
same factor, as Kaldi's and Lhotse's speed perturbation do. (audiomentations' TimeStretch
keeps the pitch and, by default, the length: it is not this.) Labels are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import soxr

from workbench.augment.base import Params, Transform
from workbench.augment.checks import raise_first, speed_problems


class SpeedPerturbation(Transform):
    name = "speed"

    def __init__(
        self,
        min_rate: float = 0.8,
        max_rate: float = 1.2,
        rates: Sequence[float] | None = None,
        p: float = 0.5,
    ) -> None:
        raise_first(speed_problems(min_rate, max_rate, rates, p))
        super().__init__(p)
        self.min_rate, self.max_rate = min_rate, max_rate
        self.rates = list(rates) if rates is not None else None

    def apply(
        self, samples: np.ndarray, sample_rate: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, Params]:
        if self.rates is not None:
            rate = float(self.rates[int(rng.integers(len(self.rates)))])
        else:
            rate = float(rng.uniform(self.min_rate, self.max_rate))
        if rate == 1.0 or samples.size < 2:
            return samples, {"speed_rate": rate}
        # Read as if recorded at rate * sample_rate, then resampled to sample_rate.
        out = soxr.resample(samples, sample_rate * rate, sample_rate, quality="HQ")
        return out.astype(np.float32), {"speed_rate": round(rate, 4)}
