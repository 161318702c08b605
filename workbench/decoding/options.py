"""How a window of audio is decoded: beam or greedy, and the guards against hallucination.

The guards are those every Whisper user's decoder applies (openai-whisper's ``transcribe``,
faster-whisper): a window whose transcript compresses too well (a loop) or whose tokens are
improbable on average is decoded again at the next temperature; a window the model calls
silent, with improbable tokens, is dropped. The defaults are theirs. One addition: a cap on
tokens per second of audio, so that a loop stops early instead of filling the decoder.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from workbench.schema import Spec

# openai-whisper's and faster-whisper's default fallback temperatures.
DEFAULT_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def _default_temperatures() -> list[float]:
    return list(DEFAULT_TEMPERATURES)


@dataclass(kw_only=True)
class DecodingOptions(Spec):
    """Decoding of each 30-second window, the same for the base and the adapted model."""

    beam_size: int = 1  # 1 is greedy; beam search at temperature 0 (faster-whisper uses 5)
    best_of: int = 5  # candidates sampled at a temperature above 0; the likeliest is kept
    temperatures: list[float] = field(default_factory=_default_temperatures)  # tried in turn
    compression_ratio_threshold: float | None = 2.4  # zlib ratio above it: a loop; try again
    logprob_threshold: float | None = -1.0  # mean token log-prob below it: try again
    no_speech_threshold: float | None = 0.6  # no-speech prob above it (and log-prob low): drop
    max_tokens_per_second: float | None = 25.0  # of audio; a window reaching it is tried again

    def check(self) -> list[tuple[str, str]]:
        out = [
            (name, f"expected a positive integer, got {getattr(self, name)}")
            for name in ("beam_size", "best_of")
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1
        ]
        temps = self.temperatures
        if not isinstance(temps, (list, tuple)) or not temps:
            out.append(("temperatures", f"expected a list of at least one number, got {temps!r}"))
        elif not all(_number(t) and 0.0 <= t <= 2.0 for t in temps):
            out.append(("temperatures", f"expected numbers from 0 to 2, got {list(temps)}"))
        elif any(b < a for a, b in itertools.pairwise(temps)):
            out.append(("temperatures", f"expected rising temperatures, got {list(temps)}"))
        checks = (
            ("compression_ratio_threshold", lambda v: v > 0, "a number above 0"),
            ("logprob_threshold", lambda v: v <= 0, "a number at most 0 (log-probabilities are)"),
            ("no_speech_threshold", lambda v: 0 <= v <= 1, "a probability from 0 to 1"),
            ("max_tokens_per_second", lambda v: v > 0, "a number above 0"),
        )
        for name, ok, expected in checks:
            value = getattr(self, name)
            if value is not None and not (_number(value) and ok(value)):
                out.append((name, f"expected {expected} or null, got {value!r}"))
        return out

    @classmethod
    def unguarded(cls, beam_size: int = 1) -> DecodingOptions:
        """Plain decoding at temperature 0: no fallback, no no-speech drop, no token cap
        (what the workbench did before the guards; kept for comparisons)."""
        return cls(
            beam_size=beam_size,
            temperatures=[0.0],
            compression_ratio_threshold=None,
            logprob_threshold=None,
            no_speech_threshold=None,
            max_tokens_per_second=None,
        )

    @property
    def guarded(self) -> bool:
        """Whether any guard is on (fallback, no-speech drop or token cap)."""
        return (
            len(self.temperatures) > 1
            or self.no_speech_threshold is not None
            or self.max_tokens_per_second is not None
        )

    def describe(self) -> dict:
        """The settings as plain data, for reports."""
        return {
            "beam_size": self.beam_size,
            "best_of": self.best_of,
            "temperatures": [float(t) for t in self.temperatures],
            "compression_ratio_threshold": self.compression_ratio_threshold,
            "logprob_threshold": self.logprob_threshold,
            "no_speech_threshold": self.no_speech_threshold,
            "max_tokens_per_second": self.max_tokens_per_second,
        }

    def summary(self) -> str:
        """One line: how windows were decoded, e.g. for a report's header."""
        search = f"beam {self.beam_size}" if self.beam_size > 1 else "greedy"
        if len(self.temperatures) > 1:
            temps = ", ".join(f"{t:g}" for t in self.temperatures)
            search += f", fallback over temperatures {temps} (best of {self.best_of})"
        parts = [search]
        if self.compression_ratio_threshold is not None:
            parts.append(f"compression ratio > {self.compression_ratio_threshold:g}")
        if self.logprob_threshold is not None:
            parts.append(f"mean log-prob < {self.logprob_threshold:g}")
        if self.no_speech_threshold is not None:
            parts.append(f"no-speech > {self.no_speech_threshold:g} drops")
        if self.max_tokens_per_second is not None:
            parts.append(f"at most {self.max_tokens_per_second:g} tokens/s")
        return "; ".join(parts)


def _number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )
