"""Training recipes for the tiny model (its folder and the clips: tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


def write_tiny_recipe(
    path: Path, model_dir: Path, manifests: dict, name: str, data_extra: str = "", extra: str = ""
) -> Path:
    """A recipe for the tiny model: train on ``manifests["train"]``, no eval split."""
    path.write_text(
        f"""name: {name}
base_model: {model_dir}
data:
  train: [{{source: manifest, path: {manifests["train"]}}}]
  eval_fraction: 0
{data_extra}{extra}"""
    )
    return path


@pytest.fixture
def recipe_file(tmp_path, tiny_model_dir, speech_manifests):
    """A maker of training recipes: augmentation, dropout and shuffling on, 6 steps."""

    def make(extra: str = "", data_extra: str = "") -> Path:
        settings = """augment:
  speed: {p: 0.5}
  noise: {p: 0.5, kinds: [pink]}
lora: {rank: 4, alpha: 8, dropout: 0.1, top_encoder_layers: 1, top_decoder_layers: 1}
train: {batch_size: 2, max_steps: 6, learning_rate: 1.0e-2, log_steps: 1, save_steps: 2, seed: 3}
"""
        return write_tiny_recipe(
            tmp_path / "recipe.yaml",
            tiny_model_dir,
            speech_manifests,
            "tiny-train",
            data_extra,
            settings + extra,
        )

    return make


def tiny_package(
    folder: Path, model_dir: Path, manifests: dict, name: str, extra: str, package: str = "pkg"
) -> Path:
    """An adapter package of the tiny model: ``extra`` (lora and train settings) trained in
    ``folder``, then exported to ``folder / package``."""
    from workbench.export.package import export_peft
    from workbench.recipe import load_recipe
    from workbench.runs import RunDir
    from workbench.train.loop import train_recipe

    recipe = write_tiny_recipe(folder / f"{name}.yaml", model_dir, manifests, name, extra=extra)
    run = RunDir(folder / f"{name}-run")
    train_recipe(load_recipe(recipe), run, log=lambda m: None)
    out, _ = export_peft(run.root, folder / package)
    return out
