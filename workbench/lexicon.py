"""A domain's terminology: terms, how they are said, categories, known misrecognitions.

A ``lexicon.tsv`` has a header row and one term a row (``#`` starts a comment line)::

    term        spoken                  category    misrecognitions
    metoprolol  meh TOE pro lol         drug        meta prolol|metoprolo
    mg          milligrams              unit

``spoken`` and ``misrecognitions`` hold alternatives separated by ``|``; an empty ``spoken``
means the term is said as written. The lexicon makes synthetic sentences, biases decoding
(:meth:`Lexicon.prompt_text`), and scores term recall (:meth:`Lexicon.find_terms`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from workbench.fileio import SpecialFileError, read_regular_bytes

COLUMNS = ("term", "spoken", "category", "misrecognitions")
REQUIRED = ("term", "category")
# Languages written without spaces between words: terms match as runs of characters.
UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "km", "bo", "yue"})


class LexiconError(ValueError):
    """A lexicon file with problems; each line of the message names file and row."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Term:
    """One entry of a lexicon."""

    term: str
    category: str
    spoken: tuple[str, ...] = ()
    misrecognitions: tuple[str, ...] = ()
    line: int = 0

    @property
    def spoken_forms(self) -> tuple[str, ...]:
        """How the term is said: its spoken forms, or the term itself."""
        return self.spoken or (self.term,)


class Lexicon:
    """The terms of a domain, in file order."""

    def __init__(self, terms: Iterable[Term], path: str | None = None) -> None:
        self.terms = list(terms)
        self.path = path
        self._by_term = {t.term.casefold(): t for t in self.terms}
        self._pattern: tuple[bool, re.Pattern[str]] | None = None  # built on first spans()
        # (normalizer, spaced) -> automaton over the normalized terms, built on first use
        self._indexes: dict[tuple[Callable[[str], str], bool], TermIndex] = {}

    def __len__(self) -> int:
        return len(self.terms)

    def __iter__(self):
        return iter(self.terms)

    def get(self, term: str) -> Term | None:
        return self._by_term.get(term.casefold())

    def categories(self) -> list[str]:
        """Categories in order of first appearance."""
        return list(dict.fromkeys(t.category for t in self.terms))

    def by_category(self, category: str) -> list[Term]:
        return [t for t in self.terms if t.category == category]

    def prompt_text(self, max_chars: int = 600, categories: Iterable[str] | None = None) -> str:
        """Terms as a comma-separated prompt for biasing decoding.

        Whisper's prompt shares the decoder's 448 positions with the transcript, so the
        prompt is cut at ``max_chars`` (about a quarter of the positions by default).
        """
        wanted = set(categories) if categories is not None else None
        out: list[str] = []
        size = 0
        for term in self.terms:
            if wanted is not None and term.category not in wanted:
                continue
            if size + len(term.term) + 2 > max_chars:
                break
            out.append(term.term)
            size += len(term.term) + 2
        return ", ".join(out)

    def find_terms(
        self, text: str, normalize: Callable[[str], str], *, spaced: bool = True
    ) -> list[Term]:
        """The terms that occur in ``text``, both normalized.

        In ``spaced`` scripts a term must match whole words in sequence ("statin" is not
        found in "atorvastatin"); in scripts written without spaces (Chinese, Japanese,
        Thai) it must match a run of characters.
        """
        key = (normalize, spaced)
        index = self._indexes.get(key)
        if index is None:
            # Terms are normalized once per normalizer, not once per sentence; the search
            # then takes time linear in the text, whatever the size of the lexicon.
            if len(self._indexes) >= 4:  # a few normalizers at a time (one per evaluation)
                self._indexes.pop(next(iter(self._indexes)))
            index = self._indexes[key] = TermIndex(
                [_tokens(normalize(t.term), spaced) for t in self.terms]
            )
        found = index.search(_tokens(normalize(text), spaced))
        return [self.terms[i] for i in sorted(found)]

    def spans(self, text: str, *, spaced: bool = True) -> list[tuple[int, int]]:
        """Where the terms are written in ``text``: ``(start, end)`` character offsets.

        Matching ignores case; in ``spaced`` scripts a term must be whole words (any run of
        spaces between them), as in :meth:`find_terms`. Longer terms win over the terms
        inside them ("insulin glargine" over "insulin"); spans do not overlap.
        """
        if self._pattern is None or self._pattern[0] != spaced:
            parts = sorted({t.term.strip() for t in self.terms if t.term.strip()}, key=len)
            alternatives = [r"\s+".join(map(re.escape, p.split())) for p in reversed(parts)]
            body = "|".join(alternatives) or r"(?!)"
            source = rf"(?<!\w)(?:{body})(?!\w)" if spaced else f"(?:{body})"
            self._pattern = (spaced, re.compile(source, re.IGNORECASE))
        return [m.span() for m in self._pattern[1].finditer(text)]


def _tokens(normalized: str, spaced: bool) -> list[str] | str:
    """Words in spaced scripts; otherwise the characters, spaces dropped."""
    return normalized.split() if spaced else "".join(normalized.split())


class TermIndex:
    """An Aho-Corasick automaton over token sequences (words, or characters).

    Built once from the normalized terms; :meth:`search` reports every term that occurs as
    a contiguous run of tokens in one pass over the text, in time linear in the text (plus
    the matches), independent of how many terms there are. An empty term never matches.
    """

    def __init__(self, patterns: list[list[str] | str]) -> None:
        self._goto: list[dict[str, int]] = [{}]
        self._fail: list[int] = [0]
        self._out: list[list[int]] = [[]]  # terms ending at a state (own)
        self._link: list[int] = [-1]  # nearest state down the fail chain that ends a term
        for number, pattern in enumerate(patterns):
            if not pattern:
                continue
            state = 0
            for token in pattern:
                nxt = self._goto[state].get(token)
                if nxt is None:
                    nxt = len(self._goto)
                    self._goto[state][token] = nxt
                    self._goto.append({})
                    self._fail.append(0)
                    self._out.append([])
                    self._link.append(-1)
                state = nxt
            self._out[state].append(number)
        queue = list(self._goto[0].values())
        for state in queue:  # breadth first: a state's fail target is built before it
            for token, child in self._goto[state].items():
                queue.append(child)
                fall = self._fail[state]
                while fall and token not in self._goto[fall]:
                    fall = self._fail[fall]
                target = self._goto[fall].get(token, 0)
                self._fail[child] = target if target != child else 0
                fallback = self._fail[child]
                self._link[child] = fallback if self._out[fallback] else self._link[fallback]

    def search(self, tokens: list[str] | str) -> set[int]:
        """Numbers (positions in the list given) of the terms found in ``tokens``."""
        found: set[int] = set()
        state, goto, fail = 0, self._goto, self._fail
        for token in tokens:
            while state and token not in goto[state]:
                state = fail[state]
            state = goto[state].get(token, 0)
            probe = state if self._out[state] else self._link[state]
            while probe > 0:
                if self._out[probe]:
                    if self._out[probe][0] in found:
                        break  # this state and those below it were reported already
                    found.update(self._out[probe])
                probe = self._link[probe]
        return found


def _split_alternatives(cell: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (cell or "").split("|") if p.strip())


def load_lexicon(path: str | Path) -> Lexicon:
    """Read and check a ``lexicon.tsv``.

    Raises:
        LexiconError: listing every problem (missing columns, empty cells, duplicate terms,
            non-UTF-8 bytes), each with file and line.
    """
    path = Path(path)
    try:
        raw = read_regular_bytes(path)
        text = raw.decode("utf-8-sig")
    except SpecialFileError as exc:
        raise LexiconError([str(exc)]) from None
    except FileNotFoundError:
        raise LexiconError([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise LexiconError([f"{path}: is a folder, expected a lexicon.tsv file"]) from None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LexiconError([f"{path}:{line}: not UTF-8 text (byte {exc.start})"]) from None

    problems: list[str] = []
    rows = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not rows:
        raise LexiconError([f"{path}: empty; expected a header row ({chr(9).join(COLUMNS)})"])
    header_line, header = rows[0]
    columns = [c.strip().lower() for c in header.split("\t")]
    missing = [c for c in REQUIRED if c not in columns]
    unknown = [c for c in columns if c not in COLUMNS]
    if missing or unknown:
        problems.append(
            f"{path}:{header_line}: header must name the tab-separated columns "
            f"{', '.join(COLUMNS)} (term and category required); "
            f"missing {missing or 'none'}, unknown {unknown or 'none'}"
        )
        raise LexiconError(problems)

    terms: list[Term] = []
    seen: dict[str, int] = {}
    for number, line in rows[1:]:
        cells = next(csv.reader(io.StringIO(line), delimiter="\t", quoting=csv.QUOTE_NONE))
        if len(cells) > len(columns):
            problems.append(
                f"{path}:{number}: {len(cells)} tab-separated cells, the header has {len(columns)}"
            )
            continue
        row = dict(zip(columns, [c.strip() for c in cells], strict=False))
        term, category = row.get("term", ""), row.get("category", "")
        if not term:
            problems.append(f"{path}:{number}: empty term")
            continue
        if not category:
            problems.append(f"{path}:{number}: term {term!r} has no category")
            continue
        key = term.casefold()
        if key in seen:
            problems.append(f"{path}:{number}: duplicate term {term!r} (first on line {seen[key]})")
            continue
        seen[key] = number
        terms.append(
            Term(
                term=term,
                category=category,
                spoken=_split_alternatives(row.get("spoken")),
                misrecognitions=_split_alternatives(row.get("misrecognitions")),
                line=number,
            )
        )
    if problems:
        raise LexiconError(problems)
    return Lexicon(terms, str(path))
