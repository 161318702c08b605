"""The term gate: the adapter's transcript only where it changes a lexicon term.

An adapter trained on domain speech writes the domain's terms better and may write everyday
speech worse. The gate keeps everyday speech intact by construction: for each clip it takes
the base model's transcript unless the adapted model's transcript differs from it on the
lexicon's terms (it writes a term the base did not, or drops one the base wrote), and then
the adapted transcript. With a decoder-only adapter both systems share one encoder pass, so
the gate costs a second decoder pass, not a second model run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from workbench.lexicon import Lexicon

# The gated systems of a report: each name's (base side, adapted side). The gated boost
# takes both sides with the lexicon boost, so the boost's own slips in everyday speech (a
# term written where none was said) only pass where the adapter changes a term as well.
GATED = {
    "adapted_gated": ("base", "adapted"),
    "adapted_gated_boost": ("base_boost", "adapted_boost"),
}

if TYPE_CHECKING:
    import numpy as np

    from workbench.transcribe import AdapterSet, Transcriber


def terms_in(text: str, lexicon: Lexicon, normalize: Callable[[str], str], spaced: bool) -> set:
    """The lexicon terms written in ``text`` (whole words in spaced scripts)."""
    return {t.term for t in lexicon.find_terms(text, normalize, spaced=spaced)}


def gate(
    base: Sequence[str],
    adapted: Sequence[str],
    lexicon: Lexicon,
    normalize: Callable[[str], str],
    *,
    spaced: bool = True,
) -> tuple[list[str], list[bool]]:
    """Per clip, the adapted transcript where its lexicon terms differ from the base's, else
    the base transcript. Returns the transcripts and, per clip, whether the adapted one won."""
    if len(base) != len(adapted):
        raise ValueError(f"{len(base)} base transcripts but {len(adapted)} adapted ones")
    out, took = [], []
    for b, a in zip(base, adapted, strict=True):
        use = terms_in(a, lexicon, normalize, spaced) != terms_in(b, lexicon, normalize, spaced)
        out.append(a if use else b)
        took.append(use)
    return out, took


class TermGate:
    """Transcribes with the base model and one adapter, keeping the adapter's transcript only
    where it changes a lexicon term (:func:`gate`).

    ``transcriber`` decodes (its settings and logits processors apply to both systems);
    ``adapters`` is the :class:`~workbench.transcribe.AdapterSet` holding ``name``. With an
    adapter that leaves the encoder alone, both systems share one encoder pass per clip.
    ``rewrite`` (the lexicon's misrecognition rewrite, with the boost) is applied to both
    transcripts before they are compared, as the report's ``adapted_gated_boost`` does.
    """

    def __init__(
        self,
        transcriber: Transcriber,
        adapters: AdapterSet,
        name: str,
        lexicon: Lexicon,
        *,
        spaced: bool = True,
        rewrite: Callable[[str], str] | None = None,
    ) -> None:
        from workbench.evaluate.normalize import get_normalizer

        self.transcriber, self.adapters, self.name = transcriber, adapters, name
        self.lexicon, self.spaced, self.rewrite = lexicon, spaced, rewrite
        self.normalize = get_normalizer(transcriber.options.language or "en")
        from workbench.export.adapter_check import read_adapter_info, touches_encoder

        config = read_adapter_info(adapters.folders[name])["config"]
        self.share_encoder = not touches_encoder(config)
        self.clips = self.adapted_taken = 0

    def transcribe_arrays(self, audios: Sequence[np.ndarray]) -> list[str]:
        """One text per clip: the adapter's where it changes a term, else the base model's."""
        from workbench.transcribe import EncoderCache

        cache = EncoderCache() if self.share_encoder else None
        with self.adapters.using(None):
            base = self.transcriber.transcribe_arrays(audios, cache)
        with self.adapters.using(self.name):
            adapted = self.transcriber.transcribe_arrays(audios, cache)
        if self.rewrite is not None:
            base, adapted = [self.rewrite(t) for t in base], [self.rewrite(t) for t in adapted]
        texts, took = gate(base, adapted, self.lexicon, self.normalize, spaced=self.spaced)
        self.clips += len(texts)
        self.adapted_taken += sum(took)
        return texts
