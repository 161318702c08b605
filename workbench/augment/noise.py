"""Additive noise at a signal-to-noise ratio drawn from ``min_snr_db``..``max_snr_db``.

Kinds: ``white``/``pink``/``brown`` (audiomentations' AddColorNoise), ``machinery`` and
``monitor`` (procedural, see their modules), ``babble`` (other training utterances) and
``folder`` (the user's noise files, by audiomentations' AddBackgroundNoise). The SNR actually
achieved is measured on the result and recorded with the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from workbench.augment.babble_noise import ClipSource, babble_noise
from workbench.augment.base import Params, Transform, mix_at_snr, power, seeded_globals, snr_db
from workbench.augment.checks import noise_problems, raise_first
from workbench.augment.colored_noise import F_DECAY, add_colored_noise
from workbench.augment.machinery_noise import machinery_noise
from workbench.augment.monitor_noise import monitor_noise

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


class AddNoise(Transform):
    name = "noise"

    def __init__(
        self,
        kinds: Sequence[str] = ("white", "pink"),
        min_snr_db: float = 5.0,
        max_snr_db: float = 15.0,
        p: float = 0.6,
        folder: str | Path | None = None,
        babble_clips: ClipSource | None = None,
    ) -> None:
        raise_first(
            noise_problems(min_snr_db, max_snr_db, p, kinds, str(folder) if folder else None)
        )
        super().__init__(p)
        if "babble" in kinds and babble_clips is None:
            raise ValueError("kinds: 'babble' needs other utterances (the training set) to mix")
        self.kinds = list(kinds)
        self.min_snr_db, self.max_snr_db = min_snr_db, max_snr_db
        self.babble_clips = babble_clips
        self._files = None
        if "folder" in kinds:
            from audiomentations import AddBackgroundNoise

            folder = Path(folder or "")
            if not folder.is_dir() or not any(
                p.suffix.lower() in AUDIO_SUFFIXES for p in folder.rglob("*")
            ):
                raise ValueError(
                    f"folder: {folder} holds no audio files ({', '.join(AUDIO_SUFFIXES)})"
                )
            self._files = AddBackgroundNoise(sounds_path=folder, p=1.0)

    def apply(
        self, samples: np.ndarray, sample_rate: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, Params]:
        kind = self.kinds[int(rng.integers(len(self.kinds)))]
        target = float(rng.uniform(self.min_snr_db, self.max_snr_db))
        seed = int(rng.integers(2**31))
        params: Params = {"noise_kind": kind, "target_snr_db": round(target, 2)}
        if power(samples) == 0:
            return samples, {**params, "snr_db": None, "skipped": "silent clip"}
        if kind in F_DECAY:
            out = add_colored_noise(samples, sample_rate, kind, target, seed)
        elif kind == "folder":
            self._files.min_snr_db = self._files.max_snr_db = target
            with seeded_globals(seed):
                out = self._files(samples=samples, sample_rate=sample_rate).astype(np.float32)
            params["noise_file"] = Path(self._files.parameters.get("noise_file_path", "")).name
        else:
            sub = np.random.default_rng(seed)
            if kind == "machinery":
                noise, extra = machinery_noise(samples.size, sample_rate, sub)
            elif kind == "monitor":
                noise, extra = monitor_noise(samples.size, sample_rate, sub)
            else:
                noise, extra = babble_noise(samples.size, self.babble_clips, sub)
            out = mix_at_snr(samples, noise, target)
            params.update(extra)
        if kind in F_DECAY or kind == "folder":
            # audiomentations' own scaling lands near the target; rescale its noise exactly,
            # so the achieved SNR always lies in the range.
            out = mix_at_snr(samples, out.astype(np.float64) - samples, target)
        achieved = snr_db(samples, out)
        params["snr_db"] = None if achieved is None else round(achieved, 2)
        return out, params
