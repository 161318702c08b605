"""Decoding windows with the guards: temperature fallback, the no-speech drop, the token cap.

As ``decode_with_fallback`` in openai-whisper and faster-whisper, batched: every window of a
batch is decoded at the first temperature; those that fail (too repetitive, too improbable,
or stopped by the token cap) are decoded again, together, at the next one; a window that
fails at every temperature keeps its most probable decoding. Then a window the model calls
silent is dropped (empty text). :class:`DecodingStats` counts what happened, for reports.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from transformers import LogitsProcessor

from workbench.decoding.guards import (
    Attempt,
    choose_after_all_failed,
    is_no_speech,
    needs_fallback,
    token_cap,
)
from workbench.decoding.options import DecodingOptions
from workbench.decoding.search import SearchSetup, search, whisper_of
from workbench.models.loading import LoadedModel

# Room left in Whisper's 448 decoder positions for <|startoftranscript|>, language, task and
# <|notimestamps|>.
DECODER_PROMPT_ROOM = 4


@dataclass
class WindowResult:
    """What became of one window: its text and every decoding tried."""

    text: str
    kept: Attempt
    attempts: list[Attempt]
    dropped: bool = False  # no speech: the text is empty
    failed_all: bool = False  # every temperature failed; the most probable decoding was kept
    language: str | None = None  # the language code decoded as (multilingual models)

    @property
    def temperature(self) -> float:
        return self.kept.temperature


@dataclass
class DecodingStats:
    """Counts over the windows decoded: how many fell back (by the temperature at which they
    passed, or ``failed`` when none passed), were dropped as silence, or kept a decoding cut
    by the token cap."""

    windows: int = 0
    fell_back: int = 0
    by_temperature: Counter = field(default_factory=Counter)
    failed_all: int = 0
    dropped_no_speech: int = 0
    capped: int = 0
    attempts: int = 0

    def add(self, results: Sequence[WindowResult]) -> None:
        for result in results:
            self.windows += 1
            self.attempts += len(result.attempts)
            if len(result.attempts) > 1:
                self.fell_back += 1
                key = "failed" if result.failed_all else f"{result.temperature:g}"
                self.by_temperature[key] += 1
            self.failed_all += result.failed_all
            self.dropped_no_speech += result.dropped
            self.capped += result.kept.capped

    def as_dict(self) -> dict:
        """For ``report.json``: plain counts, temperatures as text keys in rising order."""
        order = sorted((k for k in self.by_temperature if k != "failed"), key=float)
        if "failed" in self.by_temperature:
            order.append("failed")
        return {
            "windows": self.windows,
            "attempts": self.attempts,
            "fell_back": self.fell_back,
            "fell_back_by_temperature": {k: self.by_temperature[k] for k in order},
            "failed_all_temperatures": self.failed_all,
            "dropped_no_speech": self.dropped_no_speech,
            "capped": self.capped,
        }


def _token_id(tokenizer, token: str) -> int | None:
    """The id of special token ``token``, or None where the vocabulary lacks it."""
    tid = tokenizer.convert_tokens_to_ids(token)
    return tid if isinstance(tid, int) and tid != tokenizer.unk_token_id else None


class WindowDecoder:
    """Decodes windows of at most 30 s (their encoder outputs) with the guards.

    ``prompt`` is text that conditions decoding (e.g. the lexicon's terms); ``language`` is
    a code for multilingual models (None detects it per window). ``logits_processor``:
    extra ``transformers.LogitsProcessor`` objects applied at every step after Whisper's
    suppressions (e.g. a lexicon bias), at every temperature and in beam search.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        options: DecodingOptions | None = None,
        *,
        language: str | None = None,
        task: str = "transcribe",
        prompt: str | None = None,
        max_new_tokens: int | None = None,
        logits_processor: Sequence[LogitsProcessor] = (),
    ) -> None:
        self.loaded = loaded
        self.options = options or DecodingOptions()
        self.logits_processor = list(logits_processor)
        tokenizer = loaded.processor.tokenizer
        self.tokenizer = tokenizer
        config = loaded.model.generation_config
        max_positions = loaded.model.config.max_target_positions
        room = max_positions - DECODER_PROMPT_ROOM
        prefix: list[int] = []
        if prompt:
            ids = tokenizer.get_prompt_ids(prompt, return_tensors="np").tolist()
            prefix = ids[: max_positions // 4]  # leave most positions to the transcript
            room -= len(prefix)
        self.room = min(room, max_new_tokens or room)
        sot = config.decoder_start_token_id
        self.sot_index = len(prefix)
        self.head = [*prefix, sot]
        self.tail: list[int] = []
        self.language_token: int | None = None
        self.language_tokens: list[int] = []
        if loaded.multilingual:
            self.tail.append(_token_id(tokenizer, f"<|{task}|>"))
            if language:
                self.language_token = _token_id(tokenizer, f"<|{language}|>")
            else:
                self.language_tokens = [
                    t for c in loaded.languages if (t := _token_id(tokenizer, f"<|{c}|>"))
                ]
        self.tail.append(config.no_timestamps_token_id)
        no_speech = _token_id(tokenizer, "<|nospeech|>") or _token_id(tokenizer, "<|nocaptions|>")
        self.setup = SearchSetup(
            eot=config.eos_token_id,
            suppress=tuple(config.suppress_tokens or ()),
            begin_suppress=tuple(config.begin_suppress_tokens or ()),
            no_speech=no_speech,
        )

    def _prompts(self, hidden: torch.Tensor) -> torch.Tensor:
        n = hidden.shape[0]
        if not self.loaded.multilingual:
            rows = [self.head + self.tail] * n
        else:
            if self.language_token is not None:
                langs = [self.language_token] * n
            else:
                langs = self._detect_languages(hidden)
            rows = [[*self.head, lang, *self.tail] for lang in langs]
        return torch.tensor(rows, dtype=torch.long, device=hidden.device)

    @torch.inference_mode()
    def _detect_languages(self, hidden: torch.Tensor) -> list[int]:
        """The likeliest language token per window, read after <|startoftranscript|>."""
        whisper = whisper_of(self.loaded.model)
        ids = torch.tensor([self.head] * hidden.shape[0], device=hidden.device)
        out = whisper.model.decoder(input_ids=ids, encoder_hidden_states=hidden, use_cache=False)
        logits = whisper.proj_out(out.last_hidden_state[:, -1]).float()
        choice = logits[:, self.language_tokens].argmax(-1).tolist()
        return [self.language_tokens[c] for c in choice]

    def decode(
        self,
        hidden: torch.Tensor,
        seconds: Sequence[float],
        seeds: Sequence[int] | None = None,
        stats: DecodingStats | None = None,
    ) -> list[WindowResult]:
        """Decode windows (encoder outputs, one row each; ``seconds`` of audio in each).

        ``seeds`` seed each window's sampling at temperatures above 0 (default: 0), so a
        window's result does not depend on the batch it is in.
        """
        n = hidden.shape[0]
        options = self.options
        seeds = list(seeds) if seeds is not None else [0] * n
        prompts = self._prompts(hidden)
        caps = [token_cap(s, options, self.room) for s in seconds]
        capped_by_rate = [c < self.room for c in caps]
        attempts: list[list[Attempt]] = [[] for _ in range(n)]
        passed: list[Attempt | None] = [None] * n
        pending = list(range(n))
        device = hidden.device
        generators = []
        for seed in seeds:
            g = torch.Generator(device=device)
            g.manual_seed(seed)
            generators.append(g)
        for temperature in options.temperatures:
            if not pending:
                break
            index = torch.tensor(pending, device=device)
            hyps = search(
                self.loaded.model,
                hidden.index_select(0, index),
                prompts.index_select(0, index),
                self.sot_index,
                self.setup,
                caps=[caps[i] for i in pending],
                temperature=float(temperature),
                beam_size=options.beam_size,
                best_of=options.best_of,
                generators=[generators[i] for i in pending],
                logits_processor=self.logits_processor,
            )
            failed = []
            for i, hyp in zip(pending, hyps, strict=True):
                text = self.tokenizer.decode(hyp.tokens, skip_special_tokens=True).strip()
                attempt = Attempt(
                    tokens=hyp.tokens,
                    text=text,
                    temperature=float(temperature),
                    sum_logprob=hyp.sum_logprob,
                    no_speech_prob=hyp.no_speech_prob,
                    capped=not hyp.ended and capped_by_rate[i],
                )
                attempts[i].append(attempt)
                if needs_fallback(attempt, options):
                    failed.append(i)
                else:
                    passed[i] = attempt
            pending = failed
        languages: list[str | None] = [None] * n
        if self.loaded.multilingual:
            tokens = self.tokenizer.convert_ids_to_tokens(prompts[:, len(self.head)].tolist())
            languages = [t.strip("<|>") if t else None for t in tokens]
        results = []
        for i in range(n):
            kept = passed[i] or choose_after_all_failed(attempts[i], options)
            dropped = is_no_speech(kept, options)
            text = "" if dropped else kept.text
            results.append(
                WindowResult(text, kept, attempts[i], dropped, passed[i] is None, languages[i])
            )
        if stats is not None:
            stats.add(results)
        return results


def window_seed(features: torch.Tensor) -> int:
    """A seed from a window's log-mel features: the same window, the same samples."""
    return zlib.crc32(features.detach().cpu().float().numpy().tobytes())
