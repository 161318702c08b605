"""Templates as a grammar: (a|b|) choices, carriers per line, held-out carriers never trained on."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from workbench.data.templates import TemplateError, expand, fill, load_templates, pick
from workbench.lexicon import load_lexicon

DOMAINS = Path(__file__).resolve().parents[1] / "domains"


@pytest.mark.parametrize(
    ("line", "carriers"),
    [
        ("Hold {drug} tonight.", ["Hold {drug} tonight."]),
        ("No parens (here) {drug}.", ["No parens (here) {drug}."]),
        ("(Please |)start {drug}.", ["Please start {drug}.", "Start {drug}."]),
        (
            "(start|begin) {drug}(| tonight).",
            ["Start {drug}.", "Start {drug} tonight.", "Begin {drug}.", "Begin {drug} tonight."],
        ),
        (
            "{drug}, (sorry|I mean), {drug}.",
            ["{drug}, sorry, {drug}.", "{drug}, I mean, {drug}."],
        ),
        (
            "Meds are {drug}(|, {drug}) and {drug}.",
            ["Meds are {drug} and {drug}.", "Meds are {drug}, {drug} and {drug}."],
        ),
    ],
)
def test_expansion_golden_table(line, carriers):
    assert expand(line) == carriers


def _write(tmp_path, templates: str):
    (tmp_path / "lexicon.tsv").write_text(
        "term\tspoken\tcategory\nmetoprolol\tmeh TOE proh lol\tdrug\nwarfarin\t\tdrug\n"
    )
    (tmp_path / "templates.txt").write_text(templates)
    return load_lexicon(tmp_path / "lexicon.tsv"), tmp_path / "templates.txt"


def test_a_heldout_carrier_that_training_also_writes_is_an_error(tmp_path):
    lexicon, path = _write(
        tmp_path, "[train]\n(Please |)hold {drug}.\n[heldout]\n(Now |)hold {drug}.\n"
    )
    with pytest.raises(
        TemplateError, match=r"held-out carrier 'Hold \{drug\}\.' is also a training"
    ):
        load_templates(path, lexicon)


def test_spoken_form_takes_the_same_choices(tmp_path):
    lexicon, path = _write(
        tmp_path, "[train]\n(Give|Take) {drug}.\t(Give|Take) {drug} please.\n[heldout]\nX {drug}.\n"
    )
    got = [(t.written, t.spoken) for t in load_templates(path, lexicon) if t.section == "train"]
    assert got == [("Give {drug}.", "Give {drug} please."), ("Take {drug}.", "Take {drug} please.")]
    bad, path = _write(tmp_path, "[train]\n(a|b) {drug}.\t(a|b|c) {drug}.\n[heldout]\nX {drug}.\n")
    with pytest.raises(TemplateError, match="same \\(a\\|b\\) choices"):
        load_templates(path, bad)


def test_nested_choices_are_an_error(tmp_path):
    lexicon, path = _write(tmp_path, "[train]\nRoom(|, (sorry|no)) {drug}.\n[heldout]\nX {drug}.\n")
    with pytest.raises(TemplateError, match="nested or unbalanced"):
        load_templates(path, lexicon)


def test_a_choice_that_drops_every_slot_is_an_error(tmp_path):
    lexicon, path = _write(tmp_path, "[train]\nHello(| {drug}).\n[heldout]\nX {drug}.\n")
    with pytest.raises(TemplateError, match="template has no slot"):
        load_templates(path, lexicon)


def test_lines_weigh_the_same_whatever_their_grammar(tmp_path):
    lexicon, path = _write(
        tmp_path,
        "[train]\n(a|b|c|d|e|f|g|h) {drug}.\nPlain {drug}.\n[heldout]\nX {drug}.\n",
    )
    train = [t for t in load_templates(path, lexicon) if t.section == "train"]
    rng = random.Random(0)
    plain = sum(pick(train, rng).written == "Plain {drug}." for _ in range(2000))
    assert 900 < plain < 1100


@pytest.mark.parametrize("pack", ["medical", "industrial", "dialect"])
def test_shipped_packs_write_hundreds_of_sentences_on_disjoint_carriers(pack):
    lexicon = load_lexicon(DOMAINS / pack / "lexicon.tsv")
    templates = load_templates(DOMAINS / pack / "templates.txt", lexicon)
    train = [t for t in templates if t.section == "train"]
    held = [t for t in templates if t.section == "heldout"]
    assert len(train) >= 90 and len(held) >= 15
    assert not {t.written.casefold() for t in train} & {t.written.casefold() for t in held}
    rng = random.Random(0)
    sentences = {fill(pick(train, rng), lexicon, rng).written for _ in range(600)}
    carriers = {fill(pick(train, rng), lexicon, rng).template for _ in range(600)}
    assert len(sentences) >= 400 and len(carriers) >= 80
