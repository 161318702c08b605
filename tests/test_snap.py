"""Near misses of a term rewritten to the term: golden (hypothesis, expected) table with the real
tiny.en tokenizer as the common-word test, and everyday English left alone."""

from __future__ import annotations

import pytest

from workbench.data.sources.asterisk import prompt_texts
from workbench.decoding.rewrite import Rewriter
from workbench.decoding.snap import (
    NearMissSnapper,
    common_words,
    dictionary_words,
    lexicon_rewriter,
    spelling_key,
)
from workbench.lexicon import Lexicon, Term, load_lexicon
from workbench.models.bundled import BUNDLED, meta_dir
from workbench.models.convert import build_tokenizer
from workbench.paths import PROJECT_ROOT

VOCAB = 51864


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer(meta_dir(BUNDLED["tiny.en"]) / "tokenizer.json", VOCAB)


@pytest.fixture(scope="module")
def medical(tok):
    lexicon = load_lexicon(PROJECT_ROOT / "domains" / "medical" / "lexicon.tsv")
    return NearMissSnapper(lexicon, common_words(tok, dictionary_words()), min_similarity=0.75)


GOLDEN = [
    # a letter or two off
    ("No further deloxetine after midnight.", "No further duloxetine after midnight."),
    ("Titrate dibigatran up to 41 milligrams.", "Titrate dabigatran up to 41 milligrams."),
    ("Kindly wean carvedil over 10 days.", "Kindly wean carvedilol over 10 days."),
    # split at a syllable: the run of words becomes the term
    ("Switch from ticagrel or to amoxicillin.", "Switch from ticagrelor to amoxicillin."),
    ("Recommend app indexomy once stable.", "Recommend appendectomy once stable."),
    ("We are going to titrate in alexone up.", "We are going to titrate naloxone up."),
    # a common word at the edge stays when the term is closer without it
    ("from prednisone to meodarone tonight.", "from prednisone to amiodarone tonight."),
    # case and punctuation around the run kept
    ("Dibigatran, 150 mg", "Dabigatran, 150 mg"),
    ("(deloxetine), then", "(duloxetine), then"),
    ("give deloxetin', then", "give duloxetine, then"),
    # terms already written are left, and nothing is taken from them
    ("Start vancomycin now.", "Start vancomycin now."),
    ("from simvastatin to fluconazole tonight.", "from simvastatin to fluconazole tonight."),
    # too far off, too short a term, everyday words
    ("No further dulxtne after midnight.", "No further dulxtne after midnight."),
    ("Make a copy of the chart.", "Make a copy of the chart."),
    (
        "He predicts one thing, the present tension another.",
        "He predicts one thing, the present tension another.",
    ),
    ("", ""),
]


@pytest.mark.parametrize(("hypothesis", "expected"), GOLDEN)
def test_golden(medical, hypothesis, expected):
    assert medical(hypothesis) == expected


def test_snap_counts_each_rewrite(medical):
    text, n = medical.snap("Give deloxetine and dibigatran, not vancomycin.")
    assert (text, n) == ("Give duloxetine and dabigatran, not vancomycin.", 2)
    assert medical.snap("nothing here") == ("nothing here", 0)


def test_the_similarity_sets_how_far_a_spelling_may_be(tok):
    lexicon = Lexicon([Term("amiodarone", "drug")])
    common = common_words(tok)
    assert NearMissSnapper(lexicon, common, min_similarity=0.8)("meodarone") == "amiodarone"
    assert NearMissSnapper(lexicon, common, min_similarity=0.85)("meodarone") == "meodarone"
    with pytest.raises(ValueError, match="min_similarity"):
        NearMissSnapper(lexicon, common, min_similarity=0)


def test_short_terms_are_never_snapped_to(tok):
    snapper = NearMissSnapper(
        Lexicon([Term("COPD", "diagnosis"), Term("GERD", "diagnosis")]), common_words(tok)
    )
    assert len(snapper) == 0
    assert snapper("history of COPB and GERT") == "history of COPB and GERT"


def test_common_words_are_single_tokens_or_in_the_word_list(tok):
    common = common_words(tok)
    assert common("patient") and common("Tonight,") and common("the")
    assert not common("deloxetine") and not common("dibigatran")
    assert not common("parenthesis")  # two tokens ...
    assert common_words(tok, {"parenthesis"})("Parenthesis,")  # ... but an English word
    assert "parenthesis" in dictionary_words()  # the system's list (set-up installs wamerican)
    assert spelling_key("Ticagrel or,") == "ticagrelor"


@pytest.mark.parametrize("pack", ["medical", "industrial", "dialect"])
def test_everyday_english_is_left_alone(tok, pack):
    # the Asterisk package's prompt texts: 554 sentences, 3,288 words of everyday English
    lexicon = load_lexicon(PROJECT_ROOT / "domains" / pack / "lexicon.tsv")
    rewrite = lexicon_rewriter(lexicon, tok, spaced=True, near_miss=0.75)
    assert len(rewrite.snap) > 50  # the pack's terms of six letters or more
    texts = [text for _, _, text in prompt_texts()]
    assert len(texts) > 400
    assert [t for t in texts if rewrite(t) != t] == []


def test_the_rewriter_snaps_after_the_known_misrecognitions(tok):
    lexicon = Lexicon(
        [Term("vancomycin", "drug", misrecognitions=("Van Comecin",)), Term("duloxetine", "drug")]
    )
    rewrite = lexicon_rewriter(lexicon, tok, spaced=True, near_miss=0.75)
    assert rewrite.rewrite("Van Comecin and deloxetine") == ("Vancomycin and duloxetine", 2)
    # off (0) or in a script written without spaces: the known misrecognitions alone
    assert lexicon_rewriter(lexicon, tok, spaced=True, near_miss=0).snap is None
    assert lexicon_rewriter(lexicon, tok, spaced=False, near_miss=0.75).snap is None
    assert Rewriter(lexicon)("Van Comecin and deloxetine") == "Vancomycin and deloxetine"
