"""Batched transcription of audio files and arrays with a loaded Whisper model.

Clips of at most 30 s are decoded as windows by :class:`workbench.decoding.fallback.
WindowDecoder` (greedy or beam, with Whisper's hallucination guards); longer ones go through
transformers' long-form ``generate`` with the same thresholds and temperatures.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from transformers import LogitsProcessor, LogitsProcessorList
from transformers.modeling_outputs import BaseModelOutput

from workbench.audio import SAMPLE_RATE, AudioError, load_audio
from workbench.decoding.fallback import (
    DECODER_PROMPT_ROOM,
    DecodingStats,
    WindowDecoder,
    window_seed,
)
from workbench.decoding.options import DecodingOptions
from workbench.features import log_mel
from workbench.models.info import language_code
from workbench.models.loading import LoadedModel
from workbench.models.precision import set_encoder_precision

MAX_SHORT_SAMPLES = 30 * SAMPLE_RATE


@dataclass(frozen=True)
class TranscriptionResult:
    """The text of one file, or the one-line reason it could not be transcribed."""

    path: str
    text: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class DecodeOptions:
    """Decoding settings; base and adapted models are compared under the same ones."""

    decoding: DecodingOptions = field(default_factory=DecodingOptions)  # beam, guards
    language: str | None = None  # multilingual models only; None detects the language
    task: str = "transcribe"
    prompt: str | None = None  # text that conditions decoding, e.g. the lexicon's terms
    max_new_tokens: int | None = None  # default: every position the decoder has left
    encoder_precision: str = "auto"  # see workbench.models.precision

    def generate_kwargs(self, loaded: LoadedModel) -> dict:
        """``generate``'s arguments for the long-form path (clips over 30 s), the guards
        included (transformers implements openai-whisper's fallback there)."""
        max_positions = loaded.model.config.max_target_positions
        d = self.decoding
        kwargs: dict = {"num_beams": d.beam_size, "do_sample": False}
        if len(d.temperatures) > 1:
            kwargs["temperature"] = tuple(float(t) for t in d.temperatures)
        for name in ("compression_ratio_threshold", "logprob_threshold", "no_speech_threshold"):
            if getattr(d, name) is not None:
                kwargs[name] = getattr(d, name)
        if "no_speech_threshold" in kwargs and "logprob_threshold" not in kwargs:
            del kwargs["no_speech_threshold"]  # transformers needs both for the drop
        room = max_positions - DECODER_PROMPT_ROOM
        if self.prompt:
            ids = loaded.processor.tokenizer.get_prompt_ids(self.prompt, return_tensors="pt")
            ids = ids[: max_positions // 4]  # leave most positions to the transcript
            kwargs["prompt_ids"] = ids.to(loaded.model.device)
            room -= len(ids)
        kwargs["max_new_tokens"] = min(room, self.max_new_tokens or room)
        if loaded.multilingual:  # English-only models refuse language and task
            kwargs["task"] = self.task
            if self.language:
                kwargs["language"] = self.language
        return kwargs


@dataclass
class EncoderCache:
    """Encoder outputs kept per batch, for decoding the same audio several times.

    Valid only while the encoder's weights stay the same (e.g. base and adapted model when
    the adapter touches only the decoder). ``seconds`` is the encoder time it saved once.
    """

    outputs: dict = field(default_factory=dict)
    seconds: float = 0.0


class Transcriber:
    """Transcribes clips in batches; clips over 30 s go through Whisper's long-form path.

    ``logits_processor``: extra ``transformers.LogitsProcessor`` objects applied at every
    decoding step (e.g. a lexicon bias). ``stats`` counts the windows of clips of at most
    30 s that fell back to a higher temperature or were dropped as silence.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        options: DecodeOptions | None = None,
        batch_size: int = 8,
        logits_processor: Sequence[LogitsProcessor] = (),
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size}")
        options = options or DecodeOptions()
        if options.language is not None:
            if not loaded.multilingual:
                raise ValueError(f"{loaded.spec} is English-only; it takes no language")
            code = language_code(options.language)
            if code not in loaded.languages:
                raise ValueError(
                    f"{loaded.spec} has no language {options.language!r}; "
                    f"it knows {', '.join(loaded.languages)}"
                )
            options = replace(options, language=code)
        self.loaded = loaded
        self.options = options
        self.batch_size = batch_size
        self.encoder_precision = set_encoder_precision(loaded.model, options.encoder_precision)
        self.logits_processor = list(logits_processor)
        self.windows = WindowDecoder(
            loaded,
            options.decoding,
            language=options.language,
            task=options.task,
            prompt=options.prompt,
            max_new_tokens=options.max_new_tokens,
            logits_processor=self.logits_processor,
        )
        self.stats = DecodingStats()

    @torch.inference_mode()
    def transcribe_arrays(
        self, audios: Sequence[np.ndarray], encoder_cache: EncoderCache | None = None
    ) -> list[str]:
        """Transcribe 16 kHz mono float32 arrays; returns one text per array, in order.

        With ``encoder_cache``, encoder outputs are taken from it (or computed and put in it),
        so decoding the same audio again skips the encoder (clips of at most 30 s).
        """
        texts: list[str | None] = [None] * len(audios)
        # Batches of clips of like length: a batch decodes until its longest transcript ends,
        # so mixing a 2-second clip with a 20-second one costs the short one many steps.
        short = sorted(
            (i for i, a in enumerate(audios) if len(a) <= MAX_SHORT_SAMPLES),
            key=lambda i: len(audios[i]),
        )
        for start in range(0, len(short), self.batch_size):
            batch = short[start : start + self.batch_size]
            decoded = self._decode_short([audios[i] for i in batch], encoder_cache, start)
            for i, text in zip(batch, decoded, strict=True):
                texts[i] = text
        for i, audio in enumerate(audios):
            if texts[i] is None:
                texts[i] = self._decode_long(audio)
        return [t or "" for t in texts]

    def _generate(self, features: torch.Tensor, **extra) -> list[str]:
        model = self.loaded.model
        features = features.to(model.device, model.dtype)
        if self.logits_processor:
            extra["logits_processor"] = LogitsProcessorList(self.logits_processor)
        ids = model.generate(features, **self.options.generate_kwargs(self.loaded), **extra)
        if not isinstance(ids, torch.Tensor):  # a dict when the long-form path falls back
            ids = ids["sequences"]
        decoded = self.loaded.processor.batch_decode(ids, skip_special_tokens=True)
        return [text.strip() for text in decoded]

    def _encode(self, features: torch.Tensor) -> torch.Tensor:
        model = self.loaded.model
        return model.get_encoder()(features.to(model.device, model.dtype)).last_hidden_state

    def _decode_short(
        self, audios: list[np.ndarray], cache: EncoderCache | None = None, key: int = 0
    ) -> list[str]:
        features = log_mel(self.loaded.processor.feature_extractor, audios)
        if cache is None:
            hidden = self._encode(features)
        else:
            if key not in cache.outputs:
                start = time.perf_counter()
                hidden = self._encode(features)
                cache.seconds += time.perf_counter() - start
                cache.outputs[key] = BaseModelOutput(last_hidden_state=hidden)
            hidden = cache.outputs[key].last_hidden_state
        seconds = [len(a) / SAMPLE_RATE for a in audios]
        seeds = [window_seed(f) for f in features]
        results = self.windows.decode(hidden, seconds, seeds, self.stats)
        return [r.text for r in results]

    def _decode_long(self, audio: np.ndarray) -> str:
        extractor = self.loaded.processor.feature_extractor
        out = extractor(
            audio,
            sampling_rate=SAMPLE_RATE,
            truncation=False,
            padding="longest",
            return_attention_mask=True,
            return_tensors="pt",
        )
        mask = out.attention_mask.to(self.loaded.model.device)
        return self._generate(out.input_features, attention_mask=mask, return_timestamps=True)[0]

    def transcribe_files(self, paths: Iterable[str | Path]) -> Iterator[TranscriptionResult]:
        """Transcribe files in order, yielding each result as its batch finishes.

        A file that cannot be read yields a result with ``error`` set; the rest go on.
        """
        pending: list[tuple[str, np.ndarray]] = []
        for path in paths:
            try:
                pending.append((str(path), load_audio(path)))
            except AudioError as exc:
                yield from self._flush(pending)
                pending = []
                yield TranscriptionResult(str(path), error=str(exc))
                continue
            if len(pending) == self.batch_size:
                yield from self._flush(pending)
                pending = []
        yield from self._flush(pending)

    def _flush(self, pending: list[tuple[str, np.ndarray]]) -> Iterator[TranscriptionResult]:
        if not pending:
            return
        texts = self.transcribe_arrays([audio for _, audio in pending])
        for (path, _), text in zip(pending, texts, strict=True):
            yield TranscriptionResult(path, text=text)


UNPROMPTED_NOTE = (
    "trained without the lexicon prompt (train.prompt_p: 0); decoded with the prompt it can "
    "do much worse than without. Train with train.prompt_p above 0 to use it prompted."
)


class AdapterSet:
    """Adapters on one loaded base model, switched without reloading the base.

    Each adapter is checked first (safetensors only; made for this base model, its targets
    present, its shapes fitting) and loaded under its folder's name.
    """

    def __init__(self, loaded: LoadedModel, folders: Sequence[str | Path]) -> None:
        from peft import PeftModel

        from workbench.export.adapter_check import AdapterError, check_adapter_fits
        from workbench.models.info import model_fingerprint

        self.loaded = loaded
        self.names: list[str] = []
        self.folders: dict[str, Path] = {}
        base = loaded.model  # checks look at the base model's own module names
        base_sha = model_fingerprint(loaded.spec, loaded.path) if folders else None
        for folder in map(Path, folders):
            check_adapter_fits(folder, loaded.spec, base, base_sha)
            name = folder.resolve().name
            if name in self.folders:
                name = f"{name}-{len(self.names)}"
            if not self.names:
                loaded.model = PeftModel.from_pretrained(
                    loaded.model, str(folder), adapter_name=name
                )
            else:
                loaded.model.load_adapter(str(folder), adapter_name=name)
            if not isinstance(loaded.model, PeftModel):
                raise AdapterError(f"{folder}: could not be applied")
            self.names.append(name)
            self.folders[name] = folder
        loaded.model.eval()

    def activate(self, name: str | None) -> None:
        if name is not None:
            self.loaded.model.set_adapter(name)

    def trained_without_prompt(self) -> list[str]:
        """The adapters whose recipe trained them without the lexicon prompt
        (``train.prompt_p`` 0): decoded with the prompt they can do much worse."""
        from workbench.schema import RecipeError, safe_yaml

        out = []
        for name, folder in self.folders.items():
            # An exported package holds its recipe; a run's adapter/ sits beside the run's.
            for path in (folder / "recipe.yaml", folder.parent / "recipe.yaml"):
                if path.is_file():
                    try:
                        data = safe_yaml(path.read_text(encoding="utf-8"), str(path))
                    except (RecipeError, UnicodeDecodeError):
                        break  # unreadable: nothing known either way
                    train = data.get("train") if isinstance(data, dict) else None
                    if not (isinstance(train, dict) and train.get("prompt_p")):
                        out.append(name)
                    break
        return out

    def prompt_text(self) -> str | None:
        """The lexicon prompt of the first adapter that carries a ``lexicon.tsv``."""
        from workbench.lexicon import load_lexicon

        for folder in self.folders.values():
            if (folder / "lexicon.tsv").is_file():
                return load_lexicon(folder / "lexicon.tsv").prompt_text()
        return None
