"""Sentence templates filled with lexicon terms, in a written and a spoken form.

A ``templates.txt`` has a ``[train]`` and a ``[heldout]`` section, one template a line
(``#`` comments). A line is the written sentence, optionally a tab and the spoken form (for
scripts a voice cannot read, e.g. Chinese characters spoken from pinyin). Slots:

- ``{category}``: a lexicon term of that category (written as the term, spoken as one of its
  spoken forms);
- ``{term}``: any lexicon term: a generic carrier, used for the terms of a category that no
  template names (a plain one-term-a-line lexicon has only category ``term``);
- ``{number:LO-HI}``: an integer, written in digits, spoken in words;
- ``{decimal:LO-HI}``: a number with one decimal, e.g. 2.5, "two point five";
- ``{digits:N}``: N digits read one by one, e.g. 407, "four zero seven".

A line is also a small grammar: ``(a|b|)`` is a choice of alternatives (an empty one makes
the part optional), so ``(Please |)(start|begin) {drug}(| tonight).`` writes 2 x 2 x 2 = 8
carriers. A line with a spoken form needs the same choices in both, taken together. Every
carrier of a line is a template of its own (``line``, ``variant``); sentences pick a line
first and then one of its carriers, so a line's weight does not grow with its grammar.

Held-out templates are never used for training, so evaluation sentences are new sentences;
a carrier written in both sections is an error.
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
_CHOICE = re.compile(r"\(([^()]*\|[^()]*)\)")  # (a|b|): only parentheses holding a '|'
MAX_CARRIERS_PER_LINE = 1000
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
GENERIC = "term"  # the slot any term fills


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
    variant: int = 0  # which carrier of the line's grammar

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


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,.;:?!])", r"\1", text)
    return text[:1].upper() + text[1:] if text[:1].isalpha() else text


def _choices(text: str) -> list[list[str]]:
    return [m.group(1).split("|") for m in _CHOICE.finditer(text)]


def expand(text: str) -> list[str]:
    """Every carrier a grammar line writes, in order (``(a|b) x`` -> ``A x``, ``B x``)."""
    if not _choices(text):
        return [text]
    return [_tidy(t) for t in _expand_pair(text, text)[0]]


def _expand_pair(written: str, spoken: str) -> tuple[list[str], list[str]]:
    groups = _choices(written)
    if not groups:
        return [written], [spoken]
    spoken_groups = _choices(spoken) if spoken is not written else groups
    picks: list[tuple[int, ...]] = [()]
    for group in groups:
        picks = [(*p, i) for p in picks for i in range(len(group))]

    def render(text: str, options: list[list[str]], chosen: tuple[int, ...]) -> str:
        it = iter(range(len(options)))
        return _CHOICE.sub(lambda m: options[(k := next(it))][chosen[k]], text)

    return (
        [render(written, groups, p) for p in picks],
        [render(spoken, spoken_groups, p) for p in picks],
    )


def _check_slot(slot: Slot, lexicon: Lexicon | None) -> str | None:
    if slot.kind in ("number", "decimal"):
        m = re.fullmatch(r"(\d+(?:\.\d)?)-(\d+(?:\.\d)?)", slot.arg or "")
        if not m or float(m.group(1)) > float(m.group(2)):
            kind = slot.kind
            return f"{{{kind}:{slot.arg}}}: expected {{{kind}:LO-HI}}, e.g. {{{kind}:1-500}}"
    elif slot.kind == "digits":
        if not (slot.arg or "").isdigit() or not 1 <= int(slot.arg) <= 12:
            return f"{{digits:{slot.arg}}}: expected {{digits:N}} with 1 <= N <= 12"
    elif slot.kind == GENERIC:
        if lexicon is not None and not len(lexicon):
            return "{term}: the lexicon has no terms"
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
        w_groups = _choices(written)
        if spoken is not written and [len(g) for g in w_groups] != [
            len(g) for g in _choices(spoken)
        ]:
            problems.append(
                f"{path}:{number}: written and spoken forms need the same (a|b) choices"
            )
            continue
        count = 1
        for group in w_groups:
            count *= len(group)
        if count > MAX_CARRIERS_PER_LINE:
            problems.append(
                f"{path}:{number}: the line writes {count} carriers; at most "
                f"{MAX_CARRIERS_PER_LINE} (split it into several lines)"
            )
            continue
        if re.search(r"[()]", _CHOICE.sub("", written)) and "|" in _CHOICE.sub("", written):
            problems.append(f"{path}:{number}: nested or unbalanced (a|b) choices")
            continue
        line_problem = False
        writtens, spokens = _expand_pair(written, spoken)
        for variant, (w, sp) in enumerate(zip(writtens, spokens, strict=True)):
            if w_groups:  # a choice can leave double spaces or a lower-case start
                w, sp = _tidy(w), _tidy(sp)
            w_slots, s_slots = _slots(w), _slots(sp)
            if [s.kind for s in w_slots] != [s.kind for s in s_slots]:
                problems.append(f"{path}:{number}: written and spoken forms have different slots")
                line_problem = True
                break
            if not w_slots:
                problems.append(f"{path}:{number}: template has no slot ({w!r})")
                line_problem = True
                break
            bad = [p for s in w_slots if (p := _check_slot(s, lexicon))]
            if bad:
                problems += [f"{path}:{number}: {p}" for p in dict.fromkeys(bad)]
                line_problem = True
                break
            out.append(Template(w, sp, section, number, w_slots, s_slots, variant))
        if line_problem:
            continue
    train_carriers = {t.written.casefold(): t.line for t in out if t.section == "train"}
    for t in out:
        if t.section == "heldout" and t.written.casefold() in train_carriers:
            problems.append(
                f"{path}:{t.line}: held-out carrier {t.written!r} is also a training carrier "
                f"(line {train_carriers[t.written.casefold()]})"
            )
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
            if fixed is not None and not placed and slot.kind in (fixed.category, GENERIC):
                term, placed = fixed, True
            else:
                pool = lexicon.by_category(slot.kind)
                if not pool and slot.kind == GENERIC:
                    pool = lexicon.by_category(fixed.category) if fixed else list(lexicon)
                choices = [t for t in pool if t.term not in terms]
                term = rng.choice(choices or pool)
            w, s = term.term, rng.choice(term.spoken_forms)
            terms.append(term.term)
        written.append(w)
        spoken.append(s)
    return Sentence(
        written=_substitute(template.written, template.written_slots, written),
        spoken=_substitute(template.spoken, template.spoken_slots, spoken),
        terms=tuple(terms),
        template=f"{template.section}:{template.line}.{template.variant}",
    )


def pick(templates: list[Template], rng: random.Random) -> Template:
    """A line drawn uniformly, then one of its carriers: grammar-rich lines weigh no more."""
    lines: dict[tuple[str, int], list[Template]] = {}
    for t in templates:
        lines.setdefault((t.section, t.line), []).append(t)
    return rng.choice(rng.choice(list(lines.values())))


def carriers(
    templates: list[Template], lexicon: Lexicon
) -> tuple[dict[str, list[Template]], list[Template]]:
    """The templates that can carry each category's terms, and those the lexicon cannot fill.

    A category's carriers are the templates naming it whose other slots the lexicon fills;
    a category no template names is carried by the generic ``{term}`` templates.
    """
    known = set(lexicon.categories()) | {GENERIC}
    fillable = [t for t in templates if t.categories <= known]
    generic = [t for t in fillable if t.categories == {GENERIC}]
    out = {}
    for category in lexicon.categories():
        named = [t for t in fillable if category in t.categories]
        out[category] = named or generic
    return out, [t for t in templates if not t.categories <= known]
