"""Loading a base model by its spec: ``bundled:NAME``, a local folder, or a hub id."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import WhisperForConditionalGeneration, WhisperProcessor

from workbench.models.bundled import ensure_converted, get_bundled
from workbench.models.info import (
    BUNDLED_PREFIX,
    ModelLoadError,
    model_languages,
    resolve_model_source,
)

__all__ = ["LoadedModel", "ModelLoadError", "default_device", "load_model", "model_path"]


def model_path(spec: str) -> str:
    """A path or hub id that ``from_pretrained`` takes; converts a bundled model if needed."""
    source = resolve_model_source(spec)
    if source.kind == "bundled":
        return str(ensure_converted(get_bundled(source.location)))
    return source.location


@dataclass
class LoadedModel:
    """A Whisper model with its processor, ready for ``generate``."""

    spec: str
    path: str
    model: WhisperForConditionalGeneration
    processor: WhisperProcessor

    @property
    def multilingual(self) -> bool:
        return bool(getattr(self.model.generation_config, "is_multilingual", False))

    @property
    def languages(self) -> tuple[str, ...]:
        """Language codes the model can be told to transcribe (none when English-only)."""
        return model_languages(self.model.config.vocab_size)

    @property
    def identity(self) -> str:
        """The model's name in caches: ``bundled:NAME``, a hub id, or a folder's absolute path."""
        if self.spec.startswith(BUNDLED_PREFIX):
            return self.spec
        path = Path(self.path)
        return str(path.resolve()) if path.is_dir() else self.path

    @property
    def device(self) -> torch.device:
        return self.model.device


def default_device() -> str:
    """``cuda`` when a GPU is present, else ``cpu``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(
    spec: str, *, device: str | None = None, dtype: torch.dtype | None = None
) -> LoadedModel:
    """Load a Whisper model and processor in inference mode.

    Bundled models never reach for a hub (``local_files_only``). ``dtype`` defaults to
    float32 on CPU and float16 on GPU.
    """
    device = device or default_device()
    if dtype is None:
        dtype = torch.float32 if device == "cpu" else torch.float16
    source = resolve_model_source(spec)
    path = model_path(spec)
    local_only = source.kind != "hub"
    try:
        processor = WhisperProcessor.from_pretrained(path, local_files_only=local_only)
        model = WhisperForConditionalGeneration.from_pretrained(
            path, dtype=dtype, local_files_only=local_only
        )
    except OSError as exc:
        hint = (
            " It is not in the local Hugging Face cache and the hub could not be reached; "
            "use a bundled model (bundled:tiny.en, bundled:base) or a local folder."
            if source.kind == "hub"
            else ""
        )
        raise ModelLoadError(f"could not load model {spec!r}: {exc}.{hint}") from exc
    model.to(device).eval()
    return LoadedModel(spec=spec, path=path, model=model, processor=processor)
