"""Known misrecognitions rewritten to their term after decoding (a display-as map).

The lexicon's ``misrecognitions`` column lists what a model writes for a term ("Van Comecin"
for "Vancomycin"). :class:`Rewriter` replaces each, matched whole words and ignoring case (in
scripts written without spaces: as a run of characters), by its term, keeping the case of
what it replaces: a capitalised misrecognition gives a capitalised term, an all-capitals one
an all-capitals term; a term written with capitals (an abbreviation, a name) stays as written.
Given a :class:`~workbench.decoding.snap.NearMissSnapper`, it then rewrites near misses of the
terms too (``lexicon.near_miss``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from workbench.lexicon import Lexicon

if TYPE_CHECKING:
    from workbench.decoding.snap import NearMissSnapper


def keep_case(found: str, term: str) -> str:
    """``term`` in the case of ``found`` (see module doc)."""
    if term != term.lower():
        return term
    letters = [c for c in found if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return term.upper()
    if letters and letters[0].isupper():
        return term[:1].upper() + term[1:]
    return term


class Rewriter:
    """Rewrites the lexicon's known misrecognitions to their terms."""

    def __init__(
        self, lexicon: Lexicon, *, spaced: bool = True, snap: NearMissSnapper | None = None
    ) -> None:
        self.snap = snap if spaced else None
        self._target: dict[str, str] = {}
        for term in lexicon.terms:
            for wrong in term.misrecognitions:
                key = " ".join(wrong.casefold().split())
                # A misrecognition that is itself a term (or listed twice) is left alone.
                if key and lexicon.get(wrong) is None and key not in self._target:
                    self._target[key] = term.term
        parts = sorted(self._target, key=len, reverse=True)
        body = "|".join(r"\s+".join(map(re.escape, p.split())) for p in parts)
        source = rf"(?<!\w)(?:{body})(?!\w)" if spaced else f"(?:{body})"
        self._pattern = re.compile(source, re.IGNORECASE) if parts else None

    def __len__(self) -> int:
        return len(self._target)

    def rewrite(self, text: str) -> tuple[str, int]:
        """``text`` with every known misrecognition replaced (then its near misses, given a
        snapper), and how many were replaced."""
        text, known = self._known(text)
        if self.snap is None:
            return text, known
        text, near = self.snap.snap(text)
        return text, known + near

    def _known(self, text: str) -> tuple[str, int]:
        if self._pattern is None:
            return text, 0

        def replace(match: re.Match[str]) -> str:
            found = match.group(0)
            return keep_case(found, self._target[" ".join(found.casefold().split())])

        return self._pattern.subn(replace, text)

    def __call__(self, text: str) -> str:
        return self.rewrite(text)[0]
