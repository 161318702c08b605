"""The encoder in bfloat16 where that is measured to be faster.

On a CPU, Whisper's encoder reads a full 30-second window for every clip and is most of the
decoding time. In bfloat16 it ran about 3x faster on a CPU with AMX, but 1.25-1.3x slower on
one with AVX512-BF16 and no AMX: ``auto`` therefore decides by measurement on each machine
(see :mod:`workbench.models.probe`), among the precisions the hardware has natively. Measured
with tiny.en, the transcripts of 20 real clips stayed the same (see ``bench/encoder_window.py``),
but on the medical recipe's 219 evaluation clips about 4% flipped a near-tie word:
transcription uses ``auto`` by default, evaluation only when asked, so that a report's figures
do not depend on the machine. The decoder, where an adapter usually sits and where greedy
choices are made token by token, stays in the model's own precision.
"""

from __future__ import annotations

import torch

from workbench.models.probe import choose_encoder_precision

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


def auto_candidates(device: torch.device | str) -> tuple[str, ...]:
    """The precisions ``auto`` measures on ``device``: bf16 too where :func:`native_bf16`."""
    return ("fp32", "bf16") if native_bf16(device) else ("fp32",)


def model_identity(model: torch.nn.Module) -> str:
    """What a measured precision is remembered under when the caller names no model."""
    config = model.config
    return config.name_or_path or (
        f"whisper d_model={config.d_model} encoder_layers={config.encoder_layers}"
    )


def resolve_encoder_precision(
    choice: str, model: torch.nn.Module, model_id: str | None = None
) -> str:
    """``fp32`` or ``bf16``; ``auto`` measures which is faster for ``model`` here (cached).

    bf16 is a candidate only where :func:`native_bf16`; ``model_id`` (e.g. ``bundled:tiny.en``)
    names the model in the cache, else :func:`model_identity`.
    """
    if choice not in ENCODER_PRECISIONS:
        raise ValueError(
            f"encoder_precision: expected one of {', '.join(ENCODER_PRECISIONS)}, got {choice!r}"
        )
    if choice != "auto":
        return choice
    candidates = auto_candidates(next(model.get_encoder().parameters()).device)
    if len(candidates) == 1:
        return candidates[0]
    entry = choose_encoder_precision(model, model_id or model_identity(model), candidates)
    return entry["choice"]


def _cast(value: object, dtype: torch.dtype) -> object:
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.to(dtype)
    return value


def set_encoder_precision(model: torch.nn.Module, choice: str, model_id: str | None = None) -> str:
    """Run ``model``'s encoder in the chosen precision; returns the precision it runs in.

    ``auto`` on an encoder already cast keeps it as it is; otherwise see
    :func:`resolve_encoder_precision`.

    The encoder's weights are cast, its input is cast on the way in and its output back to
    the decoder's dtype on the way out, so callers (``generate``, a PEFT wrapper, the
    long-form path) see the same interface. Casting weights down cannot be undone without
    reloading: asking for fp32 on an encoder already in bf16 raises ``ValueError``.
    """
    encoder = model.get_encoder()
    current = getattr(encoder, _MARK, "fp32")
    if choice == "auto" and current != "fp32":
        return current
    precision = resolve_encoder_precision(choice, model, model_id)
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
