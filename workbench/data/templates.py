"""Sentence templates filled with lexicon terms, in a written and a spoken form.

A ``templates.txt`` has a ``[train]`` and a ``[heldout]`` section, one template a line
(``#`` comments). A line is the written sentence, optionally a tab and the spoken form (for
scripts a voice cannot read, e.g. Chinese characters spoken from pinyin). Slots:

- ``{category}``: a lexicon term of that category (written as the term, spoken as one of its
  spoken forms);
- ``{number:LO-HI}``: an integer, written in digits, spoken in words;
- ``{decimal:LO-HI}``: a number with one decimal, e.g. 2.5, "two point five";
- ``{digits:N}``: N digits read one by one, e.g. 407, "four zero seven".

Held-out templates are never used for training, so evaluation sentences are new sentences.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from workbench.fileio import read_regular_text
from workbench.lexicon import Lexicon, Term

SECTIONS = ("train", "heldout")
_SLOT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")
_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
GENERATED = ("number", "decimal", "digits")


class TemplateError(ValueError):
    """A templates file with problems; each names file and line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def number_words(n: int) -> str:
    """English words for 0 <= n < 1,000,000 ("two hundred fifteen")."""
    if not 0 <= n < 1_000_000:
        raise ValueError(f"number out of range: {n}")
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {number_words(rest)}" if rest else "")
    thousands, rest = divmod(n, 1000)
    return f"{number_words(thousands)} thousand" + (f" {number_words(rest)}" if rest else "")


@dataclass(frozen=True)
class Slot:
    kind: str  # a lexicon category or one of GENERATED
    arg: str | None
    start: int
    end: int


@dataclass(frozen=True)
class Template:
    written: str
    spoken: str
    section: str
    line: int
    written_slots: tuple[Slot, ...]
    spoken_slots: tuple[Slot, ...]

    @property
    def categories(self) -> set[str]:
        return {s.kind for s in self.written_slots if s.kind not in GENERATED}


@dataclass(frozen=True)
class Sentence:
    written: str
    spoken: str
    terms: tuple[str, ...]
    template: str  # "section:line"


def _slots(text: str) -> tuple[Slot, ...]:
    return tuple(Slot(m.group(1), m.group(2), m.start(), m.end()) for m in _SLOT.finditer(text))


def _check_slot(slot: Slot, lexicon: Lexicon | None) -> str | None:
    if slot.kind in ("number", "decimal"):
        m = re.fullmatch(r"(\d+(?:\.\d)?)-(\d+(?:\.\d)?)", slot.arg or "")
        if not m or float(m.group(1)) > float(m.group(2)):
            kind = slot.kind
            return f"{{{kind}:{slot.arg}}}: expected {{{kind}:LO-HI}}, e.g. {{{kind}:1-500}}"
    elif slot.kind == "digits":
        if not (slot.arg or "").isdigit() or not 1 <= int(slot.arg) <= 12:
            return f"{{digits:{slot.arg}}}: expected {{digits:N}} with 1 <= N <= 12"
    elif lexicon is not None and not lexicon.by_category(slot.kind):
        cats = ", ".join(lexicon.categories())
        return f"{{{slot.kind}}}: no lexicon category {slot.kind!r}; categories: {cats}"
    return None


def load_templates(path: str | Path, lexicon: Lexicon | None = None) -> list[Template]:
    """Read and check a templates file against ``lexicon``'s categories.

    Raises:
        TemplateError: listing every problem with file and line.
    """
    path = Path(path)
    try:
        text = read_regular_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError([f"{path}: cannot read templates ({exc})"]) from None
    problems: list[str] = []
    section: str | None = None
    out: list[Template] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            if section not in SECTIONS:
                problems.append(
                    f"{path}:{number}: unknown section [{section}]; expected [train] or [heldout]"
                )
            continue
        if section not in SECTIONS:
            problems.append(f"{path}:{number}: template before a [train] or [heldout] section")
            continue
        written, _, spoken = raw.strip().partition("\t")
        spoken = spoken.strip() or written
        w_slots, s_slots = _slots(written), _slots(spoken)
        if [s.kind for s in w_slots] != [s.kind for s in s_slots]:
            problems.append(f"{path}:{number}: written and spoken forms have different slots")
            continue
        if not w_slots:
            problems.append(f"{path}:{number}: template has no slot")
            continue
        bad = [p for s in w_slots if (p := _check_slot(s, lexicon))]
        problems += [f"{path}:{number}: {p}" for p in bad]
        if not bad:
            out.append(Template(written, spoken, section, number, w_slots, s_slots))
    for name in SECTIONS:
        if not any(t.section == name for t in out) and not problems:
            problems.append(f"{path}: no templates in section [{name}]")
    if problems:
        raise TemplateError(problems)
    return out


def _generate(slot: Slot, rng: random.Random) -> tuple[str, str]:
    if slot.kind == "digits":
        digits = "".join(rng.choice("0123456789") for _ in range(int(slot.arg or 1)))
        return digits, " ".join(_ONES[int(d)] for d in digits)
    lo, hi = (float(x) for x in (slot.arg or "0-0").split("-"))
    if slot.kind == "number":
        n = rng.randint(int(lo), int(hi))
        return str(n), number_words(n)
    tenths = rng.randint(round(lo * 10), round(hi * 10))
    whole, frac = divmod(tenths, 10)
    return f"{whole}.{frac}", f"{number_words(whole)} point {_ONES[frac]}"


def _substitute(text: str, slots: tuple[Slot, ...], values: list[str]) -> str:
    out, pos = [], 0
    for slot, value in zip(slots, values, strict=True):
        out += [text[pos : slot.start], value]
        pos = slot.end
    return "".join([*out, text[pos:]])


def fill(
    template: Template,
    lexicon: Lexicon,
    rng: random.Random,
    fixed: Term | None = None,
) -> Sentence:
    """Fill every slot; ``fixed`` goes into the first slot of its category."""
    written, spoken, terms = [], [], []
    placed = False
    for slot in template.written_slots:
        if slot.kind in GENERATED:
            w, s = _generate(slot, rng)
        else:
            if fixed is not None and not placed and slot.kind == fixed.category:
                term, placed = fixed, True
            else:
                choices = [t for t in lexicon.by_category(slot.kind) if t.term not in terms]
                term = rng.choice(choices or lexicon.by_category(slot.kind))
            w, s = term.term, rng.choice(term.spoken_forms)
            terms.append(term.term)
        written.append(w)
        spoken.append(s)
    return Sentence(
        written=_substitute(template.written, template.written_slots, written),
        spoken=_substitute(template.spoken, template.spoken_slots, spoken),
        terms=tuple(terms),
        template=f"{template.section}:{template.line}",
    )
