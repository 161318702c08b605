"""Reading audio files as 16 kHz mono float32, with one-line errors that name the file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16_000
MIN_SAMPLE_RATE = 4_000
MAX_SECONDS = 4 * 3600  # one file; a longer recording is better split first
LIMIT_TEXT = f"the limit is {MAX_SECONDS // 3600} hours a file"
BLOCK_FRAMES = 1 << 20


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
        AudioError: missing, not a file, empty, undecodable, truncated, holding NaN/inf
            samples, a sample rate under 4 kHz, or longer than 4 hours.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "no such file")
    if not path.is_file():
        raise AudioError(path, "not a file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        audio, rate, channels = _read_mono(path)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(path, f"cannot decode audio ({_short(exc)})") from None
    if audio.shape[0] == 0:
        raise AudioError(path, "no audio samples")
    missing = _wav_shortfall(path, audio.shape[0], channels)
    if missing:
        raise AudioError(
            path, f"truncated: the header promises {missing} more frames than the file holds"
        )
    if rate != sample_rate:
        frames = audio.shape[0]
        audio = soxr.resample(audio, rate, sample_rate, quality="HQ").astype(np.float32)
        if audio.size == 0:
            raise AudioError(path, f"too short: {frames} sample(s) at {rate} Hz")
    return np.ascontiguousarray(audio, dtype=np.float32)


def _read_mono(path: Path) -> tuple[np.ndarray, int, int]:
    """Decode block by block, averaging channels as it goes: memory follows the audio that
    is really there, not what a header claims (a damaged header may claim years)."""
    with sf.SoundFile(str(path)) as f:
        rate, channels = int(f.samplerate), int(f.channels)
        if rate < MIN_SAMPLE_RATE:
            raise AudioError(
                path,
                f"sample rate {rate} Hz, too low for speech "
                f"(expected {MIN_SAMPLE_RATE} Hz or more)",
            )
        limit = MAX_SECONDS * rate
        if limit < f.frames < 2**62:  # (libsndfile says 2**63 - 1 for "unknown")
            raise AudioError(path, f"{_hours(f.frames / rate)} by its header; {LIMIT_TEXT}")
        parts, total = [], 0
        while True:
            block = f.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
            if block.shape[0] == 0:
                break
            if not np.isfinite(block).all():
                raise AudioError(path, "audio holds NaN or infinite samples")
            total += block.shape[0]
            if total > limit:
                raise AudioError(path, f"longer than {LIMIT_TEXT}")
            parts.append(block.mean(axis=1) if channels > 1 else block[:, 0].copy())
    audio = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return audio.astype(np.float32, copy=False), rate, channels


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} hours" if seconds >= 3600 else f"{seconds:.0f} s"


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


def _wav_shortfall(path: Path, frames: int, channels: int) -> int:
    """Frames a RIFF/WAVE file's ``data`` chunk promises beyond those decoded (0 if none,
    or not a plain WAV file). libsndfile quietly reads what is there; a cut-off upload or
    copy should not pass for a shorter clip."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return 0
            block = 0
            while chunk := f.read(8):
                if len(chunk) < 8:
                    return 0
                kind, size = chunk[:4], int.from_bytes(chunk[4:], "little")
                if kind == b"fmt ":
                    fmt = f.read(size)
                    if len(fmt) >= 14:
                        block = int.from_bytes(fmt[12:14], "little")  # bytes per frame
                    f.seek(size % 2, 1)
                elif kind == b"data":
                    if not block or size in (0, 0xFFFFFFFF):  # unknown, or written streaming
                        return 0
                    return max(0, size // block - frames)
                else:
                    f.seek(size + size % 2, 1)
    except OSError:
        return 0
    return 0


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    if not text:
        return type(exc).__name__
    if "not a regular file" in text[-1]:  # libsndfile's words for an undecodable stream
        return "not a stream of audio frames libsndfile can decode"
    return text[-1]
