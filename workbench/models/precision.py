"""The encoder in bfloat16 where the hardware multiplies bfloat16 natively.

On a CPU, Whisper's encoder reads a full 30-second window for every clip and is most of the
decoding time. CPUs with AVX512-BF16 or AMX (and GPUs with bf16) run it about 1.5x faster in
bfloat16. Measured with tiny.en, the transcripts of 20 real clips stayed the same (see
``bench/encoder_window.py``), but on the medical recipe's 219 evaluation clips about 4% flipped
a near-tie word: transcription uses it by default (``auto``), evaluation only when asked, so
that a report's figures do not depend on the machine. The decoder, where an adapter usually
sits and where greedy choices are made token by token, stays in the model's own precision.
"""

from __future__ import annotations

import torch

ENCODER_PRECISIONS = ("auto", "fp32", "bf16")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
_MARK = "_workbench_encoder_precision"


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices natively (so faster than float32)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:  # private helpers, present in torch 2.x; without them, assume no
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


def resolve_encoder_precision(choice: str, device: torch.device | str) -> str:
    """``auto`` becomes ``bf16`` where :func:`native_bf16`, else ``fp32``."""
    if choice not in ENCODER_PRECISIONS:
        raise ValueError(
            f"encoder_precision: expected one of {', '.join(ENCODER_PRECISIONS)}, got {choice!r}"
        )
    if choice == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return choice


def _cast(value: object, dtype: torch.dtype) -> object:
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.to(dtype)
    return value


def set_encoder_precision(model: torch.nn.Module, choice: str) -> str:
    """Run ``model``'s encoder in the chosen precision; returns the precision it runs in.

    The encoder's weights are cast, its input is cast on the way in and its output back to
    the decoder's dtype on the way out, so callers (``generate``, a PEFT wrapper, the
    long-form path) see the same interface. Casting weights down cannot be undone without
    reloading: asking for fp32 on an encoder already in bf16 raises ``ValueError``.
    """
    encoder = model.get_encoder()
    current = getattr(encoder, _MARK, "fp32")
    precision = resolve_encoder_precision(choice, next(encoder.parameters()).device)
    if precision == current:
        return current
    if current != "fp32":
        raise ValueError(
            f"the encoder already runs in {current}; load the model again for {precision}"
        )
    dtype = _DTYPES[precision]
    out_dtype = model.get_decoder().embed_tokens.weight.dtype
    encoder.to(dtype)

    def cast_in(module, args, kwargs):
        args = tuple(_cast(a, dtype) for a in args)
        return args, {k: _cast(v, dtype) for k, v in kwargs.items()}

    def cast_out(module, args, output):
        if isinstance(output, tuple):
            return (_cast(output[0], out_dtype), *output[1:])
        output.last_hidden_state = output.last_hidden_state.to(out_dtype)
        return output

    encoder.register_forward_pre_hook(cast_in, with_kwargs=True)
    encoder.register_forward_hook(cast_out)
    setattr(encoder, _MARK, precision)
    return precision


def encoder_precision(model: torch.nn.Module) -> str:
    """The precision ``model``'s encoder runs in (``fp32`` unless set)."""
    return getattr(model.get_encoder(), _MARK, "fp32")
