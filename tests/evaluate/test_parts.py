"""The parts of a set (a source's ``part:``): her recordings shown apart from synthetic clips,
first, labelled, with their own WER, CER and term recall, in the report and in Compare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.data.manifest import ManifestError, Utterance, parse_manifest_line
from workbench.evaluate.compare import compare_set, summary_table
from workbench.evaluate.groups import in_view, views
from workbench.evaluate.html import parts_table, render_report
from workbench.evaluate.metrics import score
from workbench.evaluate.normalize import get_normalizer
from workbench.lexicon import Lexicon, Term
from workbench.recipe import ManifestSource, SynthSource
from workbench.schema import SpecError

LEXICON = Lexicon([Term("vancomycin", "drug"), Term("heparin", "drug")])
NORMALIZE = get_normalizer("en")
MINE, SYNTH = "your recordings", "synthetic held-out"


def _hers_first(utts: list[Utterance], hyps: dict[str, list[str]]):
    """The clips as the guided recipe lists them: her two first."""
    order = [1, 2, 0, 3]
    return [utts[i] for i in order], {k: [v[i] for i in order] for k, v in hyps.items()}


def _set() -> tuple[list[Utterance], dict[str, list[str]]]:
    """A synthetic clip listed first, then two of hers, then another synthetic one: the
    order of parts follows the sources (hers first in the guided recipe), not the clips."""
    utts = [
        Utterance("s1", "s1.wav", "stop heparin now", part=SYNTH),
        Utterance("w/a.wav", "a.wav", "start vancomycin now", part=MINE),
        Utterance("w/b.wav", "b.wav", "give heparin today", part=MINE),
        Utterance("s2", "s2.wav", "stop vancomycin now", part=SYNTH),
    ]
    hyps = {
        "base": ["stop heparin now", "start bank o mycin now", "give heparin today", "stop now"],
        "adapted": ["stop heparin now", "start vancomycin now", "give heparin today", "stop now"],
    }
    return utts, hyps


def _report(out: dict, general: dict | None = None) -> dict:
    sets = {"eval": out} if general is None else {"eval": out, "general": general}
    return {
        "recipe": "r",
        "base_model": "m",
        "adapter": "a",
        "decoding": {"num_beams": 1, "summary": "greedy"},
        "sets": sets,
    }


def test_her_part_has_its_own_figures_scored_like_the_whole_set():
    utts, hyps = _hers_first(*_set())
    out = compare_set(utts, hyps, dict.fromkeys(hyps, 1.0), NORMALIZE, LEXICON, True)
    parts = out["groups"]["part"]
    assert list(parts) == [MINE, SYNTH]
    mine = parts[MINE]
    assert mine["n"] == 2
    refs = [u.text for u in utts[:2]]
    for system in ("base", "adapted"):
        expected = score(refs, hyps[system][:2], NORMALIZE, spaced=True)
        assert mine[system]["wer"] == round(expected.wer, 4)
        assert mine[system]["cer"] == round(expected.cer, 4)
    assert mine["base"]["wer"] == round(3 / 6, 4)  # "bank o mycin": 1 substitution, 2 inserted
    assert mine["adapted"]["wer"] == 0.0
    assert mine["base"]["term_recall"] == 0.5 and mine["adapted"]["term_recall"] == 1.0
    assert parts[SYNTH]["adapted"]["term_recall"] == 0.5
    assert [u.get("part") for u in out["utterances"]] == [MINE, MINE, SYNTH, SYNTH]


def test_parts_keep_the_order_of_the_sources_and_clips_without_one_come_last():
    utts, hyps = _set()
    utts[3].part = None
    out = compare_set(utts, hyps, dict.fromkeys(hyps, 1.0), NORMALIZE, LEXICON, True)
    assert list(out["groups"]["part"]) == [SYNTH, MINE, "(not given)"]


def test_one_part_still_labels_the_set_and_no_part_adds_nothing():
    utts, hyps = _set()
    mine = [utts[1], utts[2]]
    two = {k: v[1:3] for k, v in hyps.items()}
    out = compare_set(mine, two, dict.fromkeys(two, 1.0), NORMALIZE, LEXICON, True)
    assert list(out["groups"]["part"]) == [MINE]
    assert [v["label"] for v in views(_report(out))] == [f"{MINE} (eval)"]
    for u in mine:
        u.part = None
    out = compare_set(mine, two, dict.fromkeys(two, 1.0), NORMALIZE, LEXICON, True)
    assert "groups" not in out
    assert parts_table(_report(out)) == ""
    assert [v["key"] for v in views(_report(out))] == ["eval"]


def test_views_list_her_recordings_then_synthetic_then_the_general_set():
    utts, hyps = _hers_first(*_set())
    out = compare_set(utts, hyps, dict.fromkeys(hyps, 1.0), NORMALIZE, LEXICON, True)
    g = [Utterance("g1", "g1.wav", "the weather is fine")]
    gh = {"base": ["the weather is fine"], "adapted": ["the weather is fine"]}
    general = compare_set(g, gh, dict.fromkeys(gh, 1.0), NORMALIZE, LEXICON, True)
    report = json.loads(json.dumps(_report(out, general)))  # as read back from report.json
    shown = views(report, whole_sets=True)
    assert [(v["set"], v["part"], v["n"]) for v in shown] == [
        ("eval", MINE, 2),
        ("eval", SYNTH, 2),
        ("eval", None, 4),
        ("general", None, 1),
    ]
    assert shown[0]["label"] == "your recordings (eval)"
    assert shown[3]["label"].startswith("general set")
    assert [u["id"] for u in in_view(report["sets"]["eval"]["utterances"], MINE)] == [
        "w/a.wav",
        "w/b.wav",
    ]
    table = parts_table(report)
    assert table.index(MINE) < table.index(SYNTH) < table.index("general set")
    assert "50.0%" in table and "CER base" in table  # her base WER, and CER shown
    page = render_report(report)
    assert page.index("<h2>your recordings (eval): every utterance") < page.index(
        "<h2>synthetic held-out (eval): every utterance"
    )
    text = summary_table(report)
    assert "eval by part:" in text and "your recordings" in text and "CER" in text


def test_a_source_part_is_checked_and_a_manifest_part_read():
    assert ManifestSource(path="x.jsonl", part=MINE).part == MINE
    with pytest.raises(SpecError, match="part"):
        SynthSource(part="  ")
    row = {"id": "a", "audio": "a.wav", "text": "t", "part": MINE}
    assert parse_manifest_line(json.dumps(row), "m:1", Path("/")).part == MINE
    with pytest.raises(ManifestError, match="'part' must be a string"):
        parse_manifest_line(json.dumps({**row, "part": 3}), "m:1", Path("/"))
