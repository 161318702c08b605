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

from workbench.lexicon import Lexicon


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
