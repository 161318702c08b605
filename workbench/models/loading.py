"""Loading a base model by its spec: ``bundled:NAME``, a local folder, or a hub id."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import WhisperForConditionalGeneration, WhisperProcessor

from workbench.models.bundled import BUNDLED, ensure_converted, get_bundled
from workbench.models.convert import MULTILINGUAL_VOCAB

BUNDLED_PREFIX = "bundled:"


class ModelLoadError(RuntimeError):
    """A model spec that names nothing loadable."""


@dataclass(frozen=True)
class ModelSource:
    """Where a model spec points: ``kind`` is ``bundled``, ``local`` or ``hub``."""

    spec: str
    kind: str
    location: str


def resolve_model_source(spec: str) -> ModelSource:
    """Classify a model spec without loading anything."""
    if spec.startswith(BUNDLED_PREFIX):
        name = spec[len(BUNDLED_PREFIX) :]
        get_bundled(name)  # raises with the list of known names
        return ModelSource(spec, "bundled", name)
    path = Path(spec).expanduser()
    if path.exists() or spec.startswith((".", "/", "~")):
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"model folder {path} has no config.json; expected a Hugging Face Whisper "
                f"folder (config.json, model.safetensors, the processor files)"
            )
        return ModelSource(spec, "local", str(path))
    return ModelSource(spec, "hub", spec)


@dataclass(frozen=True)
class ModelInfo:
    """What recipe checks need to know of a model, read without loading weights."""

    encoder_layers: int
    decoder_layers: int
    multilingual: bool


def model_info(spec: str) -> ModelInfo | None:
    """Layer counts and language support of a model; None when unknowable offline.

    (A hub id that is not in the local cache cannot be inspected without the hub.)
    """
    source = resolve_model_source(spec)
    if source.kind == "bundled":
        model = BUNDLED[source.location]
        return ModelInfo(model.encoder_layers, model.decoder_layers, model.multilingual)
    if source.kind == "local":
        config = json.loads((Path(source.location) / "config.json").read_text())
    else:
        try:
            from transformers import WhisperConfig

            config = WhisperConfig.from_pretrained(spec, local_files_only=True).to_dict()
        except OSError:
            return None
    return ModelInfo(
        int(config["encoder_layers"]),
        int(config["decoder_layers"]),
        int(config.get("vocab_size", 0)) >= MULTILINGUAL_VOCAB,
    )


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
