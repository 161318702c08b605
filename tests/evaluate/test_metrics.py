"""Golden tables: (reference, hypothesis, expected) for WER, CER, error types, term recall."""

from __future__ import annotations

import pytest

from workbench.evaluate.metrics import score, wer_difference_interval
from workbench.evaluate.normalize import get_normalizer
from workbench.evaluate.terms import term_recall
from workbench.lexicon import Lexicon, Term

EN = get_normalizer("en")

# (reference, hypothesis, wer, cer, (S, D, I)) -- checked by hand
GOLDEN = [
    ("the cat sat", "the cat sat", 0.0, 0.0, (0, 0, 0)),
    ("the cat sat", "the bat sat", 1 / 3, 1 / 9, (1, 0, 0)),
    ("the cat sat", "the cat", 1 / 3, 3 / 9, (0, 1, 0)),
    ("the cat sat", "the cat sat down", 1 / 3, 4 / 9, (0, 0, 1)),
    ("start metoprolol", "start meta prolol", 1.0, 1 / 15, (1, 0, 1)),
    ("Twenty-five milligrams.", "25 milligrams", 0.0, 0.0, (0, 0, 0)),  # normalized alike
    ("Colour the centre", "color the center", 0.0, 0.0, (0, 0, 0)),  # British to American
    ("", "hello", 1.0, 5.0, (0, 0, 1)),  # an empty reference: each unit an insertion
]


@pytest.mark.parametrize(("ref", "hyp", "wer", "cer", "sdi"), GOLDEN)
def test_golden_single_utterances(ref, hyp, wer, cer, sdi):
    s = score([ref], [hyp], EN)
    assert s.wer == pytest.approx(wer)
    assert s.cer == pytest.approx(cer)
    assert (s.substitutions, s.deletions, s.insertions) == sdi
    assert s.errors[0] == sum(sdi)


def test_corpus_wer_pools_words_not_utterances():
    s = score(["a b c d", "e"], ["a b c d", "x"], EN)
    assert s.wer == pytest.approx(1 / 5)  # not the mean of 0 and 1
    assert s.utterance_wer(0) == 0 and s.utterance_wer(1) == 1


def test_unspaced_scripts_are_scored_by_characters():
    zh = get_normalizer("zh")
    s = score(["我去北京。"], ["我去背景"], zh, spaced=False)
    assert s.wer == pytest.approx(2 / 4) and s.cer == pytest.approx(2 / 4)


def test_alignment_chunks_for_colouring():
    s = score(["take the metoprolol now"], ["take a meta prolol"], EN)
    ops = [(c["op"], c["ref"], c["hyp"]) for c in s.alignments[0]]
    assert ops == [("equal", "take", "take"), ("substitute", "the metoprolol now", "a meta prolol")]
    s = score(["stop the drug now"], ["stop drug now please"], EN)
    ops = [c["op"] for c in s.alignments[0]]
    assert ops == ["equal", "delete", "equal", "insert"]


NORMALIZER_CASES = [
    ("Mr. Smith's dose was 2.5 mg.", "mister smith is dose was 2.5 mg"),  # Whisper's own quirk
    ("It's   FINE, isn't it?", "it is fine is not it"),
    ("twenty five", "25"),
]


@pytest.mark.parametrize(("text", "expected"), NORMALIZER_CASES)
def test_english_normalizer(text, expected):
    assert EN(text) == expected


def test_identical_systems_differ_by_exactly_zero():
    refs = ["the patient takes warfarin", "no further metoprolol", "follow up in two weeks"]
    hyps = ["the patient takes war for in", "no further metoprolol", "follow up in 2 weeks"]
    a, b = score(refs, hyps, EN), score(refs, hyps, EN)
    assert wer_difference_interval(a, b) == (0.0, 0.0, 0.0)


def test_interval_brackets_a_real_gain():
    refs = [f"term number {i} is apixaban" for i in range(40)]
    base = score(refs, [r.replace("apixaban", "a pick some") for r in refs], EN)
    adapted = score(refs, refs, EN)
    diff, low, high = wer_difference_interval(base, adapted)
    # Each base hypothesis turns one word into three: one substitution, two insertions.
    assert (base.substitutions, base.insertions) == (40, 80)
    assert diff == pytest.approx(-(40 + 80) / base.ref_words)
    assert low <= diff <= high < 0


LEX = Lexicon(
    [
        Term("warfarin", "drug"),
        Term("atrial fibrillation", "diagnosis"),
        Term("COPD", "abbreviation"),
    ]
)

# (references, hypotheses, hit, total, by category)
RECALL = [
    (["start warfarin"], ["start warfarin"], 1, 1, {"drug": 1.0}),
    (["start warfarin"], ["start war for in"], 0, 1, {"drug": 0.0}),
    (
        ["warfarin for atrial fibrillation"],
        ["warfarin for atrial flutter"],
        1,
        2,
        {"drug": 1.0, "diagnosis": 0.0},
    ),
    (
        ["COPD and warfarin", "warfarin again"],
        ["C.O.P.D. and warfarin", "warfarin again"],
        2,
        3,
        {"abbreviation": 0.0, "drug": 1.0},
    ),
    (["no terms here"], ["no terms here"], 0, 0, {}),
]


@pytest.mark.parametrize(("refs", "hyps", "hit", "total", "cats"), RECALL)
def test_golden_term_recall(refs, hyps, hit, total, cats):
    r = term_recall(refs, hyps, LEX, EN)
    assert (r.hit, r.total) == (hit, total)
    assert r.category_recall() == cats
    assert r.recall == (hit / total if total else None)
