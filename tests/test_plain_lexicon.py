"""A plain one-term-a-line lexicon: generic {term} templates, synthesis, recipe validate."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from workbench.data.candidates import PrepareContext
from workbench.data.sources.synth import sentences_for
from workbench.data.templates import carriers, fill, load_templates
from workbench.lexicon import Lexicon, Term, load_lexicon
from workbench.recipe import RecipeError, SynthSource, load_recipe

ROOT = Path(__file__).resolve().parent.parent
DRUGS = ["apixaban", "rivaroxaban", "sacubitril", "ticagrelor", "ivabradine"]


@pytest.fixture
def drugs(tmp_path):
    path = tmp_path / "drugs.txt"
    path.write_text("\n".join(DRUGS) + "\n")
    return path


def test_term_slot_takes_the_fixed_term_then_others(tmp_path):
    lex = Lexicon([Term("metoprolol", "drug", ("meh TOE pro lol",)), Term("sepsis", "dx")])
    path = tmp_path / "t.txt"
    path.write_text("[train]\nWe discussed {term} and {term}.\n[heldout]\nNote {term}.\n")
    template = load_templates(path, lex)[0]
    sentence = fill(template, lex, random.Random(0), fixed=lex.get("metoprolol"))
    assert sentence.written == "We discussed metoprolol and metoprolol."
    assert sentence.spoken == "We discussed meh TOE pro lol and meh TOE pro lol."
    # with no fixed term, any term of the lexicon
    terms = {fill(template, lex, random.Random(s)).terms for s in range(20)}
    assert {t for pair in terms for t in pair} == {"metoprolol", "sepsis"}


@pytest.mark.parametrize("pack", ["medical", "industrial", "dialect"])
def test_every_pack_carries_a_plain_list(pack, drugs):
    lex = load_lexicon(drugs)
    templates = load_templates(ROOT / "domains" / pack / "templates.txt")
    by_category, unfillable = carriers(templates, lex)
    assert by_category["term"] and all(t.categories == {"term"} for t in by_category["term"])
    assert unfillable  # the pack's own {drug}/{equipment}/... templates are left out
    ctx = PrepareContext(
        staging=Path("."),
        pack_dir=ROOT / "domains" / pack,
        lexicon=lex,
        language=None,
        log=lambda m: None,
    )
    train = sentences_for(SynthSource(per_term=2), ctx)
    ctx.avoid_sentences = {s.written.casefold() for s in train}
    heldout = sentences_for(SynthSource(split="heldout", per_term=1), ctx)
    for sentences, n in ((train, 2), (heldout, 1)):
        assert sorted(t for s in sentences for t in s.terms) == sorted(DRUGS * n)
    assert not {s.written for s in train} & {s.written for s in heldout}


def test_validate_reads_the_lexicon_and_the_templates_it_fills(tmp_path, drugs):
    (tmp_path / "t.txt").write_text("[train]\nStart {drug} now.\n[heldout]\nStop {drug}.\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: r\nlexicon: {path: drugs.txt}\n"
        "data:\n  train: [{source: synth, templates: t.txt, voices: [espeak:en-us]}]\n"
    )
    load_recipe(recipe)  # the recipe alone is fine
    with pytest.raises(RecipeError) as err:
        load_recipe(recipe, check_inputs=True)
    assert [str(p) for p in err.value.problems] == [
        f"{recipe}:4: data.train[0]: {tmp_path}/t.txt: no [train] template can carry terms of "
        "category 'term': add generic templates with {term} (e.g. 'We discussed {term}.')"
    ]
    recipe.write_text(recipe.read_text().replace("t.txt", "t.txt, categories: [drug]"))
    with pytest.raises(RecipeError, match=r"categories \['drug'\] are not in the lexicon"):
        load_recipe(recipe, check_inputs=True)
    # A lexicon that preparation would refuse is refused by validate too.
    (tmp_path / "bad.tsv").write_text("term\tkind\naspirin\tdrug\n")
    recipe.write_text("name: r\nlexicon: {path: bad.tsv}\n")
    with pytest.raises(RecipeError) as err:
        load_recipe(recipe, check_inputs=True)
    assert "r.yaml:2: lexicon.path: " in str(err.value.problems[0])
    assert "bad.tsv:1: header must name the tab-separated columns" in str(err.value.problems[0])


def test_a_plain_list_with_a_pack_synthesizes(tmp_path, drugs, monkeypatch):
    from workbench.data.prepare import prepare_data

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: r\ndomain: medical\nlexicon: {path: drugs.txt}\n"
        "data:\n  train: [{source: synth, voices: [espeak:en-us], per_term: 1}]\n"
        "  eval: [{source: synth, split: heldout, voices: [espeak:en-gb], per_term: 1}]\n"
    )
    prepared = prepare_data(load_recipe(recipe, check_inputs=True), tmp_path / "o", log=print)
    train, held = prepared.utterances("train"), prepared.utterances("eval")
    assert len(train) == len(held) == len(DRUGS)
    assert all(any(d in u.text for d in DRUGS) for u in train + held)
