"""Term matching in time linear in the text, not in the lexicon's size (issue 19, item 8).

A lexicon of 100,000 terms once made evaluating 2 clips take 316 s instead of 15 s: every
term was normalized again for every sentence. The terms are now normalized once, into an
automaton; the figures must stay exactly what the old matching gave.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workbench.evaluate.normalize import get_normalizer
from workbench.evaluate.terms import term_recall
from workbench.lexicon import Lexicon, Term

pytestmark = pytest.mark.reliability


def old_find_terms(lexicon: Lexicon, text: str, normalize, *, spaced: bool = True) -> list[Term]:
    """The matching as it was before the automaton (the reference the new one must equal)."""

    def contains(words: list[str], needle: list[str]) -> bool:
        n = len(needle)
        if n == 0:
            return False
        return any(words[i : i + n] == needle for i in range(len(words) - n + 1))

    if spaced:
        words = normalize(text).split()
        return [t for t in lexicon.terms if contains(words, normalize(t.term).split())]
    joined = "".join(normalize(text).split())
    return [t for t in lexicon.terms if (n := "".join(normalize(t.term).split())) and n in joined]


# Few distinct words, so that terms overlap, nest, repeat and share prefixes and suffixes.
WORDS = ["a", "ab", "b", "ba", "statin", "atorva", "atorvastatin", "mg", "Two", "2", "colour", ""]
word = st.sampled_from(WORDS)
phrase = st.lists(word, min_size=0, max_size=4).map(" ".join)
punctuated = st.tuples(phrase, st.sampled_from(["", ".", ",", "-", "!", "  "])).map("".join)


@st.composite
def lexicons(draw) -> Lexicon:
    texts = draw(st.lists(punctuated, min_size=1, max_size=12))
    seen, terms = set(), []
    for i, text in enumerate(texts):
        if text.strip() and text.casefold() not in seen:
            seen.add(text.casefold())
            terms.append(Term(term=text, category=f"c{i % 3}", line=i + 2))
    return Lexicon(terms)


@pytest.mark.parametrize("language", ["en", "zh"])
@given(lexicon=lexicons(), texts=st.lists(st.lists(punctuated, max_size=8).map(" ".join)))
def test_the_automaton_finds_exactly_what_the_old_matching_found(lexicon, texts, language):
    normalize = get_normalizer(language)
    spaced = language == "en"
    for text in texts:
        old = old_find_terms(lexicon, text, normalize, spaced=spaced)
        new = lexicon.find_terms(text, normalize, spaced=spaced)
        assert new == old, (text, [t.term for t in lexicon])


@given(lexicon=lexicons(), pairs=st.lists(st.tuples(phrase, phrase), min_size=1, max_size=6))
def test_term_recall_figures_do_not_change(lexicon, pairs):
    normalize = get_normalizer("en")
    refs, hyps = [r for r, _ in pairs], [h for _, h in pairs]
    new = term_recall(refs, hyps, lexicon, normalize)
    hit = total = 0
    for ref, hyp in pairs:
        found = {t.term for t in old_find_terms(lexicon, hyp, normalize)}
        for term in old_find_terms(lexicon, ref, normalize):
            total += 1
            hit += term.term in found
    assert (new.hit, new.total) == (hit, total)


class Counting:
    """A normalizer that counts its calls."""

    def __init__(self) -> None:
        self.inner, self.calls = get_normalizer("en"), 0

    def __call__(self, text: str) -> str:
        self.calls += 1
        return self.inner(text)


def big_lexicon(n: int) -> Lexicon:
    terms = [Term(term=f"zorbaxin{i} forte", category="drug", line=i + 2) for i in range(n)]
    terms.append(Term(term="metoprolol", category="drug", line=n + 2))
    return Lexicon(terms)


def test_a_huge_lexicon_is_normalized_once_and_searched_as_fast_as_a_small_one():
    refs = ["give metoprolol 50 mg and zorbaxin7 forte twice daily"] * 2
    hyps = ["give meta prolol 50 mg and zorbaxin7 forte twice daily"] * 2

    def timed(lexicon: Lexicon, normalize) -> float:
        start = time.perf_counter()
        for _ in range(10):  # base, adapted, prompted systems, rows: many passes over 2 clips
            recall = term_recall(refs, hyps, lexicon, normalize)
        assert (recall.hit, recall.total) == (2, 4)
        return time.perf_counter() - start

    big, small = big_lexicon(100_000), big_lexicon(10)
    counting = Counting()
    term_recall(refs, hyps, big, counting)  # builds the index
    built = counting.calls
    assert built <= len(big) + 2 * len(refs)  # each term once, each text once
    counting.calls = 0
    big_time = timed(big, counting)
    assert counting.calls == 10 * 2 * len(refs)  # the texts only: no term normalized again
    small_normalize = get_normalizer("en")
    term_recall(refs, hyps, small, small_normalize)
    small_time = timed(small, small_normalize)
    print(
        f"\n100,000 terms: {big_time:.3f} s for 10 passes over 2 clips; "
        f"11 terms: {small_time:.3f} s"
    )
    assert big_time < 3 * small_time + 0.05
