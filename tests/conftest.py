"""Shared fixtures: a tiny random Whisper built in code, an isolated WORKBENCH_HOME."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

sys.path.insert(0, str(Path(__file__).parent))

from ct2_writer import ct2_variables, write_model_bin

from workbench.models.bundled import BUNDLED, meta_dir

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
