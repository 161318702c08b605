"""Checking candidate rows: text, audio, duration, duplicates; converting audio to 16 kHz mono.

A clip already stored as 16 kHz mono WAV or FLAC is used where it is; any other clip is
written, resampled and downmixed, into the prepared folder. Nothing the user gave is modified.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from workbench.audio import SAMPLE_RATE, AudioError, AudioTooLong, audio_info, load_audio
from workbench.data.candidates import Candidate, RowProblem
from workbench.data.manifest import Utterance

MIN_SOURCE_RATE = 8000
MIN_DURATION_S = 0.1
SILENCE_PEAK = 1e-4
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Validator:
    """Validates rows across all splits, so duplicates between splits are caught too."""

    audio_dir: Path
    max_duration_s: float = 30.0
    ids: dict[str, str] = field(default_factory=dict)  # id -> origin of its first use
    contents: dict[str, str] = field(default_factory=dict)  # audio hash -> origin
    converted: int = 0

    def check(
        self, cand: Candidate, split: str, *, need_text: bool = True
    ) -> Utterance | RowProblem:
        """An :class:`Utterance` for a good row, else the :class:`RowProblem` that drops it.

        ``need_text=False`` checks a clip without a transcript (``data.unlabeled``): the
        audio gets every check, and the utterance's text is empty.
        """
        if need_text and cand.text is None:
            return RowProblem(cand.origin, "missing text")
        text = " ".join((cand.text or "").split())
        if need_text and not text:
            return RowProblem(cand.origin, "empty text")
        if cand.audio is None:
            return RowProblem(cand.origin, "missing audio path")
        utt_id = cand.id or Path(cand.audio).stem
        if utt_id in self.ids:
            return RowProblem(cand.origin, f"duplicate id {utt_id!r} (first at {self.ids[utt_id]})")
        try:
            # A clip far over the limit is refused from its header or while decoding, never
            # held whole; one just over it is decoded, to say by how much.
            audio = load_audio(cand.audio, max_seconds=self.max_duration_s + 60)
            info = audio_info(cand.audio)
        except AudioTooLong as exc:
            return RowProblem(
                cand.origin,
                f"{cand.audio}: clip longer than {self.max_duration_s:g} s ({exc.reason})",
            )
        except AudioError as exc:
            return RowProblem(cand.origin, str(exc))
        if info.sample_rate < MIN_SOURCE_RATE:
            return RowProblem(
                cand.origin,
                f"{cand.audio}: sample rate {info.sample_rate} Hz is too low for speech "
                f"recognition (need at least {MIN_SOURCE_RATE} Hz)",
            )
        duration = len(audio) / SAMPLE_RATE
        if duration > self.max_duration_s:
            return RowProblem(
                cand.origin,
                f"{cand.audio}: clip is {duration:.1f} s, longer than {self.max_duration_s:g} s",
            )
        if duration < MIN_DURATION_S:
            return RowProblem(
                cand.origin, f"{cand.audio}: clip is {duration * 1000:.0f} ms, too short"
            )
        if float(np.abs(audio).max()) < SILENCE_PEAK:
            return RowProblem(cand.origin, f"{cand.audio}: silent audio")
        digest = hashlib.sha1(np.round(audio * 32767).astype("<i2").tobytes()).hexdigest()
        if digest in self.contents:
            return RowProblem(cand.origin, f"{cand.audio}: same audio as {self.contents[digest]}")
        self.ids[utt_id] = cand.origin
        self.contents[digest] = cand.origin
        path = Path(cand.audio)
        usable = (
            info.sample_rate == SAMPLE_RATE
            and info.channels == 1
            and info.format in ("WAV", "FLAC")
        )
        if not usable:
            path = self.audio_dir / split / f"{_UNSAFE.sub('_', utt_id)}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, audio, SAMPLE_RATE, format="FLAC")
            self.converted += 1
        return Utterance(
            id=utt_id,
            audio=str(path.resolve()),
            text=text,
            duration=round(duration, 3),
            speaker=cand.speaker,
            lang=cand.lang,
            domain=cand.domain,
            condition=cand.condition,
            part=cand.part,
        )
