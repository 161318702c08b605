"""Batched transcription of audio files and arrays with a loaded Whisper model.

Clips of at most 30 s are decoded as windows by :class:`workbench.decoding.fallback.
WindowDecoder` (greedy or beam, with Whisper's hallucination guards); longer ones go through
transformers' long-form ``generate`` with the same thresholds and temperatures.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
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
    WindowResult,
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


@dataclass(frozen=True)
class Segment:
    """A stretch of one transcript with its time span in seconds and its token ids."""

    start: float
    end: float
    text: str
    tokens: tuple[int, ...]

    @property
    def compression_ratio(self) -> float:
        """Text bytes over gzip-compressed bytes, as Whisper reports it (repetition: high)."""
        raw = self.text.encode("utf-8")
        return len(raw) / len(zlib.compress(raw)) if raw else 0.0


@dataclass(frozen=True)
class Transcript:
    """The text of one clip, its segments and duration, and the language it was decoded as
    (a code; None when the model is English-only and none was given)."""

    text: str
    segments: tuple[Segment, ...]
    duration: float
    language: str | None = None


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
        logits_processor: LogitsProcessor | Sequence[LogitsProcessor] | None = (),
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
        self.encoder_precision = set_encoder_precision(
            loaded.model, options.encoder_precision, loaded.identity
        )
        if logits_processor is None:
            logits_processor = []
        elif isinstance(logits_processor, LogitsProcessor):
            logits_processor = [logits_processor]
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

    def add_logits_processor(self, processor: LogitsProcessor) -> None:
        """Apply ``processor`` (e.g. the lexicon boost) at every decoding step from now on."""
        self.logits_processor.append(processor)
        self.windows.logits_processor.append(processor)

    def set_logits_processors(self, processors: Sequence[LogitsProcessor]) -> None:
        """Apply exactly ``processors`` at every decoding step from now on (none: plain)."""
        self.logits_processor[:] = processors
        self.windows.logits_processor[:] = processors

    @torch.inference_mode()
    def transcribe_arrays(
        self,
        audios: Sequence[np.ndarray],
        encoder_cache: EncoderCache | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[str]:
        """Transcribe 16 kHz mono float32 arrays; returns one text per array, in order.

        With ``encoder_cache``, encoder outputs are taken from it (or computed and put in it),
        so decoding the same audio again skips the encoder (clips of at most 30 s).
        ``progress`` is called with the number of clips just finished, after each batch.
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
            if progress is not None:
                progress(len(batch))
        for i, audio in enumerate(audios):
            if texts[i] is None:
                texts[i] = self._decode_long(audio)
                if progress is not None:
                    progress(1)
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

    @torch.inference_mode()
    def transcribe_timed(
        self, audios: Sequence[np.ndarray], encoder_cache: EncoderCache | None = None
    ) -> list[Transcript]:
        """Like :meth:`transcribe_arrays` (the same texts), with segments and durations.

        Clips of at most 30 s are decoded in batches without timestamps, with the guards of
        :meth:`transcribe_arrays`: one segment each, spanning the clip. Longer clips go through
        Whisper's long-form path together, in one batch (each advancing window by window): one
        segment per timestamped stretch. ``encoder_cache`` serves clips of at most 30 s, as in
        :meth:`transcribe_arrays`.
        """
        out: list[Transcript | None] = [None] * len(audios)
        short = sorted(
            (i for i, a in enumerate(audios) if len(a) <= MAX_SHORT_SAMPLES),
            key=lambda i: len(audios[i]),
        )
        for start in range(0, len(short), self.batch_size):
            batch = short[start : start + self.batch_size]
            results = self._decode_windows([audios[i] for i in batch], encoder_cache, start)
            for i, result in zip(batch, results, strict=True):
                duration = len(audios[i]) / SAMPLE_RATE
                text = result.text
                tokens = tuple(t for t in result.kept.tokens if t < self._eot)
                segment = Segment(0.0, round(duration, 3), text, tokens)
                language = self.options.language or result.language
                out[i] = Transcript(text, (segment,) if text else (), duration, language)
        long = [i for i, a in enumerate(audios) if len(a) > MAX_SHORT_SAMPLES]
        for start in range(0, len(long), self.batch_size):
            batch = long[start : start + self.batch_size]
            for i, transcript in zip(
                batch, self._decode_long_timed([audios[i] for i in batch]), strict=True
            ):
                out[i] = transcript
        return [t for t in out if t is not None]

    @torch.inference_mode()
    def transcribe_windows(self, audios: Sequence[np.ndarray]) -> list[WindowResult]:
        """Decode clips of at most 30 s as :meth:`transcribe_arrays` does (the same texts,
        the same guards), keeping what became of each window: the decoding kept, with its
        mean log-probability, compression ratio and no-speech probability, and every
        decoding tried.

        Raises:
            ValueError: a clip longer than 30 s (one window each here).
        """
        long = [i for i, a in enumerate(audios) if len(a) > MAX_SHORT_SAMPLES]
        if long:
            raise ValueError(f"clip {long[0]} is longer than 30 s; one window a clip here")
        out: list[WindowResult | None] = [None] * len(audios)
        order = sorted(range(len(audios)), key=lambda i: len(audios[i]))
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            results = self._decode_windows([audios[i] for i in batch])
            for i, result in zip(batch, results, strict=True):
                out[i] = result
        return [r for r in out if r is not None]

    def _generate_ids(self, features: torch.Tensor, **extra) -> torch.Tensor:
        model = self.loaded.model
        features = features.to(model.device, model.dtype)
        return model.generate(features, **self.options.generate_kwargs(self.loaded), **extra)

    def _text_and_tokens(self, ids: torch.Tensor) -> tuple[str, tuple[int, ...]]:
        tokenizer = self.loaded.processor.tokenizer
        text = tokenizer.decode(ids, skip_special_tokens=True).strip()
        eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
        return text, tuple(int(t) for t in ids.tolist() if t < eot)

    def _language(self, ids: torch.Tensor) -> str | None:
        if self.options.language or not self.loaded.multilingual:
            return self.options.language
        tokenizer = self.loaded.processor.tokenizer
        for token in tokenizer.convert_ids_to_tokens(ids[:4].tolist()):
            code = token.strip("<|>") if token else ""
            if code in self.loaded.languages:
                return code
        return None

    def _decode_long_timed(self, audios: list[np.ndarray]) -> list[Transcript]:
        extractor = self.loaded.processor.feature_extractor
        out = extractor(
            audios,
            sampling_rate=SAMPLE_RATE,
            truncation=False,
            padding="longest",
            return_attention_mask=True,
            return_tensors="pt",
        )
        mask = out.attention_mask.to(self.loaded.model.device)
        result = self._generate_ids(
            out.input_features, attention_mask=mask, return_timestamps=True, return_segments=True
        )
        transcripts = []
        for audio, row, parts in zip(audios, result["sequences"], result["segments"], strict=True):
            segments = []
            for part in parts:
                text, tokens = self._text_and_tokens(part["tokens"])
                if text:
                    # Within the audio: a window's last timestamp may point past its end.
                    duration = len(audio) / SAMPLE_RATE
                    start = min(max(float(part["start"]), 0.0), duration)
                    end = min(max(float(part["end"]), start), duration)
                    segments.append(Segment(round(start, 3), round(end, 3), text, tokens))
            text = self.loaded.processor.tokenizer.decode(row, skip_special_tokens=True).strip()
            language = self._language(parts[0]["tokens"]) if parts else self._language(row)
            transcripts.append(
                Transcript(text, tuple(segments), len(audio) / SAMPLE_RATE, language)
            )
        return transcripts

    @property
    def _eot(self) -> int:
        return self.loaded.processor.tokenizer.convert_tokens_to_ids("<|endoftext|>")

    def _decode_short(
        self, audios: list[np.ndarray], cache: EncoderCache | None = None, key: int = 0
    ) -> list[str]:
        return [r.text for r in self._decode_windows(audios, cache, key)]

    def _decode_windows(
        self, audios: list[np.ndarray], cache: EncoderCache | None = None, key: int = 0
    ) -> list[WindowResult]:
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
        return self.windows.decode(hidden, seconds, seeds, self.stats)

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

    def transcribe_files(
        self,
        paths: Iterable[str | Path],
        decode: Callable[[list[np.ndarray]], list[str]] | None = None,
    ) -> Iterator[TranscriptionResult]:
        """Transcribe files in order, yielding each result as its batch finishes.

        A file that cannot be read yields a result with ``error`` set; the rest go on.
        ``decode`` turns a batch of clips into texts in place of :meth:`transcribe_arrays`
        (e.g. :class:`~workbench.decoding.gate.TermGate`'s).
        """
        decode = decode or self.transcribe_arrays
        pending: list[tuple[str, np.ndarray]] = []
        for path in paths:
            try:
                pending.append((str(path), load_audio(path)))
            except AudioError as exc:
                yield from self._flush(pending, decode)
                pending = []
                yield TranscriptionResult(str(path), error=str(exc))
                continue
            if len(pending) == self.batch_size:
                yield from self._flush(pending, decode)
                pending = []
        yield from self._flush(pending, decode)

    def _flush(
        self,
        pending: list[tuple[str, np.ndarray]],
        decode: Callable[[list[np.ndarray]], list[str]],
    ) -> Iterator[TranscriptionResult]:
        if not pending:
            return
        texts = decode([audio for _, audio in pending])
        for (path, _), text in zip(pending, texts, strict=True):
            yield TranscriptionResult(path, text=text)


UNPROMPTED_NOTE = (
    "trained without the lexicon prompt (train.prompt_p: 0); decoded with the prompt it can "
    "do much worse than without. Train with train.prompt_p above 0 to use it prompted."
)


class AdapterSet:
    """Adapters on one loaded base model, switched without reloading the base.

    Each adapter is checked first (safetensors only; made for this base model, its targets
    present, its shapes fitting; ``foreign``: made elsewhere, see :func:`check_adapter_fits`)
    and loaded under its folder's name; the base weights are then proved untouched.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        folders: Sequence[str | Path],
        names: Sequence[str] | None = None,
        *,
        foreign: bool = False,
    ) -> None:
        """``names``: one per folder (default: each folder's name, numbered when repeated)."""
        from peft import PeftModel

        from workbench.export.adapter_check import (
            AdapterError,
            base_digest,
            check_adapter_fits,
            check_base_untouched,
        )
        from workbench.models.info import model_fingerprint

        self.loaded = loaded
        self.names: list[str] = []
        self.folders: dict[str, Path] = {}
        base = loaded.model  # checks look at the base model's own module names
        base_sha = model_fingerprint(loaded.spec, loaded.path) if folders else None
        if names is not None and len(names) != len(folders):
            raise ValueError(f"names: expected {len(folders)} names, got {len(names)}")
        before = base_digest(base) if folders else {}
        for index, folder in enumerate(map(Path, folders)):
            check_adapter_fits(folder, loaded.spec, base, base_sha, foreign=foreign)
            name = names[index] if names is not None else folder.resolve().name
            if name in self.folders:
                if names is not None:
                    raise ValueError(f"names: {name!r} given twice")
                name = f"{name}-{len(self.names)}"
            if not self.names:
                loaded.model = PeftModel.from_pretrained(
                    loaded.model, str(folder), adapter_name=name
                )
            else:
                loaded.model.load_adapter(str(folder), adapter_name=name)
            if not isinstance(loaded.model, PeftModel):
                raise AdapterError(f"{folder}: could not be applied")
            check_base_untouched(loaded.model, before, folder)
            self.names.append(name)
            self.folders[name] = folder
        loaded.model.eval()

    def activate(self, name: str | None) -> None:
        if name is not None:
            self.loaded.model.set_adapter(name)

    @contextmanager
    def using(self, name: str | None) -> Iterator[None]:
        """Decode with adapter ``name`` inside the block; None: the base model alone."""
        if name is None and self.names:
            with self.loaded.model.disable_adapter():
                yield
        else:
            self.activate(name)
            yield

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
