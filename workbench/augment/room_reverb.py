"""Room reverberation: impulse responses simulated with pyroomacoustics, or the user's files.

Simulated rooms: ``small_office`` (RT60 0.3–0.5 s), ``ward`` (0.5–0.8 s) and ``factory_hall``
(1.2–2.0 s). A bank of responses per room is made once (seeded) and reused; the clip keeps
its length and loudness.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.signal import fftconvolve

from workbench.audio import load_audio
from workbench.augment.base import Params, Transform, power
from workbench.augment.checks import raise_first, reverb_problems

# name: (room size in metres, RT60 range in seconds)
ROOM_SHAPES = {
    "small_office": ((4.0, 3.5, 2.7), (0.3, 0.5)),
    "ward": ((7.0, 5.0, 3.0), (0.5, 0.8)),
    "factory_hall": ((30.0, 20.0, 8.0), (1.2, 2.0)),
}
BANK_SIZE = 6
MAX_ORDER = 20  # image-source reflections; caps the cost of large halls


@lru_cache(maxsize=64)
def simulated_rir(room: str, index: int, sample_rate: int) -> np.ndarray:
    """The ``index``-th impulse response of ``room``: positions and RT60 drawn from a fixed seed."""
    import pyroomacoustics as pra

    dims, (lo, hi) = ROOM_SHAPES[room]
    rng = np.random.default_rng([sum(map(ord, room)), index])
    rt60 = float(rng.uniform(lo, hi))
    absorption, max_order = pra.inverse_sabine(rt60, dims)
    shoebox = pra.ShoeBox(
        dims,
        fs=sample_rate,
        materials=pra.Material(absorption),
        max_order=min(max_order, MAX_ORDER),
    )
    margin = 0.5
    source = [float(rng.uniform(margin, d - margin)) for d in dims]
    mic = [float(rng.uniform(margin, d - margin)) for d in dims]
    shoebox.add_source(source)
    shoebox.add_microphone(mic)
    shoebox.compute_rir()
    rir = np.asarray(shoebox.rir[0][0], dtype=np.float64)
    return (rir / (np.abs(rir).max() + 1e-12)).astype(np.float32)


class RoomReverb(Transform):
    name = "reverb"

    def __init__(
        self,
        rooms: Sequence[str] = ("small_office", "ward", "factory_hall"),
        ir_folder: str | Path | None = None,
        p: float = 0.3,
    ) -> None:
        raise_first(reverb_problems(p, rooms, str(ir_folder) if ir_folder else None))
        super().__init__(p)
        self.rooms = list(rooms)
        self.ir_files: list[Path] = []
        if ir_folder is not None:
            self.ir_files = sorted(
                f for f in Path(ir_folder).rglob("*") if f.suffix.lower() in (".wav", ".flac")
            )
            if not self.ir_files:
                raise ValueError(f"ir_folder: {ir_folder} holds no .wav or .flac impulse responses")

    def apply(
        self, samples: np.ndarray, sample_rate: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, Params]:
        choices = self.rooms + [f"file:{f.name}" for f in self.ir_files]
        pick = choices[int(rng.integers(len(choices)))]
        if pick.startswith("file:"):
            path = self.ir_files[choices.index(pick) - len(self.rooms)]
            rir = load_audio(path, sample_rate)
            params: Params = {"reverb": pick[5:]}
        else:
            index = int(rng.integers(BANK_SIZE))
            rir = simulated_rir(pick, index, sample_rate)
            params = {"reverb": pick, "rir_index": index}
        wet = fftconvolve(samples, rir)[: samples.size]
        before, after = power(samples), power(wet)
        if after > 0:
            wet = wet * np.sqrt(before / after)
        return wet.astype(np.float32), params
