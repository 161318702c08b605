"""Every shipped domain pack and recipe is valid, as a user would load it."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.data.templates import load_templates
from workbench.lexicon import load_lexicon
from workbench.recipe import available_domains, load_recipe

ROOT = Path(__file__).resolve().parent.parent
PACKS = sorted(p.parent for p in (ROOT / "domains").glob("*/domain.yaml"))
RECIPES = sorted((ROOT / "data_recipes").glob("*.yaml"))
LEXICONS = sorted((ROOT / "domains").rglob("lexicon.tsv"))


def test_the_three_packs_ship():
    assert available_domains() == ["dialect", "industrial", "medical"]


@pytest.mark.parametrize("lexicon", LEXICONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_lexicon_loads_and_its_templates_cover_it(lexicon):
    lex = load_lexicon(lexicon)
    templates = load_templates(lexicon.parent / "templates.txt", lex)
    for section in ("train", "heldout"):
        covered = set().union(*(t.categories for t in templates if t.section == section))
        assert covered == set(lex.categories()) | {"term"}, (
            f"[{section}] lacks {set(lex.categories()) | {'term'} - covered}"
        )


@pytest.mark.parametrize(
    ("pack", "minimum"), [("medical", 150), ("industrial", 150), ("dialect", 100)]
)
def test_pack_sizes(pack, minimum):
    assert len(load_lexicon(ROOT / "domains" / pack / "lexicon.tsv")) >= minimum


@pytest.mark.parametrize("pack", PACKS, ids=lambda p: p.name)
def test_every_pack_has_a_readme_and_valid_defaults(pack, tmp_path):
    assert (pack / "README.md").is_file()
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: x\ndomain: {pack.name}\n")
    loaded = load_recipe(recipe)
    assert loaded.lexicon.path == str(pack / "lexicon.tsv")


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_validates_and_opens_with_its_command(recipe):
    load_recipe(recipe)
    first = recipe.read_text().splitlines()[0]
    assert first.startswith("# workbench ") and recipe.name in first
    assert recipe.name == "general_en.yaml" or "_lora.yaml" in recipe.name
