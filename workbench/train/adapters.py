"""LoRA on the chosen modules of the top N encoder and top M decoder layers.

peft's ``layers_to_transform`` alone would pick the same layer indices in both stacks; the
encoder and decoder get separate counts here, so the adapter is given the full module names.
Every other weight (convolutions, embeddings, lower layers) stays frozen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from peft import LoraConfig, PeftModel, get_peft_model
from transformers import WhisperForConditionalGeneration

from workbench.recipe import LoraSpec

_LAYER = re.compile(r"^model\.(encoder|decoder)\.layers\.(\d+)\.(.+)$")


@dataclass(frozen=True)
class AdapterSummary:
    """What the adapter really wraps, read back from the wrapped model."""

    trainable_params: int
    total_params: int
    modules: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "trainable_params": self.trainable_params,
            "total_params": self.total_params,
            "trainable_share": round(self.trainable_params / max(1, self.total_params), 6),
            "adapted_modules": list(self.modules),
        }


def target_module_names(model: WhisperForConditionalGeneration, spec: LoraSpec) -> list[str]:
    """Full names of the linear modules to adapt.

    Raises:
        ValueError: a layer count larger than the model's, or targets that match nothing.
    """
    n_enc, n_dec = model.config.encoder_layers, model.config.decoder_layers
    if spec.top_encoder_layers > n_enc or spec.top_decoder_layers > n_dec:
        raise ValueError(
            f"lora: the model has {n_enc} encoder and {n_dec} decoder layers; the recipe asks "
            f"for the top {spec.top_encoder_layers} and {spec.top_decoder_layers}"
        )
    first = {"encoder": n_enc - spec.top_encoder_layers, "decoder": n_dec - spec.top_decoder_layers}
    names = []
    for name, _ in model.named_modules():
        match = _LAYER.match(name)
        if not match:
            continue
        stack, index, rest = match.group(1), int(match.group(2)), match.group(3)
        if index >= first[stack] and rest.rsplit(".", 1)[-1] in spec.targets:
            names.append(name)
    if not names:
        raise ValueError(f"lora.targets {spec.targets} match no module of the chosen layers")
    return names


def apply_lora(
    model: WhisperForConditionalGeneration, spec: LoraSpec
) -> tuple[PeftModel, AdapterSummary]:
    """Wrap ``model`` with LoRA as ``spec`` says; everything else is frozen.

    ``task_type`` is left unset: peft's SEQ_2_SEQ_LM wrapper passes ``input_ids`` to
    Whisper's forward, which takes ``input_features``.
    """
    config = LoraConfig(
        r=spec.rank,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=target_module_names(model, spec),
        bias="none",
    )
    wrapped = get_peft_model(model, config)
    return wrapped, summarize(wrapped)


def summarize(model: PeftModel) -> AdapterSummary:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    prefix = "base_model.model."
    modules = tuple(
        name.removeprefix(prefix).removesuffix(".lora_A")
        for name, _ in model.named_modules()
        if name.endswith(".lora_A")
    )
    return AdapterSummary(trainable, total, modules)
