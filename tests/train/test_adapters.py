"""LoRA goes exactly where the recipe says; everything else is frozen."""

from __future__ import annotations

import pytest
import torch
from transformers import WhisperForConditionalGeneration

from tests.conftest import tiny_whisper_config
from workbench.recipe import LoraSpec
from workbench.train.adapters import apply_lora, target_module_names


def model(layers: int = 4) -> WhisperForConditionalGeneration:
    torch.manual_seed(0)
    config = tiny_whisper_config()
    config.encoder_layers = config.decoder_layers = layers
    return WhisperForConditionalGeneration(config)


def test_separate_counts_for_encoder_and_decoder():
    names = target_module_names(
        model(4), LoraSpec(targets=["q_proj"], top_encoder_layers=1, top_decoder_layers=3)
    )
    assert names == [
        "model.encoder.layers.3.self_attn.q_proj",
        "model.decoder.layers.1.self_attn.q_proj",
        "model.decoder.layers.1.encoder_attn.q_proj",
        "model.decoder.layers.2.self_attn.q_proj",
        "model.decoder.layers.2.encoder_attn.q_proj",
        "model.decoder.layers.3.self_attn.q_proj",
        "model.decoder.layers.3.encoder_attn.q_proj",
    ]


@pytest.mark.parametrize(("enc", "dec"), [(0, 2), (2, 0), (1, 1)])
def test_only_the_adapter_trains(enc, dec):
    wrapped, summary = apply_lora(
        model(),
        LoraSpec(rank=4, targets=["q_proj", "fc1"], top_encoder_layers=enc, top_decoder_layers=dec),
    )
    trainable = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert any(".encoder." in m for m in summary.modules) == (enc > 0)
    assert any(".decoder." in m for m in summary.modules) == (dec > 0)
    assert summary.trainable_params == sum(
        p.numel() for p in wrapped.parameters() if p.requires_grad
    )
    frozen = dict(wrapped.named_parameters())
    assert not frozen["base_model.model.model.encoder.conv1.weight"].requires_grad
    assert not frozen["base_model.model.model.decoder.embed_tokens.weight"].requires_grad


def test_generate_still_works_after_wrapping():
    wrapped, _ = apply_lora(model(), LoraSpec(rank=2))
    out = wrapped.generate(torch.zeros(1, 80, 3000), max_new_tokens=3)
    assert out.shape[0] == 1


def test_too_many_layers_is_a_clear_error():
    with pytest.raises(ValueError, match="the model has 4 encoder and 4 decoder layers"):
        target_module_names(model(4), LoraSpec(top_encoder_layers=5))
