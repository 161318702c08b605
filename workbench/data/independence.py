"""Is the general set independent of what the model trained on?

The general set measures forgetting on speech the adapter never met. A general set that
shares a recording, a speaker, a source collection or a sentence (the same words, spoken by
anyone: a voice reading the general set's transcripts) with ``data.train`` or ``data.replay``
measures what replay trained on instead; one that shares them with ``data.general_dev`` (the
forgetting guard's set) measures what chose when to stop. :func:`general_overlaps` finds every
such overlap, naming both sides; ``data prepare`` refuses them unless the recipe sets
``data.allow_dependent_general``, and the report then marks the general figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from workbench.data.candidates import Candidate

# What trained the adapter, or chose anything about it (general_dev: the forgetting guard).
TRAINED_ON = ("train", "replay", "general_dev")
# Shorter utterances ("yes please") coincide by chance and carry no carrier sentence.
SENTENCE_MIN_WORDS = 3


def sentence_key(text: str) -> str | None:
    """The words of a transcript, case and punctuation aside; None when too short to count."""
    words = re.sub(r"[^\w\s']", " ", text.casefold()).split()
    return " ".join(words) if len(words) >= SENTENCE_MIN_WORDS else None


@dataclass
class Footprint:
    """What one source of one split holds: its recordings, speakers, collections and sentences."""

    split: str
    index: int
    source: str
    recordings: set[str] = field(default_factory=set)
    speakers: set[str] = field(default_factory=set)
    collections: set[str] = field(default_factory=set)
    sentences: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return f"data.{self.split}[{self.index}] ({self.source})"

    def add(self, cand: Candidate, default_collection: str | None) -> None:
        if cand.audio is not None:
            self.recordings.add(str(Path(cand.audio).resolve()))
        if cand.speaker:
            self.speakers.add(cand.speaker)
        collection = cand.collection or default_collection
        if collection:
            self.collections.add(collection)
        if key := sentence_key(cand.text or ""):
            self.sentences.add(key)


def default_collection(spec: object) -> str | None:
    """A user's data is one collection per file or folder; synthetic speech has none."""
    path = getattr(spec, "path", None)
    return f"{spec.source} {Path(path).resolve()}" if path else None  # type: ignore[attr-defined]


def _listed(kind: str, values: set[str], most: int = 3) -> str:
    shown = sorted(values)[:most]
    more = f" and {len(values) - most} more" if len(values) > most else ""
    noun = kind if len(values) == 1 else f"{kind}s"
    return f"{noun} {', '.join(repr(v) for v in shown)}{more}"


def general_overlaps(footprints: list[Footprint]) -> list[str]:
    """One sentence per (general source, train/replay source) pair that share anything."""
    general = [f for f in footprints if f.split == "general"]
    trained = [f for f in footprints if f.split in TRAINED_ON]
    out = []
    for g in general:
        for t in trained:
            shared = []
            if both := g.recordings & t.recordings:
                shared.append(_listed("recording", both))
            if both := g.speakers & t.speakers:
                shared.append(_listed("speaker", both))
            if both := g.collections & t.collections:
                shared.append(_listed("source collection", both))
            if both := g.sentences & t.sentences:
                shared.append(_listed("sentence", both))
            if shared:
                out.append(f"{g.name} shares {'; '.join(shared)} with {t.name}")
    return out


def refusal(overlaps: list[str]) -> str:
    """The message of a refused preparation: every overlap, then the two ways out."""
    lines = ["the general set is not independent of training:"]
    lines += [f"  {o}" for o in overlaps]
    lines.append(
        "a general set must share no recording, speaker, source collection or sentence with "
        "data.train, data.replay or data.general_dev, or its figures measure what training "
        "saw. Use other general sources, or set data.allow_dependent_general: true to keep it "
        "(the report then marks the general figures 'not independent')"
    )
    return "\n".join(lines)
