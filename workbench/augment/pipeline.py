"""The augmentation pipeline of a recipe: speed, reverb, noise, telephone, in that order.

Every sample's randomness comes from its own seed (``sample_seed(seed, epoch, index)``), so
any augmented sample can be reproduced, and the drawn parameters are returned for logging.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.audio import SAMPLE_RATE
from workbench.augment.babble_noise import ClipSource
from workbench.augment.base import Params, Transform
from workbench.augment.noise import AddNoise
from workbench.augment.room_reverb import RoomReverb
from workbench.augment.speed_perturbation import SpeedPerturbation
from workbench.augment.telephone_band import TelephoneBand
from workbench.data.manifest import Utterance
from workbench.recipe import AugmentSpec, Recipe

PEAK_LIMIT = 0.99


def sample_seed(seed: int, epoch: int, index: int) -> tuple[int, int, int]:
    """The seed of one sample in one epoch: each epoch draws new augmentations."""
    return (seed, epoch, index)


@dataclass
class Augmenter:
    """Applies its transforms in order; returns the audio and every drawn parameter."""

    transforms: list[Transform] = field(default_factory=list)
    sample_rate: int = SAMPLE_RATE

    def __bool__(self) -> bool:
        return bool(self.transforms)

    def __call__(self, samples: np.ndarray, seed: int | Sequence[int]) -> tuple[np.ndarray, Params]:
        rng = np.random.default_rng(seed)
        params: Params = {}
        out = np.asarray(samples, dtype=np.float32)
        for transform in self.transforms:
            out, drawn = transform(out, self.sample_rate, rng)
            params.update(drawn)
        out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
        peak = float(np.abs(out).max()) if out.size else 0.0
        if peak > PEAK_LIMIT:  # noise can push peaks past full scale: scale, never clip
            out = out * (PEAK_LIMIT / peak)
            params["gain"] = round(PEAK_LIMIT / peak, 4)
        return out.astype(np.float32), params


def build_augmenter(spec: AugmentSpec, *, babble_clips: ClipSource | None = None) -> Augmenter:
    """The pipeline a recipe's ``augment`` section describes."""
    transforms: list[Transform] = []
    if spec.speed is not None:
        s = spec.speed
        transforms.append(SpeedPerturbation(s.min_rate, s.max_rate, s.rates, s.p))
    if spec.reverb is not None:
        transforms.append(RoomReverb(spec.reverb.rooms, spec.reverb.ir_folder, spec.reverb.p))
    if spec.noise is not None:
        n = spec.noise
        transforms.append(
            AddNoise(n.kinds, n.min_snr_db, n.max_snr_db, n.p, n.folder, babble_clips)
        )
    if spec.telephone is not None:
        transforms.append(TelephoneBand(spec.telephone.p, spec.telephone.codec))
    return Augmenter(transforms)


class ClipPool:
    """Random clips from a list of audio files, for babble; loaded lazily and kept."""

    def __init__(self, paths: Sequence[str], cache_size: int = 64) -> None:
        if not paths:
            raise ValueError("babble needs at least one other utterance")
        self.paths = list(paths)
        self._cache: dict[str, np.ndarray] = {}
        self.cache_size = cache_size

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        from workbench.audio import load_audio

        path = self.paths[int(rng.integers(len(self.paths)))]
        if path not in self._cache:
            if len(self._cache) >= self.cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[path] = load_audio(path)
        return self._cache[path]


def recipe_augmenter(
    recipe: Recipe, train: Sequence[Utterance] | None = None, log: Callable[[str], None] = print
) -> Augmenter:
    """The recipe's pipeline; babble (if asked for) draws on the training utterances
    (``train``, or the recipe's prepared training set when not given)."""
    clips = None
    if recipe.augment.noise is not None and "babble" in recipe.augment.noise.kinds:
        if train is None:
            from workbench.data.prepare import prepare_data

            train = prepare_data(recipe, log=log).utterances("train")
        if not train:
            raise ValueError(
                "augment.noise.kinds: 'babble' needs training utterances; the train set is empty"
            )
        clips = ClipPool([u.audio for u in train])
    return build_augmenter(recipe.augment, babble_clips=clips)


def augment_file(recipe: Recipe, audio: str | Path, out: str | Path, seed: int = 0) -> Params:
    """Write ``audio`` augmented by ``recipe``'s pipeline to ``out``; return the parameters.

    The output is written whole or not at all (a temporary file renamed into place).
    """
    import os
    import tempfile

    import soundfile as sf

    from workbench.audio import load_audio

    samples = load_audio(audio)
    result, params = recipe_augmenter(recipe, log=lambda m: None)(samples, seed)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=out.suffix or ".wav", dir=out.parent)
    os.close(fd)
    try:
        sf.write(tmp, result, SAMPLE_RATE)
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return {
        "input": str(audio),
        "output": str(out),
        "seed": seed,
        "input_seconds": round(samples.size / SAMPLE_RATE, 3),
        "output_seconds": round(result.size / SAMPLE_RATE, 3),
        **params,
    }
