"""The shipped English recipes evaluate on voices and conditions training never meets."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[1] / "data_recipes"


@pytest.mark.parametrize("name", ["medical", "industrial", "dialect"])
def test_eval_voices_and_conditions_are_kept_out_of_training(name):
    path = RECIPES / f"{name}_tiny-en_lora.yaml"
    assert path.read_text().startswith(f"# workbench run data_recipes/{path.name}\n")
    recipe = load_recipe(path)
    train_voices = {v for s in recipe.data.train if s.source == "synth" for v in s.voices}
    evals = [s for s in recipe.data.eval if s.source == "synth"]
    assert evals and all(s.split == "heldout" for s in evals)
    eval_voices = {v for s in evals for v in s.voices}
    assert len(eval_voices) >= 3 and not eval_voices & train_voices
    assert any(v.startswith("flite:") for v in eval_voices)
    kinds = [s.condition.kind for s in evals]
    assert "clean" in kinds and set(kinds) - {"clean"}
    trained_noise = set(recipe.augment.noise.kinds) if recipe.augment.noise else set()
    for spec in evals:
        if spec.condition.kind == "noise":
            assert spec.condition.noise not in trained_noise
        if spec.condition.kind == "telephone":
            assert recipe.augment.telephone is None
        assert spec.limit and spec.limit <= 80  # the demo's evaluation stays short
