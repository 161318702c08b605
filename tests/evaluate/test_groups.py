"""The report's breakdown by voice/speaker and condition: one good voice cannot hide a bad one."""

from __future__ import annotations

from workbench.data.manifest import Utterance
from workbench.evaluate.compare import compare_set, summary_table
from workbench.evaluate.groups import group_figures
from workbench.evaluate.html import render_report
from workbench.evaluate.normalize import get_normalizer
from workbench.lexicon import Lexicon, Term

LEXICON = Lexicon([Term("vancomycin", "drug"), Term("heparin", "drug")])
NORMALIZE = get_normalizer("en")


def _utts() -> list[Utterance]:
    return [
        Utterance("a", "a.wav", "start vancomycin now", speaker="piper:joe", condition="clean"),
        Utterance("b", "b.wav", "give heparin today", speaker="flite:slt", condition="clean"),
        Utterance("c", "c.wav", "start vancomycin now", speaker="piper:joe", condition="babble"),
        Utterance("d", "d.wav", "give heparin today", speaker="flite:slt", condition="babble"),
    ]


# (voice or condition, system) -> expected WER and term recall: the good voice (joe) is right
# everywhere, the bad one (slt) loses its term in noise only with the base model.
HYPS = {
    "base": [
        "start vancomycin now",
        "give heparin today",
        "start vancomycin now",
        "give happy rin today",
    ],
    "adapted": [
        "start vancomycin now",
        "give heparin today",
        "start vancomycin now",
        "give heparin heparin today",
    ],
}
GOLDEN = [
    ("speaker", "piper:joe", "base", 0.0, 1.0),
    ("speaker", "flite:slt", "base", 2 / 6, 0.5),
    ("speaker", "flite:slt", "adapted", 1 / 6, 1.0),
    ("condition", "clean", "base", 0.0, 1.0),
    ("condition", "babble", "base", 2 / 6, 0.5),
    ("condition", "babble", "adapted", 1 / 6, 1.0),
]


def test_every_group_is_scored_like_the_whole_set():
    groups = group_figures(_utts(), HYPS, NORMALIZE, LEXICON, True)
    for field, value, system, wer, recall in GOLDEN:
        row = groups[field][value]
        assert row["n"] == 2
        assert row[system]["wer"] == round(wer, 4), (field, value, system)
        assert row[system]["term_recall"] == recall, (field, value, system)
    assert groups["speaker"]["flite:slt"]["ref_words"] == 6
    # a written term the reference holds once more is not a false alarm; none here
    assert groups["condition"]["babble"]["adapted"]["term_false_alarms"] == 0


def test_a_field_with_one_value_adds_no_rows_and_missing_values_form_a_group():
    utts = _utts()
    for u in utts:
        u.condition = None
    utts[0].speaker = None
    groups = group_figures(utts, HYPS, NORMALIZE, LEXICON, True)
    assert "condition" not in groups
    assert groups["speaker"]["(not given)"]["n"] == 1
    assert groups["speaker"]["piper:joe"]["n"] == 1


def test_the_report_carries_groups_and_the_summary_and_page_show_them():
    hyps = dict(HYPS)
    out = compare_set(_utts(), hyps, dict.fromkeys(hyps, 1.0), NORMALIZE, LEXICON, True)
    assert out["groups"]["speaker"]["flite:slt"]["base"]["wer"] == round(2 / 6, 4)
    report = {
        "recipe": "r",
        "base_model": "m",
        "adapter": "a",
        "decoding": {"num_beams": 1, "summary": "greedy"},
        "sets": {"eval": out},
    }
    text = summary_table(report)
    assert "eval by voice/speaker:" in text
    assert "flite:slt  n=2" in text
    page = render_report(report)
    assert "eval by voice / speaker" in page and "eval by condition" in page
    assert "babble" in page
    # every system's row says what it is, in words
    assert "<td>adapted</td><td class='muted'>the base model with the adapter</td>" in page


def test_a_set_of_one_voice_and_condition_has_no_groups():
    utts = [Utterance("a", "a.wav", "hello there", speaker="x", condition="clean")]
    hyps = {"base": ["hello there"], "adapted": ["hello"]}
    out = compare_set(utts, hyps, dict.fromkeys(hyps, 1.0), NORMALIZE, None, True)
    assert "groups" not in out
