"""Conversion of a faster-whisper (CTranslate2) checkpoint to a Hugging Face Whisper folder.

The CTranslate2 Whisper spec stores the same weights as Hugging Face's
``WhisperForConditionalGeneration`` under other names and with some projections fused:
self-attention ``linear_0`` is q, k and v stacked on the output axis; in the decoder's
cross-attention (``attention``) ``linear_0`` is q and ``linear_1`` is k and v stacked.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from transformers import (
    GenerationConfig,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
    WhisperProcessor,
    WhisperTokenizer,
)
from transformers.models.whisper.tokenization_whisper import LANGUAGES

from workbench.models.ct2_reader import CT2FormatError, CT2Model
from workbench.models.info import MULTILINGUAL_VOCAB

# Whisper's vocabulary ends with 1501 timestamp tokens <|0.00|> .. <|30.00|>.
N_TIMESTAMP_TOKENS = 1501
# Whisper's head size is 64 for every model size; used only when a file lacks num_heads.
HEAD_DIM = 64


def _t(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array, copy=True, order="C"))


def _scalar(ct2: CT2Model, name: str, default: int) -> int:
    if name in ct2.variables:
        return int(ct2.variables[name].reshape(()))
    return default


def whisper_config_from_ct2(ct2: CT2Model, tokenizer: WhisperTokenizer) -> WhisperConfig:
    """Derive the ``WhisperConfig`` (sizes and special token ids) from the weights."""
    if ct2.spec != "WhisperSpec":
        raise CT2FormatError(f"model.bin holds a {ct2.spec}, not a WhisperSpec")
    n_enc = _count_layers(ct2, "encoder")
    n_dec = _count_layers(ct2, "decoder")
    vocab_size, d_model = ct2.get("decoder/embeddings/weight").shape
    n_mels = ct2.get("encoder/conv1/weight").shape[1]
    enc_ffn = ct2.get("encoder/layer_0/ffn/linear_0/weight").shape[0]
    dec_ffn = ct2.get("decoder/layer_0/ffn/linear_0/weight").shape[0]
    ids = _special_ids(tokenizer)
    return WhisperConfig(
        vocab_size=vocab_size,
        num_mel_bins=n_mels,
        d_model=d_model,
        encoder_layers=n_enc,
        decoder_layers=n_dec,
        encoder_attention_heads=_scalar(ct2, "encoder/num_heads", d_model // HEAD_DIM),
        decoder_attention_heads=_scalar(ct2, "decoder/num_heads", d_model // HEAD_DIM),
        encoder_ffn_dim=enc_ffn,
        decoder_ffn_dim=dec_ffn,
        max_source_positions=ct2.get("encoder/position_encodings/encodings").shape[0],
        max_target_positions=ct2.get("decoder/position_encodings/encodings").shape[0],
        pad_token_id=ids["eot"],
        bos_token_id=ids["eot"],
        eos_token_id=ids["eot"],
        decoder_start_token_id=ids["sot"],
        begin_suppress_tokens=[220, ids["eot"]],
        tie_word_embeddings=True,
    )


def _count_layers(ct2: CT2Model, stack: str) -> int:
    n = 0
    while f"{stack}/layer_{n}/ffn/linear_0/weight" in ct2.variables:
        n += 1
    if n == 0:
        raise CT2FormatError(f"model.bin has no {stack} layers")
    return n


def state_dict_from_ct2(ct2: CT2Model, config: WhisperConfig) -> dict[str, torch.Tensor]:
    """Map every CTranslate2 variable onto the Hugging Face Whisper parameter names."""
    sd: dict[str, torch.Tensor] = {}

    def linear(dst: str, src: str) -> None:
        sd[f"{dst}.weight"] = _t(ct2.get(f"{src}/weight"))
        sd[f"{dst}.bias"] = _t(ct2.get(f"{src}/bias"))

    def norm(dst: str, src: str) -> None:
        sd[f"{dst}.weight"] = _t(ct2.get(f"{src}/gamma"))
        sd[f"{dst}.bias"] = _t(ct2.get(f"{src}/beta"))

    def qkv(dst: str, src: str) -> None:
        w = ct2.get(f"{src}/weight")
        b = ct2.get(f"{src}/bias")
        for i, name in enumerate(("q_proj", "k_proj", "v_proj")):
            part = slice(i * config.d_model, (i + 1) * config.d_model)
            sd[f"{dst}.{name}.weight"] = _t(w[part])
            if name != "k_proj":  # HF Whisper has no k bias (CTranslate2 stores zeros)
                sd[f"{dst}.{name}.bias"] = _t(b[part])

    def kv(dst: str, src: str) -> None:
        w = ct2.get(f"{src}/weight")
        b = ct2.get(f"{src}/bias")
        d = config.d_model
        sd[f"{dst}.k_proj.weight"] = _t(w[:d])
        sd[f"{dst}.v_proj.weight"] = _t(w[d:])
        sd[f"{dst}.v_proj.bias"] = _t(b[d:])

    enc, dec = "model.encoder", "model.decoder"
    for conv in ("conv1", "conv2"):
        linear(f"{enc}.{conv}", f"encoder/{conv}")
    sd[f"{enc}.embed_positions.weight"] = _t(ct2.get("encoder/position_encodings/encodings"))

    def self_attention_and_ffn(dst: str, src: str) -> None:  # shared by both stacks
        norm(f"{dst}.self_attn_layer_norm", f"{src}/self_attention/layer_norm")
        qkv(f"{dst}.self_attn", f"{src}/self_attention/linear_0")
        linear(f"{dst}.self_attn.out_proj", f"{src}/self_attention/linear_1")
        norm(f"{dst}.final_layer_norm", f"{src}/ffn/layer_norm")
        linear(f"{dst}.fc1", f"{src}/ffn/linear_0")
        linear(f"{dst}.fc2", f"{src}/ffn/linear_1")

    for i in range(config.encoder_layers):
        self_attention_and_ffn(f"{enc}.layers.{i}", f"encoder/layer_{i}")
    norm(f"{enc}.layer_norm", "encoder/layer_norm")

    sd[f"{dec}.embed_tokens.weight"] = _t(ct2.get("decoder/embeddings/weight"))
    sd[f"{dec}.embed_positions.weight"] = _t(ct2.get("decoder/position_encodings/encodings"))
    for i in range(config.decoder_layers):
        src, dst = f"decoder/layer_{i}", f"{dec}.layers.{i}"
        self_attention_and_ffn(dst, src)
        norm(f"{dst}.encoder_attn_layer_norm", f"{src}/attention/layer_norm")
        linear(f"{dst}.encoder_attn.q_proj", f"{src}/attention/linear_0")
        kv(f"{dst}.encoder_attn", f"{src}/attention/linear_1")
        linear(f"{dst}.encoder_attn.out_proj", f"{src}/attention/linear_2")
    norm(f"{dec}.layer_norm", "decoder/layer_norm")
    return sd


def build_tokenizer(tokenizer_json: Path, vocab_size: int) -> WhisperTokenizer:
    """Build a Whisper tokenizer from faster-whisper's ``tokenizer.json``.

    Repairs two faults of these files: the multilingual one lacks the first BPE merge
    (``Ġ t``), so encoding (training labels) would give ids Whisper never produced; and
    neither lists the timestamp tokens, so ids past ``<|notimestamps|>`` could not be decoded.
    All of Whisper's control tokens are registered as special tokens, with
    ``<|endoftext|>`` as the pad token.
    """
    data = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    model = data["model"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    if ("Ġ", "t") not in merges:
        merges.insert(0, ("Ġ", "t"))
    added = sorted(data["added_tokens"], key=lambda t: t["id"])
    tokenizer = WhisperTokenizer(
        vocab=dict(model["vocab"]),
        merges=merges,
        pad_token="<|endoftext|>",
        extra_special_tokens=[t["content"] for t in added if t["content"] != "<|endoftext|>"],
    )
    n_text = vocab_size - N_TIMESTAMP_TOKENS
    tokenizer.add_tokens([f"<|{i * 0.02:.2f}|>" for i in range(N_TIMESTAMP_TOKENS)])
    for token in added:
        got = tokenizer.convert_tokens_to_ids(token["content"])
        if got != token["id"]:
            raise CT2FormatError(
                f"{tokenizer_json}: token {token['content']} got id {got}, expected {token['id']}"
            )
    if len(tokenizer) != vocab_size or tokenizer.convert_tokens_to_ids("<|0.00|>") != n_text:
        raise CT2FormatError(
            f"{tokenizer_json}: tokenizer has {len(tokenizer)} tokens, the model {vocab_size}"
        )
    return tokenizer


def _special_ids(tokenizer: WhisperTokenizer) -> dict[str, int]:
    ids = {
        "eot": "<|endoftext|>",
        "sot": "<|startoftranscript|>",
        "translate": "<|translate|>",
        "transcribe": "<|transcribe|>",
        "prev": "<|startofprev|>",
        "no_timestamps": "<|notimestamps|>",
    }
    return {k: tokenizer.convert_tokens_to_ids(v) for k, v in ids.items()}


def build_generation_config(
    config: WhisperConfig, tokenizer: WhisperTokenizer, ct2_config: dict
) -> GenerationConfig:
    """Generation settings for greedy transcription without timestamps.

    English-only models get no language or task tokens (``generate`` refuses them); the
    multilingual ones get ``lang_to_id`` and ``task_to_id`` so ``generate(language=...)``
    works. Suppress lists come from the CTranslate2 package's ``config.json``.
    """
    ids = _special_ids(tokenizer)
    multilingual = config.vocab_size >= MULTILINGUAL_VOCAB
    gen = GenerationConfig(
        decoder_start_token_id=ids["sot"],
        bos_token_id=ids["eot"],
        eos_token_id=ids["eot"],
        pad_token_id=ids["eot"],
        no_timestamps_token_id=ids["no_timestamps"],
        prev_sot_token_id=ids["prev"],
        suppress_tokens=list(ct2_config.get("suppress_ids", [])),
        begin_suppress_tokens=list(ct2_config.get("suppress_ids_begin", [220, ids["eot"]])),
        alignment_heads=[list(h) for h in ct2_config.get("alignment_heads", [])],
        max_initial_timestamp_index=50,
        max_length=config.max_target_positions,
        is_multilingual=multilingual,
        return_timestamps=False,
    )
    if multilingual:
        gen.lang_to_id = {
            f"<|{code}|>": tokenizer.convert_tokens_to_ids(f"<|{code}|>")
            for code in LANGUAGES
            if tokenizer.convert_tokens_to_ids(f"<|{code}|>") != tokenizer.unk_token_id
        }
        gen.task_to_id = {"transcribe": ids["transcribe"], "translate": ids["translate"]}
    return gen


def convert_ct2_whisper(
    ct2: CT2Model, tokenizer_json: Path, ct2_config: dict, out_dir: Path
) -> None:
    """Write a Hugging Face Whisper folder (model, processor, generation config) to ``out_dir``.

    Weights are saved in float16, as the source holds them; the loader upcasts as needed.
    """
    vocab_size = ct2.get("decoder/embeddings/weight").shape[0]
    tokenizer = build_tokenizer(tokenizer_json, vocab_size)
    config = whisper_config_from_ct2(ct2, tokenizer)
    state = state_dict_from_ct2(ct2, config)
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    missing = [k for k in missing if k != "proj_out.weight"]  # tied to the token embeddings
    if missing or unexpected:
        raise CT2FormatError(f"weights do not fit: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.generation_config = build_generation_config(config, tokenizer, ct2_config)
    model.save_pretrained(out_dir)
    extractor = WhisperFeatureExtractor(feature_size=config.num_mel_bins)
    WhisperProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(out_dir)
