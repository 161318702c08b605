"""Reading audio files as 16 kHz mono float32, with one-line errors that name the file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16_000


class AudioError(ValueError):
    """An audio file that cannot be used; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode ``path`` (wav, flac, mp3, ogg, ...) to mono float32 at ``sample_rate``.

    Channels are averaged; other rates are resampled (soxr, high quality).

    Raises:
        AudioError: missing, not a file, empty, undecodable, or holding NaN/inf samples.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "no such file")
    if not path.is_file():
        raise AudioError(path, "not a file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(path, f"cannot decode audio ({_short(exc)})") from None
    if data.shape[0] == 0:
        raise AudioError(path, "no audio samples")
    if not np.isfinite(data).all():
        raise AudioError(path, "audio holds NaN or infinite samples")
    audio = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if rate != sample_rate:
        audio = soxr.resample(audio, rate, sample_rate, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(audio, dtype=np.float32)


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, before any decoding."""

    sample_rate: int
    channels: int
    format: str


def audio_info(path: str | Path) -> AudioInfo:
    """Rate, channels and container of an audio file.

    Raises:
        AudioError: the file cannot be read as audio.
    """
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(path, f"cannot decode audio ({_short(exc)})") from None
    return AudioInfo(int(info.samplerate), int(info.channels), str(info.format))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
