"""Tuning the boost: the dev split, the constrained choice, the recipe's fields."""

from __future__ import annotations

import pytest

from workbench.data.manifest import Utterance
from workbench.decoding.tuning import (
    GridPoint,
    TuningError,
    carrier_key,
    check_tunable,
    choose_boost,
    split_dev,
)
from workbench.lexicon import Lexicon, Term
from workbench.recipe import LexiconSpec
from workbench.schema import SpecError

LEXICON = Lexicon([Term(t, "drug") for t in ("vancomycin", "heparin", "insulin glargine")])
CARRIERS = [
    "Start {} now.",
    "Give {} at noon.",
    "The patient takes {} daily.",
    "Hold the {} tonight.",
    "Check the {} level.",
    "Was {} given?",
    "Order more {}, please.",
    "Stop {} before surgery.",
]


def eval_set() -> list[Utterance]:
    terms = ["vancomycin", "Heparin", "insulin glargine"]
    return [
        Utterance(f"u{i}-{j}", f"{i}-{j}.wav", carrier.format(term))
        for i, carrier in enumerate(CARRIERS)
        for j, term in enumerate(terms)
    ]


def test_the_carrier_is_the_sentence_with_its_terms_masked():
    assert carrier_key("Start Vancomycin now.", LEXICON) == "start {} now"
    assert carrier_key("Start insulin  glargine now!", LEXICON) == "start {} now"
    assert carrier_key("Start vancomycinx now.", LEXICON) == "start vancomycinx now"


def test_the_split_is_disjoint_whole_carriers_about_a_fifth_and_stable():
    utts = eval_set()
    dev, reported = split_dev(utts, LEXICON)
    ids = [u.id for u in dev] + [u.id for u in reported]
    assert sorted(ids) == sorted(u.id for u in utts)  # every clip once
    assert not {u.id for u in dev} & {u.id for u in reported}
    dev_carriers = {carrier_key(u.text, LEXICON) for u in dev}
    reported_carriers = {carrier_key(u.text, LEXICON) for u in reported}
    assert not dev_carriers & reported_carriers  # no sentence frame on both sides
    assert len(utts) / 5 <= len(dev) <= len(utts) / 5 + 3  # whole carriers of 3 clips
    # the same set, in another order, splits the same way; each part keeps the set's order
    again, _ = split_dev(list(reversed(utts)), LEXICON)
    assert {u.id for u in again} == {u.id for u in dev}
    assert [u.id for u in dev] == [u.id for u in utts if u in dev]


def test_a_set_of_one_carrier_cannot_be_split():
    utts = [Utterance(f"u{i}", "a.wav", f"Start {t} now.") for i, t in enumerate(["heparin"] * 4)]
    with pytest.raises(TuningError, match="at least two"):
        split_dev(utts, LEXICON)


def test_tuning_needs_a_lexicon_and_both_sets():
    utts = eval_set()
    with pytest.raises(TuningError, match="no general set"):
        check_tunable({"eval": utts}, LEXICON)
    with pytest.raises(TuningError, match="needs a lexicon"):
        check_tunable({"eval": utts, "general": utts}, None)
    dev, reported = check_tunable({"eval": utts, "general": utts[:2]}, LEXICON)
    assert dev and reported


def point(boost, recall, general_wer, dev_wer=0.2):
    return GridPoint(boost, dev_wer, recall, general_wer, 0, 1000)


def test_the_choice_is_the_best_recall_within_half_a_point_of_general_wer():
    table = [
        point(0, 0.40, 0.100),
        point(1, 0.55, 0.101),
        point(2, 0.70, 0.105),  # +0.5 point exactly: allowed
        point(3, 0.80, 0.1051),  # just over
        point(4, 0.85, 0.120),
        point(6, 0.70, 0.104),
    ]
    chosen, why = choose_boost(table)
    assert chosen == 2  # ties with 6 on recall: the weaker boost
    assert "refused for the general set: 3, 4" in why
    assert "at most 1 per 1,000 words" in why
    assert "strongest strength tried" not in why
    chosen, why = choose_boost(table, max_general_wer_rise=0.03)
    assert chosen == 4 and "strongest strength tried" not in why
    chosen, why = choose_boost(table[:5], max_general_wer_rise=0.03)
    assert chosen == 4 and "4 is the strongest strength tried" in why


def test_a_strength_writing_terms_into_everyday_speech_is_refused():
    def alarms(boost, recall, false_alarms):
        return GridPoint(boost, 0.2, recall, 0.100, false_alarms, 2000)

    # 2 false alarms in 2,000 words is the limit (1 per 1,000); 3 is over
    chosen, why = choose_boost([alarms(0, 0.4, 0), alarms(2, 0.6, 2), alarms(4, 0.8, 3)])
    assert chosen == 2 and "refused for the general set: 4" in why
    # where the model already writes more without the boost, the boost may not add any
    chosen, _ = choose_boost([alarms(0, 0.4, 5), alarms(2, 0.6, 5), alarms(4, 0.8, 6)])
    assert chosen == 2
    chosen, why = choose_boost([alarms(0, 0.4, 0), alarms(2, 0.6, 4)], constraint_set="general_dev")
    assert chosen == 0 and "general_dev set's WER" in why and "boost off" in why


def test_general_dev_alone_can_hold_the_constraint():
    utts = eval_set()
    dev, reported = check_tunable({"eval": utts, "general_dev": utts[:2]}, LEXICON)
    assert dev and reported


def test_the_choice_is_off_when_nothing_helps_or_nothing_can_be_measured():
    chosen, why = choose_boost([point(0, 0.4, 0.10), point(2, 0.4, 0.10), point(4, 0.9, 0.2)])
    assert chosen == 0 and "boost off" in why
    chosen, why = choose_boost([point(0, None, 0.10), point(2, None, 0.10)])
    assert chosen == 0 and "no lexicon term" in why
    with pytest.raises(ValueError, match="boost 0"):
        choose_boost([point(2, 0.5, 0.1)])


def test_the_recipe_fields_check_themselves():
    assert LexiconSpec(tune_boost=True).boost_grid == [0.0, 1.0, 2.0, 3.0, 4.0, 6.0]
    with pytest.raises(SpecError) as caught:
        LexiconSpec(tune_boost=True, boost=2)
    assert caught.value.problems[0][0] == "boost"
    assert "chosen by tuning" in caught.value.problems[0][1]
    with pytest.raises(SpecError) as caught:
        LexiconSpec(boost_grid=[0, 25])
    assert caught.value.problems[0][0] == "boost_grid"
    with pytest.raises(SpecError):
        LexiconSpec(boost_grid=[])
