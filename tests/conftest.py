"""Shared fixtures: a tiny random Whisper built in code, an isolated WORKBENCH_HOME."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from transformers import (
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
    WhisperProcessor,
)

sys.path.insert(0, str(Path(__file__).parent))

from ct2_writer import ct2_variables, write_model_bin

from workbench.data.sources.pocketsphinx import prepare_pocketsphinx
from workbench.models.bundled import BUNDLED, meta_dir
from workbench.models.convert import build_generation_config, build_tokenizer
from workbench.recipe import PocketsphinxSource

PROJECT = Path(__file__).resolve().parent.parent
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


@pytest.fixture(scope="session", autouse=True)
def _session_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One WORKBENCH_HOME for the session: tests never touch the user's cache."""
    home = tmp_path_factory.mktemp("workbench_home")
    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBENCH_HOME", str(home))
    yield
    mp.undo()


def tiny_whisper_config(vocab_size: int = 51864) -> WhisperConfig:
    """A Whisper small enough to run in milliseconds, with the real vocabulary size."""
    return WhisperConfig(
        vocab_size=vocab_size,
        num_mel_bins=80,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_source_positions=1500,
        max_target_positions=448,
        decoder_start_token_id=50257,
    )


@pytest.fixture(scope="session")
def tiny_model() -> WhisperForConditionalGeneration:
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(tiny_whisper_config())
    # Round through fp16, as CTranslate2 packages store weights.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
    return model.eval()


@pytest.fixture(scope="session")
def tiny_ct2_package(tmp_path_factory: pytest.TempPathFactory, tiny_model) -> Path:
    """A folder shaped like a faster-whisper package, holding the tiny random model."""
    folder = tmp_path_factory.mktemp("tiny_ct2")
    real = meta_dir(BUNDLED["tiny.en"])
    shutil.copy(real / "tokenizer.json", folder / "tokenizer.json")
    shutil.copy(real / "config.json", folder / "config.json")
    variables = ct2_variables(tiny_model.state_dict(), tiny_model.config)
    write_model_bin(
        folder / "model.bin",
        variables,
        {"decoder/projection/weight": "decoder/embeddings/weight"},
    )
    return folder


def need_librivox() -> None:
    if not (LIBRIVOX / "transcription").is_file():
        pytest.fail(
            "pocketsphinx-testdata is not installed; scripts/setup.sh --test installs it "
            "(apt-get install pocketsphinx-testdata)"
        )


def tiny_whisper_folder(
    folder: Path, *, seed: int = 0, bundled: str = "tiny.en", vocab_size: int = 51864
) -> Path:
    """A Hugging Face Whisper folder: a tiny random model (weights from ``seed``) with the
    real tokenizer of the bundled model ``bundled`` (tiny.en: English-only; base:
    multilingual, vocabulary 51865)."""
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(tiny_whisper_config(vocab_size))
    meta = meta_dir(BUNDLED[bundled])
    tokenizer = build_tokenizer(meta / "tokenizer.json", vocab_size)
    ct2_config = json.loads((meta / "config.json").read_text())
    model.generation_config = build_generation_config(model.config, tokenizer, ct2_config)
    model.save_pretrained(folder)
    WhisperProcessor(WhisperFeatureExtractor(), tokenizer).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A Hugging Face Whisper folder: a tiny random model with tiny.en's real tokenizer."""
    return tiny_whisper_folder(tmp_path_factory.mktemp("tiny_whisper"))


@pytest.fixture(scope="session")
def other_english(tmp_path_factory):
    """Another tiny model with tiny.en's tokenizer: other weights, the same tokens."""
    return tiny_whisper_folder(
        tmp_path_factory.mktemp("teacher_en"), seed=1, bundled="tiny.en", vocab_size=51864
    )


@pytest.fixture(scope="session")
def multilingual(tmp_path_factory):
    """A tiny multilingual model (base's tokenizer): a tokenizer tiny.en does not share."""
    return tiny_whisper_folder(
        tmp_path_factory.mktemp("teacher_multi"), seed=2, bundled="base", vocab_size=51865
    )


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
