"""The misrecognition rewrite, the lexicon's weight column and term false alarms."""

from __future__ import annotations

import pytest

from workbench.decoding.rewrite import Rewriter, keep_case
from workbench.evaluate.normalize import get_normalizer
from workbench.evaluate.terms import term_false_alarms
from workbench.lexicon import Lexicon, LexiconError, Term, load_lexicon


@pytest.fixture
def lexicon():
    return Lexicon(
        [
            Term("vancomycin", "drug", misrecognitions=("Van Comecin", "bankamycin")),
            Term("sitagliptin", "drug", misrecognitions=("sitaglectin",)),
            Term("COPD", "diagnosis", misrecognitions=("c o p d",)),
            Term("morphine", "drug", misrecognitions=("more fine",)),
        ]
    )


def test_misrecognitions_are_rewritten_word_bounded_and_case_kept(lexicon):
    rewrite = Rewriter(lexicon)
    assert len(rewrite) == 5
    assert rewrite.rewrite("Van Comecin 1 gram IV.") == ("Vancomycin 1 gram IV.", 1)
    assert rewrite("start van   comecin and bankamycin") == "start vancomycin and vancomycin"
    assert rewrite("BANKAMYCIN now") == "VANCOMYCIN now"
    assert rewrite("Sitaglectin, daily.") == "Sitagliptin, daily."
    assert rewrite("history of C O P D") == "history of COPD"  # a term with capitals as written
    # word-bounded: inside a longer word nothing changes
    assert rewrite("sitaglectins and xbankamycin") == "sitaglectins and xbankamycin"
    assert rewrite("no drug named here") == "no drug named here"
    assert keep_case("More fine", "morphine") == "Morphine"


def test_a_misrecognition_that_is_itself_a_term_is_left_alone():
    lexicon = Lexicon(
        [Term("hydralazine", "drug", misrecognitions=("hydroxyzine",)), Term("hydroxyzine", "drug")]
    )
    rewrite = Rewriter(lexicon)
    assert len(rewrite) == 0
    assert rewrite("hydroxyzine 25 mg") == "hydroxyzine 25 mg"


def test_unspaced_scripts_rewrite_runs_of_characters():
    rewrite = Rewriter(
        Lexicon([Term("阿司匹林", "drug", misrecognitions=("阿斯匹林",))]), spaced=False
    )
    assert rewrite("我吃阿斯匹林了") == "我吃阿司匹林了"


def test_the_weight_column_is_read_and_checked(tmp_path):
    path = tmp_path / "lexicon.tsv"
    path.write_text(
        "term\tspoken\tcategory\tmisrecognitions\tweight\n"
        "vancomycin\t\tdrug\tVan Comecin\t2\n"
        "heparin\t\tdrug\t\t\n"
    )
    lexicon = load_lexicon(path)
    assert [t.weight for t in lexicon] == [2.0, 1.0]
    path.write_text("term\tcategory\tweight\nheparin\tdrug\tlots\n")
    with pytest.raises(LexiconError, match=r"lexicon.tsv:2: term 'heparin': weight 'lots'"):
        load_lexicon(path)
    path.write_text("term\tcategory\tweight\nheparin\tdrug\t-1\n")
    with pytest.raises(LexiconError, match="from 0 to 100"):
        load_lexicon(path)


def test_term_false_alarms_count_terms_the_reference_lacks(lexicon):
    normalize = get_normalizer("en")
    refs = ["give vancomycin now", "he is more fine today", "no terms here"]
    hyps = ["give vancomycin now", "he is morphine today", "no terms here morphine COPD"]
    fa = term_false_alarms(refs, hyps, lexicon, normalize)
    assert (fa.hits, fa.false_alarms) == (1, 3)
    assert fa.precision == pytest.approx(0.25)
    assert fa.by_term == {"morphine": 2, "COPD": 1}
    assert term_false_alarms(["a"], ["b"], lexicon, normalize).precision is None
