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
        if spaced:
            words = normalize(text).split()
            return [t for t in self.terms if _contains(words, normalize(t.term).split())]
        joined = "".join(normalize(text).split())
        return [t for t in self.terms if (n := "".join(normalize(t.term).split())) and n in joined]

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


def _contains(words: list[str], needle: list[str]) -> bool:
    n = len(needle)
    if n == 0:
        return False
    return any(words[i : i + n] == needle for i in range(len(words) - n + 1))


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
