"""Sentence templates: numbers said as words, slots checked against the lexicon."""

from __future__ import annotations

import random

import pytest

from workbench.data.templates import TemplateError, fill, load_templates, number_words
from workbench.lexicon import Lexicon, Term

LEX = Lexicon([Term("metoprolol", "drug", ("meh TOE pro lol",)), Term("warfarin", "drug")])


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (40, "forty"),
        (45, "forty five"),
        (100, "one hundred"),
        (215, "two hundred fifteen"),
        (1000, "one thousand"),
        (3600, "three thousand six hundred"),
        (250_007, "two hundred fifty thousand seven"),
    ],
)
def test_number_words(n, words):
    assert number_words(n) == words


def write(tmp_path, text):
    path = tmp_path / "templates.txt"
    path.write_text(text)
    return path


def test_fill_gives_written_and_spoken_forms(tmp_path):
    path = write(
        tmp_path,
        "[train]\nGive {drug} {number:5-5} mg at {decimal:2.5-2.5} and code {digits:3}.\n"
        "[heldout]\nStop {drug}.\n",
    )
    templates = load_templates(path, LEX)
    sentence = fill(templates[0], LEX, random.Random(0), fixed=LEX.get("metoprolol"))
    assert sentence.written.startswith("Give metoprolol 5 mg at 2.5 and code ")
    assert sentence.spoken.startswith("Give meh TOE pro lol five mg at two point five and code ")
    code = sentence.written.split()[-1].rstrip(".")
    assert len(code) == 3 and code.isdigit()
    assert sentence.terms == ("metoprolol",)
    assert sentence.template == "train:2.0"


def test_fill_is_deterministic_for_a_seed(tmp_path):
    path = write(tmp_path, "[train]\n{drug} and {drug}, {number:1-999}\n[heldout]\n{drug}\n")
    template = load_templates(path, LEX)[0]
    a = [fill(template, LEX, random.Random(5)) for _ in range(3)]
    b = [fill(template, LEX, random.Random(5)) for _ in range(3)]
    assert a == b
    assert all(s.terms[0] != s.terms[1] for s in a)  # two slots, two different terms


def test_spoken_column_for_other_scripts(tmp_path):
    lex = Lexicon([Term("北京", "place", ("bei3 jing1",))])
    path = write(
        tmp_path,
        "[train]\n我去{place}。\two3 qu4 {place}.\n[heldout]\n在{place}。\tzai4 {place}.\n",
    )
    sentence = fill(load_templates(path, lex)[0], lex, random.Random(0))
    assert (sentence.written, sentence.spoken) == ("我去北京。", "wo3 qu4 bei3 jing1.")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[train]\nTake {pill}.\n[heldout]\n{drug}\n",
            "templates.txt:2: {pill}: no lexicon category 'pill'",
        ),
        ("[train]\n{number:9-1} {drug}\n[heldout]\n{drug}\n", "expected {number:LO-HI}"),
        ("[train]\n{digits:x} {drug}\n[heldout]\n{drug}\n", "expected {digits:N}"),
        ("Take {drug}.\n[heldout]\n{drug}\n", "templates.txt:1: template before a [train]"),
        ("[train]\nno slots here\n[heldout]\n{drug}\n", "templates.txt:2: template has no slot"),
        ("[train]\n{drug}\n", "no templates in section [heldout]"),
        ("[tran]\n{drug}\n", "unknown section [tran]"),
        ("[train]\n{drug} ok\tsaid {number:1-2}\n[heldout]\n{drug}\n", "different slots"),
    ],
)
def test_bad_templates(tmp_path, text, expected):
    with pytest.raises(TemplateError) as err:
        load_templates(write(tmp_path, text), LEX)
    assert expected in str(err.value)
