"""``source: asterisk``: the Asterisk PBX's English prompts (Debian packages).

563 prompts read by one professional speaker (Allison), telephone quality (8 kHz wav,
resampled on preparation). Audio from ``asterisk-core-sounds-en-wav``, text from
``asterisk-core-sounds-en``'s ``core-sounds-en.txt.gz``. One speaker: use it for replay or for a
general set, never both (``data prepare`` refuses that).
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

from workbench.data.candidates import Candidate, PrepareContext, SourceError, SourceRows
from workbench.data.sources._files import file_digest
from workbench.fileio import open_regular
from workbench.recipe import AsteriskSource

SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
TEXTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
APT = "apt-get install asterisk-core-sounds-en-wav asterisk-core-sounds-en"
COLLECTION = "debian:asterisk-core-sounds-en"


def _check(sounds: Path, texts: Path) -> None:
    for path, what in ((sounds, "prompt audio"), (texts, "prompt texts")):
        if not path.exists():
            raise SourceError(
                f"source asterisk: {path} ({what}) not found; the Debian packages are missing. "
                f"Install them with `sudo {APT}`"
            )


def prompt_texts(texts: Path = TEXTS, min_words: int = 1) -> list[tuple[int, str, str]]:
    """The prompts of ``core-sounds-en.txt.gz``: (line number, prompt name, text)."""
    with (
        open_regular(texts, "rb") as raw,
        gzip.open(raw, "rt", encoding="utf-8", errors="replace") as f,
    ):
        lines = f.read().splitlines()
    out = []
    for number, line in enumerate(lines, start=1):
        name, sep, text = line.partition(":")
        text = text.strip()
        # Comments (;), tones ([beep]), silences ((2 seconds of silence)) and one-word
        # prompts are not useful speech.
        if not sep or line.startswith(";") or not text or text.startswith(("[", "(")):
            continue
        if len(text.split()) >= min_words:
            out.append((number, name.strip(), text))
    return out


def prepare_asterisk(
    spec: AsteriskSource,
    ctx: PrepareContext | None = None,
    sounds: Path = SOUNDS,
    texts: Path = TEXTS,
) -> SourceRows:
    """Prompts with at least ``spec.min_words`` words; ``limit`` draws a seeded sample."""
    _check(sounds, texts)
    out = SourceRows()
    for number, name, text in prompt_texts(texts, spec.min_words):
        audio = sounds / f"{name.strip()}.wav"
        if not audio.is_file():
            continue
        out.candidates.append(
            Candidate(
                origin=f"{texts}:{number}",
                audio=audio,
                text=text,
                id=f"asterisk-{name.strip().replace('/', '-')}",
                speaker="asterisk-allison",
                lang="en",
                domain="general",
                collection=COLLECTION,
            )
        )
    if spec.limit and len(out.candidates) > spec.limit:
        picked = random.Random(spec.seed).sample(range(len(out.candidates)), spec.limit)
        out.candidates = [out.candidates[i] for i in sorted(picked)]
    return out


def fingerprint_asterisk(
    spec: AsteriskSource,
    ctx: PrepareContext | None = None,
    sounds: Path = SOUNDS,
    texts: Path = TEXTS,
) -> str:
    _check(sounds, texts)
    return file_digest(texts) + str(sorted(p.name for p in sounds.rglob("*.wav")))
