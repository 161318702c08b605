"""Reading audio files as 16 kHz mono float32, with one-line errors that name the file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from workbench.fileio import special_kind

SAMPLE_RATE = 16_000
MIN_SAMPLE_RATE = 4_000
MAX_SECONDS = 4 * 3600  # one file; a longer recording is better split first
LIMIT_TEXT = f"the limit is {MAX_SECONDS // 3600} hours a file"
BLOCK_FRAMES = 1 << 18


class AudioError(ValueError):
    """An audio file that cannot be used; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class AudioTooLong(AudioError):
    """A file longer than the caller's limit (from its header, or while decoding)."""


def load_audio(
    path: str | Path,
    sample_rate: int = SAMPLE_RATE,
    *,
    max_seconds: float = MAX_SECONDS,
    truncate: bool = False,
) -> np.ndarray:
    """Decode ``path`` (wav, flac, mp3, ogg, ...) to mono float32 at ``sample_rate``.

    Channels are averaged; other rates are resampled (soxr, high quality). Both happen block
    by block while decoding, so memory follows the output at ``sample_rate``, never the file
    at its own rate, and never the whole file before its length is known: a file longer than
    ``max_seconds`` is refused from its header when the header tells, else as soon as the
    decoded audio passes the limit. With ``truncate`` the first ``max_seconds`` are returned
    instead (a preview), and nothing after them is decoded.

    Raises:
        AudioError: missing, not a regular file, empty, undecodable, truncated, holding
            NaN/inf samples, a sample rate under 4 kHz, or longer than ``max_seconds``.
    """
    path = Path(path)
    audio, frames, rate, channels = _decode_checked(path, sample_rate, max_seconds, truncate)
    missing = 0 if truncate else _wav_shortfall(path, frames, channels)
    if missing:
        raise AudioError(
            path, f"truncated: the header promises {missing} more frames than the file holds"
        )
    if audio.size == 0:
        raise AudioError(path, f"too short: {frames} sample(s) at {rate} Hz")
    return audio


def audio_seconds(path: str | Path, *, max_seconds: float = MAX_SECONDS) -> float:
    """Decode ``path`` through (as :func:`load_audio` would, with its checks) without keeping
    the audio; return its length in seconds. For checking a file at the door.

    Raises:
        AudioError: as :func:`load_audio`.
    """
    path = Path(path)
    _, frames, rate, channels = _decode_checked(path, None, max_seconds, False)
    missing = _wav_shortfall(path, frames, channels)
    if missing:
        raise AudioError(
            path, f"truncated: the header promises {missing} more frames than the file holds"
        )
    if frames * SAMPLE_RATE < 4 * rate:  # a few samples: may resample to none; decide as load_audio
        load_audio(path, max_seconds=max_seconds)
    return frames / rate


def _decode_checked(
    path: Path, sample_rate: int | None, max_seconds: float, truncate: bool
) -> tuple[np.ndarray, int, int, int]:
    """:func:`_read_mono` behind the checks both readers share: a regular, non-empty file
    that decodes to at least one frame."""
    if not path.exists():
        raise AudioError(path, "no such file")
    if not path.is_file():
        kind = special_kind(path)
        raise AudioError(path, f"{kind}, not a regular file" if kind else "not a file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        audio, frames, rate, channels = _read_mono(path, sample_rate, max_seconds, truncate)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(path, f"cannot decode audio ({_short(exc)})") from None
    if frames == 0:
        raise AudioError(path, "no audio samples")
    return audio, frames, rate, channels


def _limit_text(max_seconds: float) -> str:
    if max_seconds == MAX_SECONDS:
        return LIMIT_TEXT
    return f"the limit here is {_hours(max_seconds)} a file"


class _Buffer:
    """A growing float32 array: sized from the header's promise, doubled if it lies."""

    def __init__(self, capacity: int) -> None:
        self.data = np.empty(max(capacity, 1024), np.float32)
        self.size = 0

    def add(self, block: np.ndarray) -> None:
        end = self.size + block.shape[0]
        if end > self.data.shape[0]:
            grown = np.empty(max(end, 2 * self.data.shape[0]), np.float32)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : end] = block
        self.size = end

    def array(self) -> np.ndarray:
        if self.size == self.data.shape[0]:
            return self.data
        return self.data[: self.size].copy()


def _read_mono(
    path: Path, sample_rate: int | None, max_seconds: float, truncate: bool
) -> tuple[np.ndarray, int, int, int]:
    """Decode block by block, averaging channels and resampling as it goes: memory follows
    the audio that is really there at ``sample_rate`` (nothing kept when None), not what a
    header claims (a damaged header may claim years) nor the file's own rate (192 kHz holds
    12 times the samples of 16 kHz). Returns the audio, the frames decoded at the file's
    rate, the rate and the channels."""
    with sf.SoundFile(str(path)) as f:
        rate, channels = int(f.samplerate), int(f.channels)
        if rate < MIN_SAMPLE_RATE:
            raise AudioError(
                path,
                f"sample rate {rate} Hz, too low for speech "
                f"(expected {MIN_SAMPLE_RATE} Hz or more)",
            )
        limit = int(max_seconds * rate)  # frames at the file's rate: max_seconds of audio
        known = 0 < f.frames < 2**62  # (libsndfile says 2**63 - 1 for "unknown")
        if known and f.frames > limit and not truncate:
            raise AudioTooLong(
                path, f"{_hours(f.frames / rate)} by its header; {_limit_text(max_seconds)}"
            )
        keep = sample_rate is not None
        stream = (
            soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality="HQ")
            if keep and rate != sample_rate
            else None
        )
        expected = min(f.frames, limit) if known else min(limit, 30 * rate)
        out = _Buffer(int(expected * (sample_rate or rate) / rate) + 64 if keep else 0)
        total = 0
        while True:
            block = f.read(min(BLOCK_FRAMES, limit + 1 - total), dtype="float32", always_2d=True)
            if block.shape[0] == 0:
                break
            if not np.isfinite(block).all():
                raise AudioError(path, "audio holds NaN or infinite samples")
            if total + block.shape[0] > limit:
                if not truncate:
                    raise AudioTooLong(path, f"longer than {_limit_text(max_seconds)}")
                block = block[: limit - total]
            total += block.shape[0]
            if keep:
                mono = block.mean(axis=1) if channels > 1 else np.ascontiguousarray(block[:, 0])
                out.add(stream.resample_chunk(mono) if stream is not None else mono)
            if total >= limit and truncate:
                break
        if stream is not None:
            out.add(stream.resample_chunk(np.zeros(0, np.float32), last=True))
    return out.array(), total, rate, channels


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
