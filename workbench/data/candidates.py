"""What a source yields before validation: candidate rows and the rows it could not read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workbench.data.progress import Count
from workbench.lexicon import Lexicon


@dataclass
class Candidate:
    """A row as a source found it; ``origin`` ("file:line") names it in reports."""

    origin: str
    audio: Path | None
    text: str | None
    id: str | None = None
    speaker: str | None = None
    lang: str | None = None
    domain: str | None = None
    # The recorded collection the row comes from (a corpus, a package's set, a user's
    # manifest): a general set must share none with training or replay. None for
    # synthetic speech, whose voice (``speaker``) is what it shares.
    collection: str | None = None
    condition: str | None = None  # set by a source's ``condition`` (workbench.data.conditions)
    part: str | None = None  # what the source is ("your recordings"): the source's ``part``


@dataclass(frozen=True)
class RowProblem:
    """A row left out, and why."""

    origin: str
    reason: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.reason}"


@dataclass
class SourceRows:
    """A source's output: candidates to validate, and rows it already had to reject."""

    candidates: list[Candidate] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


@dataclass
class PrepareContext:
    """What sources may use: the staging folder for audio they write, the pack, a logger."""

    staging: Path
    pack_dir: Path | None
    lexicon: Lexicon | None
    language: str | None
    log: Callable[[str], None] = print
    # Held-out synthesis avoids the sentences and term combinations of the training split.
    avoid_sentences: set[str] = field(default_factory=set)
    avoid_term_sets: set[frozenset[str]] = field(default_factory=set)
    # Counts of clips synthesised and prepared (workbench.data.progress), and the source
    # being read, in words ("train source 2 (synth)").
    progress: Callable[[Count], None] | None = None
    where: str = ""


class SourceError(ValueError):
    """A source that cannot be read at all (missing package, unreadable listing)."""


def inside(folder: Path, relative: str) -> Path | None:
    """``folder / relative`` if it stays inside ``folder`` (no ``..`` escapes), else None.

    Raises:
        ValueError: the path runs into a symbolic-link loop (or cannot be resolved).
    """
    try:
        root = folder.resolve()
        path = (root / relative).resolve()
    except (RuntimeError, OSError) as exc:  # Python < 3.13 raises RuntimeError for a loop
        raise ValueError(f"{relative!r}: cannot be resolved (symbolic-link loop?): {exc}") from None
    return path if path.is_relative_to(root) else None
