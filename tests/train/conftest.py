"""A tiny random Whisper saved as a local model folder, and a small real dataset to train on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import WhisperFeatureExtractor, WhisperProcessor

from tests.conftest import need_librivox, tiny_whisper_config
from workbench.data.sources.pocketsphinx import prepare_pocketsphinx
from workbench.models.bundled import BUNDLED, meta_dir
from workbench.models.convert import build_generation_config, build_tokenizer
from workbench.recipe import PocketsphinxSource


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A Hugging Face Whisper folder: a tiny random model with tiny.en's real tokenizer."""
    import torch
    from transformers import WhisperForConditionalGeneration

    folder = tmp_path_factory.mktemp("tiny_whisper")
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(tiny_whisper_config())
    meta = meta_dir(BUNDLED["tiny.en"])
    tokenizer = build_tokenizer(meta / "tokenizer.json", model.config.vocab_size)
    ct2_config = json.loads((meta / "config.json").read_text())
    model.generation_config = build_generation_config(model.config, tokenizer, ct2_config)
    model.save_pretrained(folder)
    WhisperProcessor(WhisperFeatureExtractor(), tokenizer).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def speech_manifests(tmp_path_factory):
    """Real recorded clips (pocketsphinx-testdata) as train, replay and general manifests."""
    need_librivox()
    folder = tmp_path_factory.mktemp("speech")
    rows = prepare_pocketsphinx(PocketsphinxSource()).candidates  # 5 librivox, then 5 cards
    texts = {c.audio.stem: c.text for c in rows}
    librivox = [c.audio for c in rows[:5]]
    cards = [c.audio for c in rows[5:]]

    def write(name, paths):
        rows = [{"id": p.stem, "audio": str(p), "text": texts[p.stem]} for p in paths]
        path = folder / f"{name}.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        return path

    return {
        "train": write("train", librivox[:4] + cards[:3]),
        "replay": write("replay", cards[3:]),
        "general": write("general", librivox[4:]),
    }


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
