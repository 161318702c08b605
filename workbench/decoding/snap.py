"""Near misses of a lexicon term rewritten to the term after decoding.

A model that has half learnt a term often writes it a letter or two off ("deloxetine" for
duloxetine, "dibigatran" for dabigatran) or split at a syllable ("ticagrel or", "app
indexomy"). :class:`NearMissSnapper` finds such spellings and writes the term in their place,
the way a spelling checker with the domain's dictionary would, under rules that keep everyday
speech alone:

- **Close in spelling.** A run of one word to one more than the term has, compared on its
  letters and digits in lower case, must have a similarity of at least ``min_similarity`` to
  the term (1 - Levenshtein distance / the longer length; "deloxetine" to "duloxetine" 0.9,
  "meodarone" to "amiodarone" 0.8) and a length within 30 % of the term's.
- **Long terms only.** Terms of fewer than :data:`MIN_TERM_CHARS` letters and digits ("COPD",
  "GERD") are not snapped to: too many everyday words are a letter away from them.
- **Not everyday words.** A run made only of common words is never rewritten ("prednisone"
  is a term, "predicts one" is not snapped to it). A word is common when the model's
  tokenizer writes it as one token (byte-level BPE keeps whole tokens for frequent words only).
  A run that starts or ends with a common word must be closer to the term with that word than
  without it ("to meodarone" is not taken for "amiodarone"; "meodarone" is).
- **Terms already written stay.** A run never touches a term the text already holds.
- **Best first.** Candidates are taken by similarity, then length; runs do not overlap.

Spaced scripts only (a script written without spaces has no words to compare). The case of
the rewritten text follows :func:`~workbench.decoding.rewrite.keep_case`; punctuation before
and after the run is kept.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from workbench.decoding.rewrite import Rewriter, keep_case
from workbench.lexicon import Lexicon

# Terms shorter than this (letters and digits) are never snapped to.
MIN_TERM_CHARS = 6
# A run's length (letters and digits) may differ from the term's by at most this share.
MAX_LENGTH_DIFFERENCE = 0.3
# The similarity the shipped recipes use (``lexicon.near_miss``).
DEFAULT_SIMILARITY = 0.75

# English word lists, in order of preference (Debian: wamerican; set-up installs it).
WORD_LISTS = (Path("/usr/share/dict/american-english"), Path("/usr/share/dict/words"))

_WORD = re.compile(r"\S+")
_NOT_KEY = re.compile(r"[\W_]+")
_LEADING = re.compile(r"^[^\w]*")
_TRAILING = re.compile(r"[^\w]*$")


def spelling_key(text: str) -> str:
    """Letters and digits of ``text`` in lower case ("Ticagrel or," -> "ticagrelor")."""
    return _NOT_KEY.sub("", text.casefold())


@functools.cache
def dictionary_words() -> frozenset[str]:
    """The system's English word list (:data:`WORD_LISTS`, the first found) as spelling keys;
    empty where there is none."""
    for path in WORD_LISTS:
        if path.is_file():
            with open(path, encoding="utf-8", errors="replace") as f:
                return frozenset(filter(None, (spelling_key(line) for line in f)))
    return frozenset()


def common_words(tokenizer, dictionary: Collection[str] = ()) -> Callable[[str], bool]:
    """A word test: common when `` word`` (lower case, leading space) is a single token of the
    Whisper ``tokenizer``, or when ``dictionary`` (spelling keys) holds it."""
    memo: dict[str, bool] = {}

    def common(word: str) -> bool:
        key = spelling_key(word)
        if key not in memo:
            memo[key] = key in dictionary or (
                len(tokenizer.encode(" " + key, add_special_tokens=False)) == 1
            )
        return memo[key]

    return common


class NearMissSnapper:
    """Rewrites near-miss spellings of ``lexicon``'s terms to the terms (module doc)."""

    def __init__(
        self,
        lexicon: Lexicon,
        is_common: Callable[[str], bool],
        *,
        min_similarity: float = DEFAULT_SIMILARITY,
    ) -> None:
        if not 0 < min_similarity <= 1:
            raise ValueError(f"min_similarity: expected a number above 0 and at most 1, got "
                             f"{min_similarity}")  # fmt: skip
        self.lexicon = lexicon
        self.min_similarity = min_similarity
        self._common = is_common
        self._terms = [
            (term.term, key, len(term.term.split()))
            for term in lexicon.terms
            if len(key := spelling_key(term.term)) >= MIN_TERM_CHARS
        ]
        self._longest = max((n for _, _, n in self._terms), default=0) + 1

    def __len__(self) -> int:
        return len(self._terms)

    def _similarity(self, words: list[str], target: str) -> float:
        return Levenshtein.normalized_similarity(spelling_key("".join(words)), target)

    def snap(self, text: str) -> tuple[str, int]:
        """``text`` with its near misses rewritten, and how many were rewritten."""
        if not self._terms:
            return text, 0
        words = list(_WORD.finditer(text))
        held = set()  # words inside a term already written
        for start, end in self.lexicon.spans(text):
            held |= {i for i, w in enumerate(words) if w.start() < end and w.end() > start}
        found: list[tuple[float, int, int, str]] = []
        for i in range(len(words)):
            for k in range(1, self._longest + 1):
                if i + k > len(words) or held & set(range(i, i + k)):
                    break
                run = [w.group(0) for w in words[i : i + k]]
                key = spelling_key("".join(run))
                if not key or all(self._common(w) for w in run):
                    continue
                for term, target, n_words in self._terms:
                    if k > n_words + 1:
                        continue
                    if abs(len(key) - len(target)) > MAX_LENGTH_DIFFERENCE * len(target):
                        continue
                    similarity = Levenshtein.normalized_similarity(key, target)
                    if similarity < self.min_similarity:
                        continue
                    if k > 1 and (
                        (self._common(run[0]) and self._similarity(run[1:], target) >= similarity)
                        or (
                            self._common(run[-1])
                            and self._similarity(run[:-1], target) >= similarity
                        )
                    ):
                        continue  # the common word at the edge is not part of the term
                    found.append((similarity, k, i, term))
        found.sort(key=lambda c: (-c[0], -c[1], c[2]))
        taken: set[int] = set()
        chosen: list[tuple[int, int, str]] = []
        for _, k, i, term in found:
            span = set(range(i, i + k))
            if not span & taken:
                taken |= span
                chosen.append((i, k, term))
        for i, k, term in sorted(chosen, reverse=True):
            first, last = words[i], words[i + k - 1]
            lead = _LEADING.match(first.group(0)).group(0)
            # an apostrophe ending the run is part of the misspelling ("bashmin'")
            tail = _TRAILING.search(last.group(0)).group(0).lstrip("'’")
            written = lead + keep_case(first.group(0)[len(lead) :], term) + tail
            text = text[: first.start()] + written + text[last.end() :]
        return text, len(chosen)

    def __call__(self, text: str) -> str:
        return self.snap(text)[0]


def lexicon_rewriter(lexicon: Lexicon, tokenizer, *, spaced: bool, near_miss: float) -> Rewriter:
    """The rewrite step of lexicon-aware decoding: ``lexicon``'s known misrecognitions, then
    (``near_miss`` above 0) its near misses at that similarity, common words by ``tokenizer``
    and the system's word list."""
    snapper = (
        NearMissSnapper(
            lexicon, common_words(tokenizer, dictionary_words()), min_similarity=near_miss
        )
        if near_miss > 0 and spaced
        else None
    )
    return Rewriter(lexicon, spaced=spaced, snap=snapper)
