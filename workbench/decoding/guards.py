"""The checks on one decoded window, as openai-whisper's and faster-whisper's ``transcribe``
make them (pure functions; the token loop is in :mod:`workbench.decoding.search`)."""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from workbench.decoding.options import DecodingOptions


def compression_ratio(text: str) -> float:
    """Bytes of ``text`` over bytes of its zlib compression: about 1 to 2 for speech, far
    above 2.4 for a transcript that repeats itself. (Whisper calls this the gzip ratio; it is
    zlib's default level, as in openai-whisper and faster-whisper.)"""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data))


def average_logprob(sum_logprob: float, n_tokens: int) -> float:
    """Whisper's mean log-probability of a window: the sum over its text tokens and the
    end-of-text token, divided by their count (``n_tokens + 1``)."""
    return sum_logprob / (n_tokens + 1)


def token_cap(seconds: float, options: DecodingOptions, room: int) -> int:
    """The most tokens a window of ``seconds`` of audio may decode: ``room`` (what the
    decoder has left) or fewer under ``max_tokens_per_second``; at least 1."""
    if options.max_tokens_per_second is None:
        return room
    return max(1, min(room, math.ceil(options.max_tokens_per_second * seconds)))


@dataclass
class Attempt:
    """One decoding of a window at one temperature."""

    tokens: list[int]
    text: str
    temperature: float
    sum_logprob: float
    no_speech_prob: float
    capped: bool = False  # stopped by the tokens-per-second cap, not by end-of-text

    @property
    def avg_logprob(self) -> float:
        return average_logprob(self.sum_logprob, len(self.tokens))

    @property
    def compression_ratio(self) -> float:
        return compression_ratio(self.text)


def too_repetitive(attempt: Attempt, options: DecodingOptions) -> bool:
    threshold = options.compression_ratio_threshold
    return threshold is not None and attempt.compression_ratio > threshold


def needs_fallback(attempt: Attempt, options: DecodingOptions) -> bool:
    """Whether to decode the window again at the next temperature: too repetitive, too
    improbable, or stopped by the token cap; but never a window the model calls silent
    (high no-speech probability with improbable tokens), as in ``decode_with_fallback``."""
    improbable = (
        options.logprob_threshold is not None and attempt.avg_logprob < options.logprob_threshold
    )
    silent = (
        options.no_speech_threshold is not None
        and attempt.no_speech_prob > options.no_speech_threshold
        and improbable
    )
    if silent:
        return False
    return too_repetitive(attempt, options) or improbable or attempt.capped


def is_no_speech(attempt: Attempt, options: DecodingOptions) -> bool:
    """Whether the kept decoding of a window is dropped as silence: no-speech probability
    above the threshold, unless the mean log-probability is above its threshold."""
    if options.no_speech_threshold is None:
        return False
    if attempt.no_speech_prob <= options.no_speech_threshold:
        return False
    return not (
        options.logprob_threshold is not None and attempt.avg_logprob > options.logprob_threshold
    )


def choose_after_all_failed(attempts: Sequence[Attempt], options: DecodingOptions) -> Attempt:
    """The decoding kept when every temperature failed: the most probable (mean log-prob)
    of those not too repetitive, else of all (faster-whisper's rule; openai-whisper keeps
    the last)."""
    candidates = [a for a in attempts if not too_repetitive(a, options)] or list(attempts)
    return max(candidates, key=lambda a: a.avg_logprob)
