"""Counts while data is prepared: clips synthesised of all, clips prepared of all, time left.

Synthesis and preparation can take minutes: each source's clips are counted as they are
made (``synthesised``) and then checked (``prepared``: decoded, resampled, validated). A
:class:`Tally` logs a line such as ``synthesised 120 of 600 clips (train source 2, synth),
about 3 min left`` at most every ``LOG_EVERY_S`` seconds and at the end, and hands every
count to the context's ``progress`` callback (``workbench run`` writes them into the run's
``status.json``, where the web UI reads them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LOG_EVERY_S = 10.0


@dataclass(frozen=True)
class Count:
    """One count of a preparation stage: ``done`` of ``total`` clips of ``where``."""

    verb: str  # synthesised | prepared
    done: int
    total: int
    where: str  # "train source 2 (synth)"
    eta_s: float | None  # seconds left at the pace so far; None until known

    def line(self) -> str:
        """The count in words, for a log or a status line."""
        left = time_left(self.eta_s) if self.done < self.total else ""
        return f"{self.verb} {self.done} of {self.total} clips ({self.where})" + (
            f", {left}" if left else ""
        )


def time_left(seconds: float | None) -> str:
    """``about 40 s left``, ``about 3 min left``; empty when not known."""
    if seconds is None:
        return ""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s left"
    return f"about {round(seconds / 60)} min left"


class Tally:
    """Counts the clips of one stage of one source; call it with the number done so far.

    ``log`` gets a line at most every ``every`` seconds and always the last; ``progress``
    (when given) gets every :class:`Count`.
    """

    def __init__(
        self,
        verb: str,
        total: int,
        where: str,
        log: Callable[[str], None],
        progress: Callable[[Count], None] | None = None,
        *,
        every: float = LOG_EVERY_S,
        clock: Any = time.monotonic,
    ) -> None:
        self.verb, self.total, self.where = verb, total, where
        self.log, self.progress, self.every, self.clock = log, progress, every, clock
        self.started = clock()
        self.logged = self.started

    def __call__(self, done: int) -> None:
        now = self.clock()
        elapsed = now - self.started
        eta = elapsed / done * (self.total - done) if done and elapsed > 0 else None
        count = Count(self.verb, done, self.total, self.where, eta)
        if self.progress is not None:
            self.progress(count)
        if done >= self.total or now - self.logged >= self.every:
            self.logged = now
            self.log(f"  {count.line()}")
