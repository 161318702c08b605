"""The report's lexicon-boost systems, term false alarms and the rewrite step (DESIGN.md s. 9)."""

from __future__ import annotations

from workbench.data.manifest import Utterance
from workbench.evaluate.compare import compare_set, summary_table
from workbench.evaluate.normalize import get_normalizer
from workbench.lexicon import Lexicon, Term


def test_boost_systems_sit_beside_base_and_adapted_with_the_same_keys():
    lexicon = Lexicon(
        [Term("vancomycin", "drug", misrecognitions=("Van Comecin",)), Term("heparin", "drug")]
    )
    utts = [
        Utterance("a", "a.wav", "Start vancomycin now.", duration=2.0),
        Utterance("b", "b.wav", "The weather is fine.", duration=2.0),
    ]
    raw = ["Start Van Comecin now.", "The heparin is fine."]
    hyps = {
        "base": ["Start van come sin now.", "The weather is fine."],
        "adapted": ["Start vancomycin now.", "The weather is fine."],
        "base_boost": ["Start Vancomycin now.", "The heparin is fine."],
        "adapted_boost": ["Start vancomycin now.", "The weather is fine."],
    }
    timing = dict.fromkeys(hyps, 1.0)
    out = compare_set(
        utts, hyps, timing, get_normalizer("en"), lexicon, True, {"base_boost": (raw, 1)}
    )
    assert set(out["base_boost"]) >= set(out["base"])
    assert set(out["adapted_boost"]) == set(out["base"])
    assert out["base"]["term_recall"] == 0.0
    assert out["base_boost"]["term_recall"] == 1.0
    assert out["base_boost"]["term_false_alarms"] == 1  # heparin, which nobody said
    assert out["base_boost"]["term_false_alarms_by_term"] == {"heparin": 1}
    assert out["base_boost"]["term_precision"] == 0.5
    assert out["base_boost"]["term_false_alarms_per_1k_words"] == 142.857  # 1 in 7 words
    assert out["adapted"]["term_precision"] == 1.0
    assert out["base"]["term_precision"] is None  # wrote no term at all
    # the rewrite, its own step: before it, the boost alone had not written the term
    assert out["base_boost"]["rewrites"] == 1
    assert out["base_boost"]["before_rewrite"]["term_recall"] == 0.0
    row = out["utterances"][0]
    assert row["base_boost"] == "Start Vancomycin now."
    assert row["terms_missed_by_base_boost"] == []
    assert row["terms_missed_by_base"] == ["vancomycin"]
    table = summary_table({"sets": {"eval": out}})
    assert "base_boost" in table and "adapted_boost" in table
    assert "term false alarms: base 0" in table
