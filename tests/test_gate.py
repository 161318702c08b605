"""The term gate: the adapted transcript only where it changes a lexicon term (golden table)."""

from __future__ import annotations

import pytest

from workbench.data.manifest import Utterance
from workbench.decoding.gate import gate
from workbench.evaluate.compare import compare_set, summary_table
from workbench.evaluate.normalize import get_normalizer
from workbench.lexicon import Lexicon, Term

LEXICON = Lexicon([Term("heparin", "drug"), Term("insulin glargine", "drug"), Term("CT", "abbr")])
NORMALIZE = get_normalizer("en")

# (base, adapted, expected choice)
GOLDEN = [
    # the adapter writes a term the base missed: adapted
    ("give happy rin now", "give heparin now", "adapted"),
    # everyday speech, the adapter only worse: base, whatever the adapter wrote
    ("I'm originally from Chicago", "Come on the rhabway from Chicago", "base"),
    # a fragment of a term is not a term: base
    ("titrate slowly", "tiotrate slowly", "base"),
    # both write the same terms: base (the adapter's carrier changes are not trusted)
    ("start heparin today", "start heparin to day", "base"),
    # the adapter drops a term the base wrote: adapted (a change on a term)
    ("heparin given", "heparine given", "adapted"),
    # the same terms, however often written: base
    ("heparin", "heparin heparin", "base"),
    # case and punctuation do not count: the normalizer decides
    ("Insulin glargine, 10 units.", "insulin glargine 10 units", "base"),
    # a false alarm in everyday speech is a change: adapted (the report counts it)
    ("see the city", "see the CT", "adapted"),
]


@pytest.mark.parametrize(("base", "adapted", "expected"), GOLDEN)
def test_gate_golden(base, adapted, expected):
    texts, took = gate([base], [adapted], LEXICON, NORMALIZE)
    assert texts == [adapted if expected == "adapted" else base]
    assert took == [expected == "adapted"]


def test_lengths_must_match():
    with pytest.raises(ValueError, match="2 base transcripts but 1 adapted"):
        gate(["a", "b"], ["a"], LEXICON, NORMALIZE)


def test_the_gated_system_sits_in_the_report_with_the_same_keys():
    utts = [
        Utterance("a", "a.wav", "give heparin now", duration=2.0),
        Utterance("b", "b.wav", "I'm originally from Chicago", duration=2.0),
    ]
    hyps = {
        "base": ["give happy rin now", "I'm originally from Chicago"],
        "adapted": ["give heparin now", "Come on the rhabway from Chicago"],
    }
    hyps["adapted_gated"], _ = gate(hyps["base"], hyps["adapted"], LEXICON, NORMALIZE)
    out = compare_set(utts, hyps, dict.fromkeys(hyps, 1.0), NORMALIZE, LEXICON, True)
    assert set(out["adapted_gated"]) == set(out["adapted"])
    assert out["adapted_gated"]["wer"] == 0.0
    assert out["adapted_gated"]["term_recall"] == 1.0
    assert out["utterances"][1]["adapted_gated"] == "I'm originally from Chicago"
    assert "adapted_gated" in summary_table({"sets": {"eval": out}})
