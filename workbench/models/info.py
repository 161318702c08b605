"""What a model spec names, and facts about the model, without loading torch or weights.

Recipe validation runs on every command, so this module stays light: layer counts and the
vocabulary come from the bundled table or a ``config.json``; the language table is imported
only when a language is asked about.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from workbench.models.bundled import BUNDLED, get_bundled

BUNDLED_PREFIX = "bundled:"
MULTILINGUAL_VOCAB = 51865  # English-only Whisper models have 51864 tokens
# A hub id as the hub accepts it: [owner/]name, letters, digits, '-', '_', '.', at most 96.
_HUB_ID = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?/)?[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$"
)


class ModelLoadError(RuntimeError):
    """A model spec that names nothing loadable."""


@dataclass(frozen=True)
class ModelSource:
    """Where a model spec points: ``kind`` is ``bundled``, ``local`` or ``hub``."""

    spec: str
    kind: str
    location: str


def is_local_spec(spec: str) -> bool:
    """Whether a model spec names a folder on this machine (rather than bundled or hub)."""
    if spec.startswith(BUNDLED_PREFIX):
        return False
    return spec.startswith((".", "/", "~")) or Path(spec).expanduser().exists()


def resolve_model_source(spec: str) -> ModelSource:
    """Classify a model spec without loading anything."""
    if spec.startswith(BUNDLED_PREFIX):
        name = spec[len(BUNDLED_PREFIX) :]
        get_bundled(name)  # raises with the list of known names
        return ModelSource(spec, "bundled", name)
    path = Path(spec).expanduser()
    if is_local_spec(spec):
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"model folder {path} has no config.json; expected a Hugging Face Whisper "
                f"folder (config.json, model.safetensors, the processor files)"
            )
        return ModelSource(spec, "local", str(path))
    if not _HUB_ID.match(spec) or ".." in spec or "--" in spec:
        raise ModelLoadError(
            f"model {spec!r}: not bundled:NAME, a local folder, nor a hub id (owner/name: "
            "letters, digits, '-', '_' and '.', at most 96 each)"
        )
    return ModelSource(spec, "hub", spec)


def model_languages(vocab_size: int) -> tuple[str, ...]:
    """Language codes a Whisper vocabulary has tokens for (none for English-only models).

    Multilingual vocabularies list 99 languages in a fixed order; large-v3 added Cantonese.
    """
    if vocab_size < MULTILINGUAL_VOCAB:
        return ()
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    return tuple(LANGUAGES)[: 99 + vocab_size - MULTILINGUAL_VOCAB]


def language_code(name: str) -> str:
    """``"Chinese"``/``"chinese"``/``"zh"`` -> ``"zh"``; unknown names come back lowercased."""
    from transformers.models.whisper.tokenization_whisper import TO_LANGUAGE_CODE

    name = name.strip().lower()
    return TO_LANGUAGE_CODE.get(name, name)


@dataclass(frozen=True)
class ModelInfo:
    """What recipe checks need to know of a model."""

    encoder_layers: int
    decoder_layers: int
    vocab_size: int

    @property
    def multilingual(self) -> bool:
        return self.vocab_size >= MULTILINGUAL_VOCAB

    @property
    def languages(self) -> tuple[str, ...]:
        """Language codes the model can be told to transcribe (none when English-only)."""
        return model_languages(self.vocab_size)


def model_info(spec: str) -> ModelInfo | None:
    """Layer counts and vocabulary of a model; None when unknowable offline.

    (A hub id that is not in the local cache cannot be inspected without the hub.)
    """
    source = resolve_model_source(spec)
    if source.kind == "bundled":
        model = BUNDLED[source.location]
        vocab = MULTILINGUAL_VOCAB if model.multilingual else MULTILINGUAL_VOCAB - 1
        return ModelInfo(model.encoder_layers, model.decoder_layers, vocab)
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
        int(config.get("vocab_size", 0)),
    )


def model_fingerprint(spec: str, path: str | None = None) -> str | None:
    """A sha256 naming the base model's weights, so an adapter can be checked against it.

    Bundled models: the pinned ``model.bin`` hash. Local folders (and a resolved hub
    cache ``path``): the hash of their safetensors weights. None when unknowable offline.
    """
    import hashlib

    source = resolve_model_source(spec)
    if source.kind == "bundled":
        return BUNDLED[source.location].sha256
    folder = Path(path or source.location)
    files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    if not files:
        return None
    digest = hashlib.sha256()
    for file in files:
        with open(file, "rb") as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


def _tokenizer_files_vocab(folder: Path) -> dict[str, int] | None:
    """The token -> id table of a tokenizer saved in ``folder`` (``tokenizer.json``, or
    ``vocab.json`` with ``added_tokens.json``); None when neither is there."""
    vocab: dict[str, int] = {}
    if (folder / "tokenizer.json").is_file():
        data = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        vocab.update((data.get("model") or {}).get("vocab") or {})
        for token in data.get("added_tokens") or []:
            vocab[token["content"]] = int(token["id"])
        return vocab
    if (folder / "vocab.json").is_file():
        vocab.update(json.loads((folder / "vocab.json").read_text(encoding="utf-8")))
        added = folder / "added_tokens.json"
        if added.is_file():
            vocab.update(json.loads(added.read_text(encoding="utf-8")))
        return vocab
    return None


def tokenizer_vocab(spec: str) -> dict[str, int] | None:
    """The token -> id table of a model's tokenizer, read from its files without loading
    the model; None when unknowable offline (a hub model not in the cache)."""
    source = resolve_model_source(spec)
    if source.kind == "bundled":
        from workbench.models.bundled import meta_dir

        return _tokenizer_files_vocab(meta_dir(BUNDLED[source.location]))
    if source.kind == "local":
        return _tokenizer_files_vocab(Path(source.location))
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(spec, local_files_only=True)
    except Exception:  # not cached, or no hub library: unknowable here
        return None
    return _tokenizer_files_vocab(Path(folder))


def tokenizer_difference(first: str, second: str) -> str:
    """How the tokenizers of two models differ ('' when they are the same, as far as can be
    known offline): first their vocabulary sizes (from the configs), then their tables."""
    a, b = model_info(first), model_info(second)
    if a is not None and b is not None and a.vocab_size != b.vocab_size:
        kinds = {True: "multilingual", False: "English-only"}
        what = f"{a.vocab_size} against {b.vocab_size} tokens"
        if a.multilingual != b.multilingual:
            what += f": {kinds[a.multilingual]} against {kinds[b.multilingual]}"
        return what
    va, vb = tokenizer_vocab(first), tokenizer_vocab(second)
    if va is None or vb is None or va == vb:
        return ""
    if len(va) != len(vb):
        return f"{len(va)} against {len(vb)} tokens"
    moved = sum(1 for token, i in va.items() if vb.get(token) != i)
    return f"{moved} of {len(va)} tokens have other ids"
