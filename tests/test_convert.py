"""Conversion of CTranslate2 checkpoints: weights, config, tokenizer, generation config."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import WhisperForConditionalGeneration, WhisperProcessor

from workbench.models.bundled import BUNDLED, meta_dir
from workbench.models.convert import build_tokenizer, convert_ct2_whisper
from workbench.models.ct2_reader import read_ct2_model


@pytest.fixture(scope="module")
def converted(tiny_ct2_package, tmp_path_factory):
    out = tmp_path_factory.mktemp("converted")
    ct2 = read_ct2_model(tiny_ct2_package / "model.bin")
    meta = json.loads((tiny_ct2_package / "config.json").read_text())
    convert_ct2_whisper(ct2, tiny_ct2_package / "tokenizer.json", meta, out)
    return out


def test_round_trip_gives_the_same_weights(converted, tiny_model):
    model = WhisperForConditionalGeneration.from_pretrained(converted, dtype=torch.float32)
    got = model.state_dict()
    for name, expected in tiny_model.state_dict().items():
        torch.testing.assert_close(got[name], expected, rtol=0, atol=0, msg=name)
    assert model.config.encoder_attention_heads == tiny_model.config.encoder_attention_heads
    assert model.proj_out.weight.data_ptr() == model.model.decoder.embed_tokens.weight.data_ptr()


def test_round_trip_gives_the_same_outputs(converted, tiny_model):
    model = WhisperForConditionalGeneration.from_pretrained(converted, dtype=torch.float32).eval()
    torch.manual_seed(1)
    features = torch.randn(2, 80, 3000)
    decoder_ids = torch.tensor([[50257, 50362, 400, 11], [50257, 50362, 7, 8]])
    with torch.no_grad():
        want = tiny_model(input_features=features, decoder_input_ids=decoder_ids).logits
        got = model(input_features=features, decoder_input_ids=decoder_ids).logits
    torch.testing.assert_close(got, want)


def test_processor_and_generation_config_for_english_only(converted):
    processor = WhisperProcessor.from_pretrained(converted)
    tok = processor.tokenizer
    assert tok.pad_token == "<|endoftext|>"
    assert len(tok) == 51864
    assert tok.convert_tokens_to_ids("<|0.00|>") == 50363
    assert tok.convert_tokens_to_ids("<|30.00|>") == 51863
    ids = tok("hello world").input_ids
    assert ids[:2] == [50257, 50362] and ids[-1] == 50256
    assert tok.decode(ids, skip_special_tokens=True) == "hello world"
    gen = WhisperForConditionalGeneration.from_pretrained(converted).generation_config
    assert gen.decoder_start_token_id == 50257
    assert gen.no_timestamps_token_id == 50362
    assert gen.is_multilingual is False
    assert gen.begin_suppress_tokens == [220, 50256]
    assert 50362 in gen.suppress_tokens or 50361 in gen.suppress_tokens
    assert processor.feature_extractor.feature_size == 80


def test_generate_runs_on_the_converted_tiny_model(converted):
    model = WhisperForConditionalGeneration.from_pretrained(converted, dtype=torch.float32).eval()
    out = model.generate(torch.zeros(1, 80, 3000), max_new_tokens=5)
    assert out.shape[0] == 1 and 1 <= out.shape[1] <= 7


SENTENCES = [
    "the patient takes metoprolol twice a day",
    "That's the thing: it's 3.5 mg/kg, isn't it?",
    " leading space and Ünïcödé, 東京 and the end",
]


@pytest.mark.parametrize("name", ["tiny.en", "base"])
@pytest.mark.parametrize("text", SENTENCES)
def test_tokenizer_ids_re_encode_to_themselves(name, text):
    model = BUNDLED[name]
    vocab = 51865 if model.multilingual else 51864
    tok = build_tokenizer(meta_dir(model) / "tokenizer.json", vocab)
    ids = tok(text, add_special_tokens=False).input_ids
    assert tok(tok.decode(ids), add_special_tokens=False).input_ids == ids


def test_multilingual_tokenizer_gets_the_missing_first_merge():
    tok = build_tokenizer(meta_dir(BUNDLED["base"]) / "tokenizer.json", 51865)
    # Without the "Ġ t" merge " the" falls apart into pieces Whisper never emits.
    assert tok(" the", add_special_tokens=False).input_ids == [264]
    assert tok.convert_tokens_to_ids("<|en|>") == 50259
    assert tok.convert_tokens_to_ids("<|notimestamps|>") == 50363
    assert len(tok) == 51865
