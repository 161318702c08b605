"""Rendering a source's clips in a listening condition (``condition:`` on a data source).

Evaluation needs sets whose conditions training never met: noise of another kind, a telephone
channel. The transforms are the augmentation's own (``workbench.augment``), applied once at
preparation with a seed per clip (the condition's ``seed`` and the clip's id), and written as
new 16 kHz FLAC files in the prepared folder; the user's audio is never touched.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import soundfile as sf

from workbench.audio import SAMPLE_RATE, AudioError, load_audio
from workbench.data.candidates import Candidate, PrepareContext, SourceError
from workbench.recipe import ConditionSpec

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
PEAK = 0.99  # a noisy mix louder than this is scaled down rather than clipped


def clip_seed(condition: ConditionSpec, clip_id: str) -> int:
    """The clip's own seed: stable across runs and machines (not Python's ``hash``)."""
    digest = hashlib.sha256(f"{condition.seed}|{condition.label}|{clip_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _transform(condition: ConditionSpec, paths: list[Path]):
    from workbench.augment.noise import AddNoise
    from workbench.augment.telephone_band import TelephoneBand

    if condition.kind == "telephone":
        return TelephoneBand(p=1.0, codec=condition.codec)
    babble = None
    if condition.noise == "babble":
        if len(paths) < 2:
            raise SourceError("condition: babble needs at least 2 clips in the source to mix")

        def babble(rng: np.random.Generator) -> np.ndarray:
            return load_audio(paths[int(rng.integers(len(paths)))])

    return AddNoise(
        [condition.noise or "pink"],
        condition.min_snr_db,
        condition.max_snr_db,
        p=1.0,
        babble_clips=babble,
    )


def apply_condition(
    candidates: list[Candidate], condition: ConditionSpec, ctx: PrepareContext
) -> list[Candidate]:
    """The candidates rendered in ``condition``, with ids suffixed and the condition recorded.

    A clip that cannot be read is passed on unchanged, for validation to report.

    Raises:
        SourceError: babble noise with fewer than two clips to mix.
    """
    folder = ctx.staging / "audio" / "conditions" / condition.tag
    readable = [Path(c.audio) for c in candidates if c.audio is not None]
    transform = None if condition.kind == "clean" else _transform(condition, readable)
    out = []
    for cand in candidates:
        if cand.audio is None:
            out.append(cand)
            continue
        base_id = cand.id or Path(cand.audio).stem
        clip_id = f"{base_id}-{condition.tag}"
        audio_path: Path = Path(cand.audio)
        if transform is not None:
            try:
                samples = load_audio(cand.audio)
            except AudioError:
                out.append(cand)
                continue
            rng = np.random.default_rng(clip_seed(condition, base_id))
            if condition.noise == "babble":
                # Never the clip's own voice and words among its babble.
                own = Path(cand.audio)
                others = [p for p in readable if p != own]
                transform.babble_clips = lambda r, o=others: load_audio(o[int(r.integers(len(o)))])
            rendered, _ = transform.apply(samples, SAMPLE_RATE, rng)
            peak = float(np.abs(rendered).max()) if rendered.size else 0.0
            if peak > PEAK:
                rendered = rendered * (PEAK / peak)
            audio_path = folder / f"{_UNSAFE.sub('_', clip_id)}.flac"
            audio_path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(audio_path, rendered.astype(np.float32), SAMPLE_RATE, format="FLAC")
        out.append(
            Candidate(
                origin=f"{cand.origin} [{condition.label}]",
                audio=audio_path,
                text=cand.text,
                id=clip_id,
                speaker=cand.speaker,
                lang=cand.lang,
                domain=cand.domain,
                collection=cand.collection,
                condition=condition.label,
            )
        )
    ctx.log(f"  condition {condition.label}: {len(out)} clips")
    return out
