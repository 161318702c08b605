"""``source: speak``: everyday sentences spoken by local voices.

Replay from many voices without recordings, or a user's own everyday sentences: the domain
sentences an adapter trains on come from a handful of synthetic voices, and everyday sentences
said by those voices (with distillation) tell it to leave non-domain speech as the base model
writes it, whatever the voice. On the medical recipe this did not carry over to real speakers
(README, Training: the general set rose as much as without it).

``texts`` is a UTF-8 text file of a sentence a line (``#`` comments); without it, the Asterisk
prompts' texts (Debian ``asterisk-core-sounds-en``, text only: none of its recordings). Voices
take turns; the rate is drawn per sentence; clips share the synth source's cache.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from workbench.data.candidates import Candidate, PrepareContext, SourceError, SourceRows
from workbench.data.progress import Tally
from workbench.data.sources._files import file_digest
from workbench.data.sources.asterisk import APT, TEXTS, prompt_texts
from workbench.data.sources.synth import SYNTH_VERSION, staged_clip
from workbench.fileio import read_regular_text
from workbench.recipe import SpeakSource
from workbench.schema import to_data


def _texts_path(spec: SpeakSource) -> Path:
    path = Path(spec.texts) if spec.texts else TEXTS
    if not path.is_file():
        hint = "" if spec.texts else f" (the Asterisk prompts' texts); install it with `sudo {APT}`"
        raise SourceError(f"source speak: texts: {path} not found{hint}")
    return path


def sentences_of(spec: SpeakSource) -> list[str]:
    """The sentences the source speaks, in file order, before ``limit``."""
    path = _texts_path(spec)
    if not spec.texts:
        lines = [text for _, _, text in prompt_texts(path, spec.min_words)]
    else:
        try:
            raw = read_regular_text(path)
        except UnicodeDecodeError:
            raise SourceError(
                f"source speak: texts {path}: expected UTF-8 text, a sentence a line"
            ) from None
        except OSError as exc:
            raise SourceError(f"source speak: texts {path}: {exc}") from None
        lines = [line.strip() for line in raw.splitlines()]
        lines = [t for t in lines if t and not t.startswith("#")]
        lines = [t for t in lines if len(t.split()) >= spec.min_words]
    seen: set[str] = set()
    out = []
    for text in lines:
        if text.casefold() not in seen:
            seen.add(text.casefold())
            out.append(text)
    if not out:
        raise SourceError(
            f"source speak: texts {path}: no sentence of at least {spec.min_words} word(s)"
        )
    return out


def prepare_speak(spec: SpeakSource, ctx: PrepareContext) -> SourceRows:
    """Speak the sentences into the staging folder; ``limit`` draws a seeded sample."""
    sentences = sentences_of(spec)
    rng = random.Random(f"{spec.seed}:speak")
    if spec.limit and spec.limit < len(sentences):
        picked = rng.sample(range(len(sentences)), spec.limit)
        sentences = [sentences[i] for i in sorted(picked)]
    tag = hashlib.sha1(f"{spec.texts}|{spec.voices}".encode()).hexdigest()[:6]
    prefix = f"speak-{spec.seed}-{tag}"
    folder = ctx.staging / "audio" / prefix
    folder.mkdir(parents=True, exist_ok=True)
    out = SourceRows()
    tally = Tally("synthesised", len(sentences), ctx.where or "speak", ctx.log, ctx.progress)
    for index, text in enumerate(sentences):
        voice = spec.voices[index % len(spec.voices)]
        rate = round(rng.uniform(spec.min_rate, spec.max_rate), 3)
        clip_id = f"{prefix}-{index:05d}"
        target = staged_clip(voice, rate, text, folder / f"{clip_id}.flac", "speak")
        out.candidates.append(
            Candidate(
                origin=f"speak {spec.texts or 'asterisk texts'} #{index} ({voice}, rate {rate})",
                audio=target,
                text=text,
                id=clip_id,
                speaker=voice,
                lang=ctx.language or "en",
                domain="general",
            )
        )
        tally(index + 1)
    return out


def fingerprint_speak(spec: SpeakSource, ctx: PrepareContext | None = None) -> str:
    parts = [json.dumps(to_data(spec), sort_keys=True), str(SYNTH_VERSION)]
    parts.append(file_digest(_texts_path(spec)))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()
