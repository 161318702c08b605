"""The models a server holds, and the one function through which it decodes.

A :class:`ModelHost` keeps one base model and its adapter packages in memory; :func:`decode`
is the only call from the server into the decoding library (``workbench.transcribe``), so
that a change of decoder (hallucination guards, the lexicon boost) is made in one place.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.decoding.options import DEFAULT_TEMPERATURES, DecodingOptions
from workbench.export.adapter_check import AdapterError, read_adapter_info, touches_encoder
from workbench.export.boost_setting import read_package_boost
from workbench.serve.config import ServeConfig

if TYPE_CHECKING:
    from workbench.lexicon import Lexicon
    from workbench.models.loading import LoadedModel
    from workbench.transcribe import AdapterSet, Transcriber, Transcript


TRANSCRIBERS_KEPT = 32


@dataclass(frozen=True)
class DecodeKey:
    """What a batch shares: the served model, the prompt, the language, the temperature,
    the lexicon boost's strength (0: off), the near-miss rewrite's similarity (0: off; see
    :mod:`workbench.decoding.snap`), and the term gate (an adapter's transcript only
    where it changes a lexicon term, else the base model's, decoded with ``base_prompt``:
    the request's own prompt, without the package's lexicon prompt)."""

    model: str
    prompt: str | None = None
    language: str | None = None
    temperature: float = 0.0
    boost: float = 0.0
    gate: bool = False
    base_prompt: str | None = None
    near_miss: float = 0.0


@dataclass(frozen=True)
class ServedModel:
    """A name clients pass as ``model``: the base model, or an adapter package on it.

    ``lexicon_prompt`` is the package's lexicon as a decoding prompt when its recipe decodes
    with it (``lexicon.prompt: true``) and trained with it (``train.prompt_p`` above 0);
    ``note`` says why it is or is not applied. ``boost`` is the lexicon boost it decodes
    with by default (the package's ``lexicon_boost.json``), toward ``lexicon`` (its
    ``lexicon.tsv``, which a request's ``boost`` may use even when the default is 0), and
    ``near_miss`` the similarity at which it rewrites near misses of a term (0: off).
    ``shares_encoder``: the adapter leaves the encoder alone, so the term gate's two
    decodings share one encoder pass.
    """

    name: str
    adapter: bool
    folder: Path | None = None
    lexicon_prompt: str | None = None
    note: str = ""
    boost: float = 0.0
    lexicon: Path | None = None
    shares_encoder: bool = False
    near_miss: float = 0.0

    @property
    def can_gate(self) -> bool:
        """Whether requests may ask for the term gate: an adapter with a lexicon."""
        return self.adapter and self.lexicon is not None


def package_settings(folder: Path) -> tuple[str | None, str]:
    """The lexicon prompt an adapter package applies by default, and why (or why not)."""
    from workbench.lexicon import LexiconError, load_lexicon
    from workbench.schema import RecipeError, safe_yaml

    lexicon_path, recipe_path = folder / "lexicon.tsv", folder / "recipe.yaml"
    if not lexicon_path.is_file():
        return None, "no lexicon.tsv in the package"
    recipe: dict = {}
    if recipe_path.is_file():
        try:
            data = safe_yaml(recipe_path.read_text(encoding="utf-8"), str(recipe_path))
        except (RecipeError, UnicodeDecodeError) as exc:
            return None, f"recipe.yaml unreadable ({exc}); lexicon prompt off"
        recipe = data if isinstance(data, dict) else {}
    lexicon_spec = recipe.get("lexicon") if isinstance(recipe.get("lexicon"), dict) else {}
    train = recipe.get("train") if isinstance(recipe.get("train"), dict) else {}
    if not lexicon_spec.get("prompt"):
        return None, "its recipe decodes without the lexicon prompt"
    if not train.get("prompt_p"):
        return None, "trained without the lexicon prompt (train.prompt_p: 0); prompt off"
    try:
        text = load_lexicon(lexicon_path).prompt_text()
    except (LexiconError, OSError, ValueError) as exc:
        raise AdapterError(f"{lexicon_path}: {exc}") from None
    return text, "lexicon prompt on (its recipe's lexicon.prompt)"


class ModelHost:
    """The base model and its adapters; built from the config, loaded by :meth:`load`.

    The package files are checked at construction (cheap, before the server binds); the
    model loads later, on the worker thread, with each adapter checked against it.
    """

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.models: dict[str, ServedModel] = {config.model: ServedModel(config.model, False)}
        for name, folder in config.adapters:
            info = read_adapter_info(folder)  # raises AdapterError for a folder that is no adapter
            prompt, note = package_settings(folder)
            boost = read_package_boost(folder)  # raises AdapterError for a bad file
            lexicon = folder / "lexicon.tsv"
            self.models[name] = ServedModel(
                name,
                True,
                folder,
                prompt,
                note,
                boost.boost,
                boost.lexicon or (lexicon if lexicon.is_file() else None),
                not touches_encoder(info["config"]),
                boost.near_miss,
            )
        self._boosts: dict[tuple[str, float, float, bool], tuple] = {}
        self._lexicons: dict[str, Lexicon] = {}
        self.loaded: LoadedModel | None = None
        self.adapters: AdapterSet | None = None
        # Decoding settings differ by request (prompt, language): keep the recent ones.
        self._transcribers: OrderedDict[tuple, Transcriber] = OrderedDict()
        self.load_seconds: float | None = None

    def load(self) -> None:
        """Load the base model and apply every adapter (raises AdapterError, ModelLoadError)."""
        from workbench.models.loading import load_model
        from workbench.transcribe import AdapterSet

        start = time.perf_counter()
        if self.config.threads:
            import torch

            torch.set_num_threads(self.config.threads)
        loaded = load_model(self.config.model, device=self.config.device)
        adapters = [m for m in self.models.values() if m.adapter]
        self.adapters = AdapterSet(
            loaded, [m.folder for m in adapters], names=[m.name for m in adapters]
        )
        self.loaded = loaded
        self.load_seconds = time.perf_counter() - start

    def language_code(self, language: str | None) -> str | None:
        """The language code decoding is told, or None.

        Raises:
            ValueError: a language the model does not know (English-only models know English).
        """
        from workbench.models.info import language_code

        if not language:
            return None
        code = language_code(language)
        if self.loaded is None:
            raise RuntimeError("the model is not loaded yet")
        if not self.loaded.multilingual:
            if code != "en":
                raise ValueError(f"{self.config.model} is English-only; language {language!r}")
            return None
        if code not in self.loaded.languages:
            raise ValueError(f"{self.config.model} has no language {language!r}")
        return code

    def lexicon(self, model: str) -> Lexicon:
        """The lexicon of a served model (its package's ``lexicon.tsv``), read once.

        Raises:
            ValueError: the model has no lexicon.
            AdapterError: the lexicon cannot be read.
        """
        from workbench.lexicon import LexiconError, load_lexicon

        if model not in self._lexicons:
            path = self.models[model].lexicon
            if path is None:
                raise ValueError(f"model {model!r} has no lexicon")
            try:
                self._lexicons[model] = load_lexicon(path)
            except (LexiconError, OSError) as exc:
                raise AdapterError(f"{path}: {exc}") from None
        return self._lexicons[model]

    def boost(self, key: DecodeKey) -> tuple:
        """``(processor, rewriter)`` of ``key``'s lexicon-aware decoding (built once per model,
        strength and similarity): the boost (None at strength 0) and the rewrite of known
        misrecognitions and near misses; ``(None, None)`` when both are off."""
        from workbench.decoding.boost import boost_processor
        from workbench.decoding.snap import lexicon_rewriter
        from workbench.lexicon import UNSPACED_LANGUAGES

        if not key.boost and not key.near_miss:
            return None, None
        spaced = (key.language or "en") not in UNSPACED_LANGUAGES
        cache_key = (key.model, key.boost, key.near_miss, spaced)
        found = self._boosts.get(cache_key)
        if found is None:
            lexicon = self.lexicon(key.model)
            if self.loaded is None:
                raise RuntimeError("the model is not loaded yet")
            tokenizer = self.loaded.processor.tokenizer
            found = (
                boost_processor(lexicon, tokenizer, key.boost, spaced=spaced)
                if key.boost
                else None,
                lexicon_rewriter(lexicon, tokenizer, spaced=spaced, near_miss=key.near_miss),
            )
            self._boosts[cache_key] = found
        return found

    def transcriber(self, key: DecodeKey) -> Transcriber:
        from workbench.transcribe import DecodeOptions, Transcriber

        # A boosted transcriber holds its model's lexicon: one per model and strength.
        boosted = (key.model, key.boost) if key.boost else None
        options_key = (key.prompt, key.language, key.temperature, boosted)
        if options_key not in self._transcribers:
            options = DecodeOptions(
                decoding=decoding_from(key.temperature),
                language=key.language,
                prompt=key.prompt,
                max_new_tokens=self.config.max_new_tokens,
            )
            if self.loaded is None:
                raise RuntimeError("the model is not loaded yet")
            processor = self.boost(key)[0]
            self._transcribers[options_key] = Transcriber(
                self.loaded,
                options,
                batch_size=self.config.max_batch,
                logits_processor=[processor] if processor is not None else (),
            )
            while len(self._transcribers) > TRANSCRIBERS_KEPT:
                self._transcribers.popitem(last=False)
        self._transcribers.move_to_end(options_key)
        return self._transcribers[options_key]


def decoding_from(temperature: float) -> DecodingOptions:
    """A request's ``temperature``: 0 decodes as Whisper's users do (greedy, falling back to
    0.2, 0.4, ... when a window loops); above 0 samples at it first, then falls back higher."""
    if temperature <= 0:
        return DecodingOptions()
    higher = [t for t in DEFAULT_TEMPERATURES if t > temperature]
    return DecodingOptions(temperatures=[temperature, *higher])


def decode(host: ModelHost, key: DecodeKey, audios: Sequence[np.ndarray]) -> list[Transcript]:
    """Transcribe one batch of 16 kHz clips with ``key``'s model and settings.

    With ``key.gate`` the batch is decoded twice, with the adapter and without it (one
    encoder pass when the adapter leaves the encoder alone), and each clip keeps the adapted
    transcript only where its lexicon terms differ from the base model's (both rewritten
    first), as ``workbench transcribe --term-gate`` does.
    """
    from workbench.transcribe import EncoderCache

    served = host.models[key.model]
    if host.adapters is None:
        raise RuntimeError("the model is not loaded yet")
    gated = key.gate and served.adapter
    cache = EncoderCache() if gated and served.shares_encoder else None
    with host.adapters.using(served.name if served.adapter else None):
        transcripts = _rewritten(host, key, host.transcriber(key).transcribe_timed(audios, cache))
    if not gated:
        return transcripts
    from workbench.decoding.gate import gate
    from workbench.evaluate.normalize import get_normalizer
    from workbench.lexicon import UNSPACED_LANGUAGES

    base_key = replace(key, prompt=key.base_prompt)
    with host.adapters.using(None):
        base = _rewritten(host, key, host.transcriber(base_key).transcribe_timed(audios, cache))
    language = key.language or "en"
    _, took = gate(
        [t.text for t in base],
        [t.text for t in transcripts],
        host.lexicon(key.model),
        get_normalizer(language),
        spaced=language not in UNSPACED_LANGUAGES,
    )
    return [a if use else b for a, b, use in zip(transcripts, base, took, strict=True)]


def _rewritten(host: ModelHost, key: DecodeKey, transcripts: list[Transcript]) -> list[Transcript]:
    """``transcripts`` with the boost's misrecognition rewrite applied (unchanged without it)."""
    rewriter = host.boost(key)[1]
    if rewriter is None:
        return transcripts
    return [
        replace(
            t,
            text=rewriter(t.text),
            segments=tuple(replace(s, text=rewriter(s.text)) for s in t.segments),
        )
        for t in transcripts
    ]
