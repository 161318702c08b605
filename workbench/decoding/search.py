"""The token loop: greedy, sampled (best of N) or beam decoding of windows in a batch.

Written out rather than left to ``generate`` so that each window's sum of log-probabilities
(over the tokens as chosen, at temperature 1, after the suppressions, end-of-text included)
and its no-speech probability (the softmax at the no-speech token, read at the position of
<|startoftranscript|> in the first step) are exactly openai-whisper's. A finished window
leaves the batch once finished windows are a quarter of it (``COMPACT_SHARE``), so one window
that loops does not keep the others decoding, and the key/value cache is not copied for every
window that ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import LogitsProcessor

# Finished rows of greedy or sampled decoding stay in the batch (decoded, then ignored)
# until they are 1/COMPACT_SHARE of it: dropping a row copies the whole cache, and at batch 8
# copying on every finish cost more than decoding the finished rows a few steps longer.
COMPACT_SHARE = 4


@dataclass(frozen=True)
class SearchSetup:
    """What the loop needs to know about the model's vocabulary."""

    eot: int
    suppress: tuple[int, ...] = ()  # never generated
    begin_suppress: tuple[int, ...] = ()  # not as the first token (blank, end-of-text)
    no_speech: int | None = None  # <|nospeech|> or <|nocaptions|>


@dataclass
class Hypothesis:
    """The decoding of one window at one temperature."""

    tokens: list[int]  # text tokens, end-of-text excluded
    sum_logprob: float  # end-of-text's log-probability included when it was reached
    no_speech_prob: float
    ended: bool  # reached end-of-text (else stopped at its token cap)


def whisper_of(model: torch.nn.Module) -> torch.nn.Module:
    """The ``WhisperForConditionalGeneration`` under a PEFT wrapper (adapter layers stay in
    place, so the adapter applies, or not under ``disable_adapter``)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


class _Decoder:
    """One decoder step at a time with a key/value cache; rows can be dropped or reordered."""

    def __init__(self, whisper: torch.nn.Module, hidden: torch.Tensor) -> None:
        self.decoder = whisper.model.decoder
        self.proj_out = whisper.proj_out
        self.hidden = hidden
        self.cache = None

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        out = self.decoder(
            input_ids=ids, encoder_hidden_states=self.hidden, cache=self.cache, use_cache=True
        )
        self.cache = out.cache
        return self.proj_out(out.last_hidden_state).float()

    def select(self, rows: torch.Tensor) -> None:
        """Keep (or repeat, or reorder) the batch rows ``rows``."""
        self.hidden = self.hidden.index_select(0, rows)
        if self.cache is not None:
            self.cache.reorder_cache(rows)


def _mask(logits: torch.Tensor, setup: SearchSetup, first: bool) -> torch.Tensor:
    if setup.suppress:
        logits[:, list(setup.suppress)] = -float("inf")
    if first and setup.begin_suppress:
        logits[:, list(setup.begin_suppress)] = -float("inf")
    return logits


@torch.inference_mode()
def search(
    model: torch.nn.Module,
    hidden: torch.Tensor,
    prompts: torch.Tensor,
    sot_index: int,
    setup: SearchSetup,
    *,
    caps: Sequence[int],
    temperature: float = 0.0,
    beam_size: int = 1,
    best_of: int = 1,
    generators: Sequence[torch.Generator | None] | None = None,
    logits_processor: Sequence[LogitsProcessor] = (),
) -> list[Hypothesis]:
    """Decode each window (``hidden``: encoder outputs, one row a window) after its decoder
    prompt (``prompts``, all of one length, <|startoftranscript|> at ``sot_index``).

    Temperature 0 is greedy, or beam search with ``beam_size`` above 1; above 0 it samples
    ``best_of`` candidates per window (with the window's generator, so a window's result
    does not depend on its batch) and keeps the one of highest mean log-probability. A window
    stops at end-of-text or after ``caps[i]`` tokens. ``logits_processor`` items are called
    as ``generate`` calls them: ``(input_ids, scores) -> scores``, ``input_ids`` holding the
    prompt and the tokens so far of each row.
    """
    n = hidden.shape[0]
    if n == 0:
        return []
    generators = list(generators) if generators is not None else [None] * n
    decoder = _Decoder(whisper_of(model), hidden)
    logits = decoder(prompts)  # (n, prompt length, vocab)
    if setup.no_speech is not None:
        no_speech = logits[:, sot_index].softmax(-1)[:, setup.no_speech].tolist()
    else:
        no_speech = [0.0] * n
    first = logits[:, -1]
    if temperature == 0 and beam_size > 1:
        return _beam(decoder, first, prompts, setup, caps, beam_size, no_speech, logits_processor)
    per_window = 1 if temperature == 0 else best_of
    return _sample(
        decoder,
        first,
        prompts,
        setup,
        caps,
        temperature,
        per_window,
        no_speech,
        generators,
        logits_processor,
    )


def _sample(
    decoder: _Decoder,
    first: torch.Tensor,
    prompts: torch.Tensor,
    setup: SearchSetup,
    caps: Sequence[int],
    temperature: float,
    per_window: int,
    no_speech: list[float],
    generators: list[torch.Generator | None],
    processors: Sequence[LogitsProcessor],
) -> list[Hypothesis]:
    """Greedy (temperature 0) or sampled decoding, ``per_window`` rows per window."""
    device = first.device
    n = first.shape[0]
    expand = torch.arange(n, device=device).repeat_interleave(per_window)
    if per_window > 1:
        decoder.select(expand)
    window = expand.tolist()  # window of each live row
    seqs = prompts.index_select(0, expand)
    logits = first.index_select(0, expand)
    sums = torch.zeros(len(window), dtype=torch.float64, device=device)
    done: list[list[Hypothesis]] = [[] for _ in range(n)]
    live = [True] * len(window)  # finished rows stay in the batch until COMPACT_SHARE
    step = 0
    while True:
        logits = _mask(logits, setup, step == 0)
        for processor in processors:
            logits = processor(seqs, logits)
        logprobs = torch.log_softmax(logits, dim=-1)
        if temperature == 0:
            tokens = logits.argmax(-1)
        else:
            # Inverse-CDF sampling: one uniform draw per row from the window's generator
            # (torch.multinomial over Whisper's vocabulary is many times slower on a CPU).
            cdf = torch.softmax(logits / temperature, dim=-1).double().cumsum(-1)
            draws = torch.zeros(len(window), dtype=torch.float64, device=device)
            # Finished rows left in the batch draw nothing: a window's draws stay the same
            # whichever rows share its batch.
            for w in sorted({rw for r, rw in enumerate(window) if live[r]}):
                rows = [r for r, rw in enumerate(window) if rw == w and live[r]]
                draws[rows] = torch.rand(
                    len(rows), generator=generators[w], dtype=torch.float64, device=device
                )
            draws = (draws * cdf[:, -1]).clamp(max=cdf[:, -1])
            tokens = torch.searchsorted(cdf, draws[:, None], right=True)[:, 0]
            tokens = tokens.clamp(max=cdf.shape[1] - 1)
        sums += logprobs.gather(1, tokens[:, None])[:, 0].double()
        seqs = torch.cat([seqs, tokens[:, None]], dim=1)
        step += 1
        keep = []
        token_list = tokens.tolist()
        for r, w in enumerate(window):
            if not live[r]:
                continue
            ended = token_list[r] == setup.eot
            if ended or step >= caps[w]:
                text = seqs[r, prompts.shape[1] :].tolist()
                if ended:
                    text = text[:-1]
                done[w].append(Hypothesis(text, float(sums[r]), no_speech[w], ended))
            else:
                keep.append(r)
        if not keep:
            break
        if (len(window) - len(keep)) * COMPACT_SHARE >= len(window):
            rows = torch.tensor(keep, device=device)
            decoder.select(rows)
            seqs, sums = seqs.index_select(0, rows), sums.index_select(0, rows)
            window = [window[r] for r in keep]
            tokens = tokens.index_select(0, rows)
            live = [True] * len(window)
        else:
            live = [r in keep for r in range(len(window))]
        logits = decoder(tokens[:, None])[:, -1]
    return [_best(hyps) for hyps in done]


def _best(hyps: list[Hypothesis]) -> Hypothesis:
    """openai-whisper's ranking of candidates: sum of log-probabilities over length."""
    return max(hyps, key=lambda h: h.sum_logprob / max(1, len(h.tokens)))


def _beam(
    decoder: _Decoder,
    first: torch.Tensor,
    prompts: torch.Tensor,
    setup: SearchSetup,
    caps: Sequence[int],
    beam_size: int,
    no_speech: list[float],
    processors: Sequence[LogitsProcessor],
) -> list[Hypothesis]:
    """Beam search as openai-whisper's ``BeamSearchDecoder`` (patience 1): each step keeps
    the ``beam_size`` likeliest unfinished sequences of a window; a window is done when
    ``beam_size`` sequences have ended (or at its cap, topped up with unfinished ones)."""
    device = first.device
    n = first.shape[0]
    expand = torch.arange(n, device=device).repeat_interleave(beam_size)
    decoder.select(expand)
    seqs = prompts.index_select(0, expand)
    logits = first.index_select(0, expand)
    sums = [0.0] * (n * beam_size)
    live = list(range(n))  # windows still decoding; each owns beam_size consecutive rows
    finished: list[dict[tuple[int, ...], float]] = [{} for _ in range(n)]
    result: list[Hypothesis | None] = [None] * n
    start = prompts.shape[1]
    step = 0
    while live:
        logits = _mask(logits, setup, step == 0)
        for processor in processors:
            logits = processor(seqs, logits)
        logprobs = torch.log_softmax(logits, dim=-1)
        top_lp, top_tok = logprobs.topk(beam_size + 1, dim=-1)
        top_lp, top_tok = top_lp.double().tolist(), top_tok.tolist()
        sources, new_tokens, new_sums, next_live = [], [], [], []
        for k, w in enumerate(live):
            candidates = []
            # At the first step every beam of a window holds the same prefix: read one.
            for j in range(1 if step == 0 else beam_size):
                r = k * beam_size + j
                for lp, tok in zip(top_lp[r], top_tok[r], strict=True):
                    candidates.append((sums[r] + lp, r, tok))
            candidates.sort(key=lambda c: -c[0])
            kept = []
            for score, r, tok in candidates:
                if tok == setup.eot:
                    if len(finished[w]) < beam_size:
                        finished[w][tuple(seqs[r, start:].tolist())] = score
                else:
                    kept.append((score, r, tok))
                    if len(kept) == beam_size:
                        break
            # A window whose beam_size finished sequences are in, or at its cap, is done.
            if len(finished[w]) >= beam_size or step + 1 >= caps[w]:
                result[w] = _finish_beam(finished[w], kept, seqs, start, beam_size, no_speech[w])
                continue
            next_live.append(w)
            for score, r, tok in kept:
                sources.append(r)
                new_tokens.append(tok)
                new_sums.append(score)
        step += 1
        if not next_live:
            break
        rows = torch.tensor(sources, device=device)
        tokens = torch.tensor(new_tokens, device=device)
        decoder.select(rows)
        seqs = torch.cat([seqs.index_select(0, rows), tokens[:, None]], dim=1)
        sums, live = new_sums, next_live
        logits = decoder(tokens[:, None])[:, -1]
    return [r for r in result if r is not None]


def _finish_beam(
    finished: dict[tuple[int, ...], float],
    kept: list[tuple[float, int, int]],
    seqs: torch.Tensor,
    start: int,
    beam_size: int,
    no_speech: float,
) -> Hypothesis:
    hyps = [Hypothesis(list(tokens), s, no_speech, True) for tokens, s in finished.items()]
    for score, r, tok in kept:  # already in order of score
        if len(hyps) >= beam_size:
            break
        hyps.append(Hypothesis([*seqs[r, start:].tolist(), tok], score, no_speech, False))
    return _best(hyps)
