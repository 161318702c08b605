"""The encoder in bfloat16: weights cast, input and output cast at its edges, once only."""

from __future__ import annotations

import copy

import pytest
import torch

import workbench.models.precision as precision
from workbench.models.precision import (
    encoder_precision,
    resolve_encoder_precision,
    set_encoder_precision,
)


@pytest.fixture
def model(tiny_model):
    return copy.deepcopy(tiny_model).eval()


def logits(model, features):
    ids = torch.full((features.shape[0], 3), model.config.decoder_start_token_id)
    with torch.no_grad():
        return model(input_features=features, decoder_input_ids=ids).logits


def test_auto_is_fp32_without_measuring_where_the_hardware_has_no_bf16(model, monkeypatch):
    def no_timing(name, forward):
        raise AssertionError("nothing to measure without native bf16")

    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    monkeypatch.setattr("workbench.models.probe.time_forward", no_timing)
    assert resolve_encoder_precision("auto", model) == "fp32"
    assert resolve_encoder_precision("bf16", model) == "bf16"
    with pytest.raises(ValueError, match="encoder_precision: expected one of auto, fp32, bf16"):
        resolve_encoder_precision("int8", model)


def test_bf16_encoder_keeps_the_interface_and_nearly_the_logits(model):
    features = torch.randn(2, model.config.num_mel_bins, 3000)
    before = logits(model, features)
    assert set_encoder_precision(model, "bf16") == "bf16"
    assert encoder_precision(model) == "bf16"
    assert {p.dtype for p in model.get_encoder().parameters()} == {torch.bfloat16}
    assert {p.dtype for p in model.get_decoder().parameters()} == {torch.float32}
    out = model.get_encoder()(features)  # float32 in, the decoder's float32 out
    assert out.last_hidden_state.dtype == torch.float32
    after = logits(model, features)
    assert after.dtype == torch.float32
    assert not torch.equal(before, after)  # it really ran in bf16
    assert torch.allclose(before, after, atol=0.1 * before.abs().max().item())
    with torch.no_grad():  # generate goes through the same hooks
        ids = model.generate(features, max_new_tokens=3, do_sample=False)
    assert ids.shape[0] == 2


def test_setting_twice_adds_no_second_cast_and_fp32_needs_a_reload(model):
    set_encoder_precision(model, "bf16")
    set_encoder_precision(model, "bf16")
    encoder = model.get_encoder()
    assert len(encoder._forward_hooks) == 1 and len(encoder._forward_pre_hooks) == 1
    with pytest.raises(ValueError, match="already runs in bf16; load the model again"):
        set_encoder_precision(model, "fp32")


def test_fp32_changes_nothing(model):
    features = torch.randn(1, model.config.num_mel_bins, 3000)
    before = logits(model, features)
    assert set_encoder_precision(model, "fp32") == "fp32"
    assert torch.equal(before, logits(model, features))
    assert not model.get_encoder()._forward_hooks
