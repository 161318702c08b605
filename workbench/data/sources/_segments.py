"""Cutting utterances out of long recordings (Kaldi ``segments``, NeMo ``offset``).

Only the frames of the segment are read (soundfile seeks), and the cut is written as FLAC at
the recording's own rate into the preparation's staging folder; the validator resamples it
like any other clip. The user's recordings are never modified.
"""

from __future__ import annotations

import re
from pathlib import Path

import soundfile as sf

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class SegmentError(ValueError):
    """A segment that cannot be cut; the message names the recording and the times."""


class SegmentCutter:
    """Writes segments of recordings into ``folder``, one FLAC file per utterance."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def cut(self, recording: Path, start: float, end: float | None, name: str) -> Path:
        """Write ``recording[start:end]`` (seconds; ``end`` None: to the end) as ``name``.

        Raises:
            SegmentError: no such recording, not readable audio, or times outside it.
        """
        if start < 0 or (end is not None and end <= start):
            raise SegmentError(f"{recording}: segment {start}-{end} s is empty or negative")
        try:
            with sf.SoundFile(recording) as f:
                rate, total = f.samplerate, f.frames
                first = round(start * rate)
                last = total if end is None else min(round(end * rate), total)
                if first >= total or last <= first:
                    raise SegmentError(
                        f"{recording}: segment {start:g}-{end if end is not None else 'end'} s "
                        f"is past the end of the recording ({total / rate:.2f} s)"
                    )
                f.seek(first)
                audio = f.read(last - first, dtype="float32", always_2d=True)
        except FileNotFoundError:
            raise SegmentError(f"{recording}: no such file") from None
        except (sf.LibsndfileError, RuntimeError) as exc:
            if not recording.exists():
                raise SegmentError(f"{recording}: no such file") from None
            raise SegmentError(f"{recording}: cannot decode audio ({exc})") from None
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{_UNSAFE.sub('_', name)}.flac"
        sf.write(path, audio if audio.shape[1] > 1 else audio[:, 0], rate, format="FLAC")
        return path
