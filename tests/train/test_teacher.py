"""Distillation toward a teacher model (``train.teacher``): the KL term with a shared
tokenizer, and the refusal, at recipe validation and in the trainer, when they differ."""

from __future__ import annotations

import pytest

from workbench.recipe import RecipeError, load_recipe
from workbench.runs import RunDir
from workbench.train.loop import Trainer, TrainError, train_recipe


def quiet(message: str) -> None:
    pass


def test_kl_toward_a_teacher_with_the_same_tokenizer(
    recipe_file, tiny_model_dir, other_english, tmp_path
):
    path = recipe_file()
    plain = ["lora.dropout=0", "augment.speed=null", "augment.noise=null"]
    teacher = [f"train.teacher={other_english}", "train.teacher_weight=1.0"]
    trainer = Trainer(load_recipe(path, [*teacher, *plain]), RunDir(tmp_path / "t"), log=quiet)
    assert trainer.teacher is not None
    assert not any(p.requires_grad for p in trainer.teacher.parameters())
    trainer.model.eval()
    loss, parts = trainer._loss(dict(trainer._batch(0)))
    assert parts["teacher_kd"] > 0.01  # another model: the distributions differ
    assert float(loss.detach()) == pytest.approx(parts["ce"] + parts["teacher_kd"], rel=1e-4)
    half = load_recipe(path, [*teacher, "train.teacher_weight=0.5", *plain])
    halved = Trainer(half, RunDir(tmp_path / "h"), log=quiet)
    halved.model.eval()
    loss, again = halved._loss(dict(halved._batch(0)))
    assert again["teacher_kd"] == pytest.approx(parts["teacher_kd"], rel=1e-4)
    assert float(loss.detach()) == pytest.approx(again["ce"] + 0.5 * again["teacher_kd"], rel=1e-4)

    # The student as its own teacher: before any step (LoRA starts at zero) the KL is 0.
    own_teacher = [f"train.teacher={tiny_model_dir}", "train.teacher_weight=1.0"]
    own = Trainer(load_recipe(path, [*own_teacher, *plain]), RunDir(tmp_path / "o"), log=quiet)
    own.model.eval()
    _, parts = own._loss(dict(own._batch(0)))
    assert parts["teacher_kd"] == pytest.approx(0.0, abs=1e-5)

    # A run logs the term, and it trains.
    run = RunDir(tmp_path / "run")
    result = train_recipe(load_recipe(path, [*teacher, "train.max_steps=2"]), run, log=quiet)
    assert result.state == "done"
    assert all("teacher_kd" in row and row["teacher_kd"] >= 0 for row in run.metrics())


def test_teacher_settings_are_checked(recipe_file, tmp_path):
    path = recipe_file()
    with pytest.raises(
        RecipeError, match=r"train\.teacher_weight: is 1\.0 but train\.teacher is not set"
    ):
        load_recipe(path, ["train.teacher_weight=1.0"])
    with pytest.raises(RecipeError, match=r"train\.teacher_weight: is 0, so train\.teacher"):
        load_recipe(path, ["train.teacher=bundled:tiny.en"])
    with pytest.raises(RecipeError, match="teacher_temperature: expected a positive"):
        load_recipe(path, ["train.teacher_temperature=0"])


def test_different_tokenizers_are_refused_with_the_recipe(tmp_path, multilingual, tiny_model_dir):
    """English-only tiny.en against multilingual base: refused when the recipe is loaded,
    saying that only sequence-level distillation applies."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: kd\nbase_model: bundled:tiny.en\n"
        "train: {teacher: bundled:base, teacher_weight: 1.0}\n"
    )
    with pytest.raises(RecipeError) as err:
        load_recipe(recipe)
    message = str(err.value)
    assert (
        "train.teacher: bundled:base and the student bundled:tiny.en do not share a tokenizer"
        in message
    )
    assert (
        "multilingual against English-only" in message
        and "sequence-level distillation only" in message
    )
    assert "workbench label RECIPE --teacher bundled:base" in message
    # a local folder: its files are compared
    recipe.write_text(
        f"name: kd\nbase_model: {tiny_model_dir}\n"
        f"train: {{teacher: {multilingual}, teacher_weight: 1.0}}\n"
    )
    with pytest.raises(RecipeError, match="sequence-level distillation only"):
        load_recipe(recipe)


def test_the_trainer_refuses_a_teacher_with_another_tokenizer(recipe_file, multilingual, tmp_path):
    """Where the recipe was not checked against the models (check_model=False), the trainer
    still refuses, before training."""
    recipe = load_recipe(
        recipe_file(),
        [f"train.teacher={multilingual}", "train.teacher_weight=1.0"],
        check_model=False,
    )
    with pytest.raises(TrainError, match="sequence-level distillation only"):
        Trainer(recipe, RunDir(tmp_path / "x"), log=quiet)
