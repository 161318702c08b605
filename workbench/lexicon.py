"""A domain's terminology: terms, how they are said, categories, known misrecognitions.

A ``lexicon.tsv`` has a header row and one term a row (``#`` starts a comment line)::

    term        spoken                  category    misrecognitions
    metoprolol  meh TOE pro lol         drug        meta prolol|metoprolo
    mg          milligrams              unit

``spoken`` and ``misrecognitions`` hold alternatives separated by ``|``; an empty ``spoken``
means the term is said as written. An optional ``weight`` column scales the term's decoding
boost (a number, 1 when empty; 0 leaves the term unboosted). Also read: the same columns in a
CSV file (``term`` required, the others optional), and a plain list, one term a line, with no
header. A term without a category column is of category ``term``, which templates fill with
``{term}``.

The lexicon makes synthetic sentences, biases decoding (:meth:`Lexicon.prompt_text`,
``workbench.decoding``), and scores term recall (:meth:`Lexicon.find_terms`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from workbench.fileio import SpecialFileError, read_regular_bytes
from workbench.lexicon_text import cell_problem, lookalike_note, skeleton

COLUMNS = ("term", "spoken", "category", "misrecognitions", "weight")
REQUIRED = ("term",)
DEFAULT_CATEGORY = "term"  # of terms from a plain list, or a table without a category column
# Languages written without spaces between words: terms match as runs of characters.
UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "km", "bo", "yue"})
MAX_LINE_CHARS = 4096  # a row of a lexicon; longer is not a term (and breaks csv's limit)


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
    weight: float = 1.0  # scales the decoding boost of this term

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


def _header(line: str) -> tuple[str | None, list[str]]:
    """The delimiter and lower-case column names of a header line naming ``term``."""
    for delimiter in ("\t", ","):
        cells = next(csv.reader(io.StringIO(line), delimiter=delimiter))
        names = [c.strip().lower() for c in cells]
        if "term" in names:
            return delimiter, names
    return None, []


def _table_rows(text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """``(line, cells)`` of every non-empty, non-comment row (TSV unquoted, CSV quoted)."""
    if delimiter == "\t":
        return [
            (n, next(csv.reader(io.StringIO(line), delimiter="\t", quoting=csv.QUOTE_NONE)))
            for n, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
    out = []
    reader = csv.reader(io.StringIO(text))
    for cells in reader:
        if any(c.strip() for c in cells) and not cells[0].lstrip().startswith("#"):
            out.append((reader.line_num, cells))
    return out


def _parse_weight(cell: str | None) -> float | None:
    """A ``weight`` cell: 1 when empty, else a number from 0 to 100; None when it is not."""
    if not cell:
        return 1.0
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if 0 <= value <= 100 else None


def load_lexicon(path: str | Path) -> Lexicon:
    """Read and check a lexicon: a ``lexicon.tsv``, a CSV with named columns, or a list.

    The first row that is not a comment decides: a header naming ``term`` (tab- or
    comma-separated) makes a table; a row without tabs (or commas, in a ``.csv``) makes a
    one-term-a-line list, every term of category ``term``.

    Raises:
        LexiconError: listing every problem (a header without ``term`` or with unknown
            columns, empty cells, duplicate terms, non-UTF-8 bytes), each with file and line.
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
        raise LexiconError([f"{path}: is a folder, expected a lexicon file"]) from None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LexiconError([f"{path}:{line}: not UTF-8 text (byte {exc.start})"]) from None

    lines = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    too_long = [
        f"{path}:{number}: line of {len(line)} characters; a lexicon row may have at most "
        f"{MAX_LINE_CHARS}"
        for number, line in lines
        if len(line) > MAX_LINE_CHARS
    ]
    if too_long:
        raise LexiconError(too_long)
    if not lines:
        raise LexiconError(
            [
                f"{path}: empty; expected a header row ({chr(9).join(COLUMNS)}) and a term a "
                "row, or one term a line"
            ]
        )
    header_line, header = lines[0]
    delimiter, columns = _header(header)
    if delimiter is None:
        if "\t" in header or (path.suffix.lower() == ".csv" and "," in header):
            sep = "tab" if "\t" in header else "comma"
            raise LexiconError(
                [
                    f"{path}:{header_line}: a {sep}-separated table needs a header row naming "
                    f"its columns from {', '.join(COLUMNS)} (term required); got {header!r}. "
                    "A plain list has one term a line and no header"
                ]
            )
        return _plain_list(path, lines)
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        sep = "tab" if delimiter == "\t" else "comma"
        raise LexiconError(
            [
                f"{path}:{header_line}: header must name the {sep}-separated columns "
                f"{', '.join(COLUMNS)} (term required, the others optional); "
                f"unknown {unknown}"
            ]
        )
    return _table(path, columns, _table_rows(text, delimiter)[1:], delimiter)


def _duplicate(seen: dict[str, tuple[int, str]], term: str, number: int) -> str | None:
    """Why ``term`` duplicates an earlier term (the same, or a look-alike); records it if not."""
    key = skeleton(term)
    if key not in seen:
        seen[key] = (number, term)
        return None
    first, other = seen[key]
    if term.casefold() == other.casefold():
        return f"duplicate term {term!r} (first on line {first})"
    return (
        f"term {term!r} looks the same as {other!r} on line {first}"
        f"{lookalike_note(term, other)}; a look-alike duplicate"
    )


def _plain_list(path: Path, lines: list[tuple[int, str]]) -> Lexicon:
    """One term a line, each of category ``term``, said as written."""
    problems: list[str] = []
    terms: list[Term] = []
    seen: dict[str, tuple[int, str]] = {}  # what a term looks like -> (line, term)
    for number, line in lines:
        term = line.strip()
        if "\t" in term:
            problems.append(
                f"{path}:{number}: a tab in a one-term-a-line list; give the file a header "
                f"row ({chr(9).join(COLUMNS)}) to use columns"
            )
            continue
        if problem := cell_problem(term, "term") or _duplicate(seen, term, number):
            problems.append(f"{path}:{number}: {problem}")
            continue
        terms.append(Term(term=term, category=DEFAULT_CATEGORY, line=number))
    if problems:
        raise LexiconError(problems)
    return Lexicon(terms, str(path))


def _table(
    path: Path, columns: list[str], rows: list[tuple[int, list[str]]], delimiter: str
) -> Lexicon:
    problems: list[str] = []
    terms: list[Term] = []
    seen: dict[str, tuple[int, str]] = {}  # what a term looks like -> (line, term)
    kind = "tab-separated" if delimiter == "\t" else "comma-separated"
    for number, cells in rows:
        if len(cells) > len(columns):
            problems.append(
                f"{path}:{number}: {len(cells)} {kind} cells, the header has {len(columns)}"
            )
            continue
        row = dict(zip(columns, [c.strip() for c in cells], strict=False))
        term = row.get("term", "")
        category = row.get("category", "") if "category" in columns else DEFAULT_CATEGORY
        if not term:
            problems.append(f"{path}:{number}: empty term")
            continue
        if not category:
            problems.append(f"{path}:{number}: term {term!r} has no category")
            continue
        bad = [p for c in COLUMNS if (p := cell_problem(row.get(c) or "", c))]
        if bad:
            problems.append(f"{path}:{number}: term {term!r}: {bad[0]}")
            continue
        if duplicate := _duplicate(seen, term, number):
            problems.append(f"{path}:{number}: {duplicate}")
            continue
        weight = _parse_weight(row.get("weight"))
        if weight is None:
            problems.append(
                f"{path}:{number}: term {term!r}: weight {row.get('weight')!r} is not a number "
                "from 0 to 100"
            )
            continue
        terms.append(
            Term(
                term=term,
                category=category,
                spoken=_split_alternatives(row.get("spoken")),
                misrecognitions=_split_alternatives(row.get("misrecognitions")),
                line=number,
                weight=weight,
            )
        )
    if problems:
        raise LexiconError(problems)
    return Lexicon(terms, str(path))
