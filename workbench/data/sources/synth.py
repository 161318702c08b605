"""``source: synth``: sentences from the pack's templates and terms, spoken by local voices.

Every term of the lexicon (or of the chosen categories) gets ``per_term`` sentences; voices
take turns, and the speaking rate is drawn per sentence from ``min_rate``..``max_rate``. The
``limit`` keeps an even spread of the sentences over the terms. The
``heldout`` split uses only the held-out templates and avoids the term combinations of the
training sentences. The same seed gives the same sentences, voices and rates; clips are
cached by (voice, rate, spoken text), so a second preparation synthesizes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from workbench.audio import SAMPLE_RATE
from workbench.data.candidates import Candidate, PrepareContext, SourceError, SourceRows
from workbench.data.progress import Tally
from workbench.data.sources._files import file_digest
from workbench.data.templates import (
    Sentence,
    TemplateError,
    carriers,
    fill,
    load_templates,
    pick,
)
from workbench.data.tts import VoiceError, get_voice
from workbench.paths import workbench_home
from workbench.recipe import SynthSource
from workbench.schema import to_data

SYNTH_VERSION = 1
MAX_TRIES = 30


def _templates_path(spec: SynthSource, ctx: PrepareContext | None) -> Path:
    if spec.templates:
        return Path(spec.templates)
    if ctx is None or ctx.pack_dir is None:
        raise SourceError("source synth: no templates; set 'templates' or a 'domain' pack")
    return ctx.pack_dir / "templates.txt"


def sentences_for(spec: SynthSource, ctx: PrepareContext) -> list[Sentence]:
    """The sentences a synth source speaks (no audio): deterministic for ``spec.seed``."""
    if ctx.lexicon is None:
        raise SourceError("source synth: the recipe has no lexicon (set lexicon.path or a domain)")
    section = "train" if spec.split == "train" else "heldout"
    path = _templates_path(spec, ctx)
    try:
        # Checked against the lexicon below: a template whose categories this lexicon
        # lacks (a pack's {drug} with a user's plain term list) is left out, not an error.
        templates = [t for t in load_templates(path) if t.section == section]
    except TemplateError as exc:
        raise SourceError(f"source synth: {exc}") from None
    by_category, unfillable = carriers(templates, ctx.lexicon)
    if unfillable:
        lacking = {c for t in unfillable for c in t.categories} - set(ctx.lexicon.categories())
        names = sorted(lacking)
        ctx.log(
            f"synth {section}: {len(unfillable)} template(s) of {path.name} name categories "
            f"the lexicon lacks ({', '.join(names)}); left out"
        )
    rng = random.Random(f"{spec.seed}:{section}")
    terms = [t for t in ctx.lexicon if not spec.categories or t.category in spec.categories]
    out: list[Sentence] = []
    seen: set[str] = set()
    skipped = 0
    heldout = spec.split == "heldout"
    for term in terms:
        usable = by_category.get(term.category, [])
        if not usable:
            skipped += 1
            continue
        for _ in range(spec.per_term):
            for _ in range(MAX_TRIES):
                sentence = fill(pick(usable, rng), ctx.lexicon, rng, fixed=term)
                key = sentence.written.casefold()
                combo = frozenset(sentence.terms)
                if key in seen or (heldout and key in ctx.avoid_sentences):
                    continue
                if heldout and len(combo) > 1 and combo in ctx.avoid_term_sets:
                    continue
                break
            else:
                continue  # no new sentence for this term: the templates are exhausted
            seen.add(key)
            out.append(sentence)
    if skipped:
        ctx.log(
            f"synth {section}: {skipped} term(s) have no [{section}] template for their "
            "category, nor a generic {term} one"
        )
    return out


def cached_clip(voice_name: str, rate: float, spoken: str) -> Path:
    """``spoken`` said by the voice at ``rate``, as 16 kHz FLAC in the workbench's voice cache."""
    key = hashlib.sha256(f"{SYNTH_VERSION}|{voice_name}|{rate:.4f}|{spoken}".encode()).hexdigest()
    path = workbench_home() / "tts" / key[:2] / f"{key[:32]}.flac"
    if path.is_file():
        return path
    audio, rate_hz = get_voice(voice_name).synthesize(spoken, rate)
    if rate_hz != SAMPLE_RATE:
        audio = soxr.resample(audio, rate_hz, SAMPLE_RATE, quality="HQ").astype(np.float32)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 0:
        audio = audio * (0.5 / peak)  # the same level for every voice
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".flac", dir=path.parent)
    os.close(fd)
    try:
        sf.write(tmp, audio, SAMPLE_RATE, format="FLAC")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def staged_clip(voice: str, rate: float, said: str, target: Path, source: str) -> Path:
    """The cached clip of ``said`` copied to ``target`` (a preparation's staging folder)."""
    try:
        cached = cached_clip(voice, rate, said)
    except VoiceError as exc:
        raise SourceError(f"source {source}: {exc}") from None
    shutil.copyfile(cached, target)
    return target


def prepare_synth(spec: SynthSource, ctx: PrepareContext) -> SourceRows:
    """Synthesize the sentences into the staging folder and return them as candidates."""
    sentences = sentences_for(spec, ctx)
    if spec.limit and spec.limit < len(sentences):
        # An even spread over the terms (the list runs term by term, category by category).
        step = len(sentences) / spec.limit
        sentences = [sentences[int(i * step)] for i in range(spec.limit)]
    rng = random.Random(f"{spec.seed}:{spec.split}:voices")
    # Two sources of one split may differ only in their voices: keep their ids apart.
    tag = hashlib.sha1(f"{spec.voices}|{spec.speak}".encode()).hexdigest()[:6]
    prefix = f"synth-{spec.split}-{spec.seed}-{tag}"
    folder = ctx.staging / "audio" / prefix
    folder.mkdir(parents=True, exist_ok=True)
    out = SourceRows()
    tally = Tally("synthesised", len(sentences), ctx.where or f"synth {spec.split}", ctx.log,
                  ctx.progress)  # fmt: skip
    for index, sentence in enumerate(sentences):
        voice = spec.voices[index % len(spec.voices)]
        rate = round(rng.uniform(spec.min_rate, spec.max_rate), 3)
        said = sentence.written if spec.speak == "written" else sentence.spoken
        clip_id = f"{prefix}-{index:05d}"
        target = staged_clip(voice, rate, said, folder / f"{clip_id}.flac", "synth")
        out.candidates.append(
            Candidate(
                origin=f"synth {spec.split} #{index} ({sentence.template}, {voice}, rate {rate})",
                audio=target,
                text=sentence.written,
                id=clip_id,
                speaker=voice,
                lang=ctx.language or "en",
                domain=ctx.pack_dir.name if ctx.pack_dir else None,
            )
        )
        tally(index + 1)
    return out


def fingerprint_synth(spec: SynthSource, ctx: PrepareContext | None = None) -> str:
    parts = [json.dumps(to_data(spec), sort_keys=True), str(SYNTH_VERSION)]
    parts.append(file_digest(_templates_path(spec, ctx)))
    if ctx is not None and ctx.lexicon is not None and ctx.lexicon.path:
        parts.append(file_digest(Path(ctx.lexicon.path)))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()
