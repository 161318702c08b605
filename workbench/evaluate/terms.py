"""Term recall: the share of lexicon terms said in the references that the hypotheses contain."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from workbench.lexicon import Lexicon


@dataclass
class TermRecall:
    """Counts of term occurrences in references (``total``) and found in hypotheses (``hit``)."""

    hit: int = 0
    total: int = 0
    by_category: dict[str, list[int]] = field(default_factory=dict)  # category -> [hit, total]
    missed: Counter = field(default_factory=Counter)  # term -> times missed

    @property
    def recall(self) -> float | None:
        """hit / total, or None when the references hold no term."""
        return self.hit / self.total if self.total else None

    def category_recall(self) -> dict[str, float]:
        return {c: h / t for c, (h, t) in self.by_category.items() if t}


def term_recall(
    references: Sequence[str],
    hypotheses: Sequence[str],
    lexicon: Lexicon,
    normalize: Callable[[str], str],
    *,
    spaced: bool = True,
) -> TermRecall:
    """Score each reference term as found when the paired hypothesis contains it too."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    out = TermRecall()
    for ref, hyp in zip(references, hypotheses, strict=True):
        found = {t.term for t in lexicon.find_terms(hyp, normalize, spaced=spaced)}
        for term in lexicon.find_terms(ref, normalize, spaced=spaced):
            counts = out.by_category.setdefault(term.category, [0, 0])
            counts[1] += 1
            out.total += 1
            if term.term in found:
                counts[0] += 1
                out.hit += 1
            else:
                out.missed[term.term] += 1
    return out


@dataclass
class TermFalseAlarms:
    """Terms written in hypotheses: those the paired reference has too (``hits``) and those
    it lacks (``false_alarms``), counted once per utterance and term."""

    hits: int = 0
    false_alarms: int = 0
    by_term: Counter = field(default_factory=Counter)  # term -> false alarms

    @property
    def precision(self) -> float | None:
        """hits / terms written, or None when the hypotheses hold no term."""
        written = self.hits + self.false_alarms
        return self.hits / written if written else None


def term_false_alarms(
    references: Sequence[str],
    hypotheses: Sequence[str],
    lexicon: Lexicon,
    normalize: Callable[[str], str],
    *,
    spaced: bool = True,
) -> TermFalseAlarms:
    """Count the lexicon terms each hypothesis writes that its reference lacks."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    out = TermFalseAlarms()
    for ref, hyp in zip(references, hypotheses, strict=True):
        said = {t.term for t in lexicon.find_terms(ref, normalize, spaced=spaced)}
        for term in lexicon.find_terms(hyp, normalize, spaced=spaced):
            if term.term in said:
                out.hits += 1
            else:
                out.false_alarms += 1
                out.by_term[term.term] += 1
    return out
