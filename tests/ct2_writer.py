"""Test helper: write a Hugging Face Whisper state dict as a CTranslate2 ``model.bin``.

The inverse of ``workbench.models.convert``, written from the CTranslate2 spec's layout
so that a round trip checks the converter.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch
from transformers import WhisperConfig

_CODES = {
    np.dtype("<f4"): 0,
    np.dtype("i1"): 1,
    np.dtype("<i2"): 2,
    np.dtype("<i4"): 3,
    np.dtype("<f2"): 4,
}


def _string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def write_model_bin(
    path: Path,
    variables: dict[str, np.ndarray],
    aliases: dict[str, str] | None = None,
    *,
    version: int = 6,
    bf16: set[str] = frozenset(),
) -> None:
    out = bytearray(struct.pack("<I", version) + _string("WhisperSpec") + struct.pack("<I", 3))
    out += struct.pack("<I", len(variables))
    for name, array in variables.items():
        out += _string(name) + struct.pack("<B", array.ndim)
        out += b"".join(struct.pack("<I", d) for d in array.shape)
        if name in bf16:
            bits = (np.ascontiguousarray(array, dtype="<f4").view("<u4") >> 16).astype("<u2")
            data, code = bits.tobytes(), 5
        else:
            data, code = np.ascontiguousarray(array).tobytes(), _CODES[array.dtype]
        out += struct.pack("<B", code) + struct.pack("<I", len(data)) + data
    aliases = aliases or {}
    out += struct.pack("<I", len(aliases))
    for alias, target in aliases.items():
        out += _string(alias) + _string(target)
    Path(path).write_bytes(bytes(out))


def ct2_variables(sd: dict[str, torch.Tensor], config: WhisperConfig) -> dict[str, np.ndarray]:
    """CTranslate2 variables (fp16, fused projections) for an HF Whisper state dict."""

    def a(name: str) -> np.ndarray:
        return sd[name].detach().numpy().astype("<f2")

    v: dict[str, np.ndarray] = {}

    def lin(dst: str, src: str) -> None:
        v[f"{dst}/weight"], v[f"{dst}/bias"] = a(f"{src}.weight"), a(f"{src}.bias")

    def ln(dst: str, src: str) -> None:
        v[f"{dst}/gamma"], v[f"{dst}/beta"] = a(f"{src}.weight"), a(f"{src}.bias")

    def qkv(dst: str, src: str) -> None:
        d = config.d_model
        v[f"{dst}/weight"] = np.concatenate([a(f"{src}.{p}_proj.weight") for p in "qkv"])
        v[f"{dst}/bias"] = np.concatenate(
            [a(f"{src}.q_proj.bias"), np.zeros(d, "<f2"), a(f"{src}.v_proj.bias")]
        )

    for i in (1, 2):
        lin(f"encoder/conv{i}", f"model.encoder.conv{i}")
    v["encoder/position_encodings/encodings"] = a("model.encoder.embed_positions.weight")
    v["encoder/num_heads"] = np.array(config.encoder_attention_heads, dtype="<i2")
    for i in range(config.encoder_layers):
        s, d = f"model.encoder.layers.{i}", f"encoder/layer_{i}"
        ln(f"{d}/self_attention/layer_norm", f"{s}.self_attn_layer_norm")
        qkv(f"{d}/self_attention/linear_0", f"{s}.self_attn")
        lin(f"{d}/self_attention/linear_1", f"{s}.self_attn.out_proj")
        ln(f"{d}/ffn/layer_norm", f"{s}.final_layer_norm")
        lin(f"{d}/ffn/linear_0", f"{s}.fc1")
        lin(f"{d}/ffn/linear_1", f"{s}.fc2")
    ln("encoder/layer_norm", "model.encoder.layer_norm")
    v["decoder/embeddings/weight"] = a("model.decoder.embed_tokens.weight")
    v["decoder/position_encodings/encodings"] = a("model.decoder.embed_positions.weight")
    v["decoder/num_heads"] = np.array(config.decoder_attention_heads, dtype="<i2")
    for i in range(config.decoder_layers):
        s, d = f"model.decoder.layers.{i}", f"decoder/layer_{i}"
        ln(f"{d}/self_attention/layer_norm", f"{s}.self_attn_layer_norm")
        qkv(f"{d}/self_attention/linear_0", f"{s}.self_attn")
        lin(f"{d}/self_attention/linear_1", f"{s}.self_attn.out_proj")
        ln(f"{d}/attention/layer_norm", f"{s}.encoder_attn_layer_norm")
        lin(f"{d}/attention/linear_0", f"{s}.encoder_attn.q_proj")
        kv_w = np.concatenate(
            [a(f"{s}.encoder_attn.k_proj.weight"), a(f"{s}.encoder_attn.v_proj.weight")]
        )
        v[f"{d}/attention/linear_1/weight"] = kv_w
        v[f"{d}/attention/linear_1/bias"] = np.concatenate(
            [np.zeros(config.d_model, "<f2"), a(f"{s}.encoder_attn.v_proj.bias")]
        )
        lin(f"{d}/attention/linear_2", f"{s}.encoder_attn.out_proj")
        ln(f"{d}/ffn/layer_norm", f"{s}.final_layer_norm")
        lin(f"{d}/ffn/linear_0", f"{s}.fc1")
        lin(f"{d}/ffn/linear_1", f"{s}.fc2")
    ln("decoder/layer_norm", "model.decoder.layer_norm")
    return v
