"""The decoding guards: golden tables of the checks, the fallback ending a loop, batching,
beam search, the no-speech probability, and settings that name their field."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
import torch
from transformers import LogitsProcessor

from workbench.decoding import (
    Attempt,
    DecodingOptions,
    average_logprob,
    choose_after_all_failed,
    compression_ratio,
    is_no_speech,
    needs_fallback,
    token_cap,
)
from workbench.decoding.fallback import DecodingStats, WindowDecoder
from workbench.decoding.search import search
from workbench.features import log_mel
from workbench.models.loading import load_model
from workbench.schema import SpecError
from workbench.transcribe import DecodeOptions, Transcriber

LOOP = " ".join(["the ID of"] * 40)
SPEECH = "Please inspect the butterfly valve on the reciprocating compressor before lunch."


# --- golden tables of the checks ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ratio"),
    [
        (SPEECH, 1.0526),  # ordinary speech compresses little
        ("Check P-101A.", 0.6190),  # short text grows under zlib
        (LOOP, 17.3478),  # a loop
        ("1982 " * 20, 6.25),
    ],
)
def test_compression_ratio_golden(text, ratio):
    assert compression_ratio(text) == pytest.approx(ratio, abs=1e-4)
    data = text.encode()
    assert compression_ratio(text) == len(data) / len(zlib.compress(data))


def test_compression_ratio_is_faster_whispers():
    from faster_whisper.transcribe import get_compression_ratio

    for text in (SPEECH, LOOP, "Check P-101A.", "über straße 東京"):
        assert compression_ratio(text) == get_compression_ratio(text)


def test_average_logprob_counts_the_end_of_text_token():
    assert average_logprob(-6.0, 5) == -1.0  # five tokens and end-of-text
    assert average_logprob(-0.5, 0) == -0.5  # an empty transcript: end-of-text alone


def _attempt(text=SPEECH, avg=-0.3, no_speech=0.01, temperature=0.0, capped=False, n=9):
    tokens = list(range(n))
    return Attempt(tokens, text, temperature, avg * (n + 1), no_speech, capped)


# (text, mean log-prob, no-speech prob, capped) -> (falls back, dropped), as openai-whisper's
# decode_with_fallback and transcribe decide.
CHECKS = [
    (SPEECH, -0.3, 0.01, False, False, False),  # fine
    (LOOP, -0.3, 0.01, False, True, False),  # too repetitive
    (SPEECH, -1.5, 0.01, False, True, False),  # too improbable
    (SPEECH, -1.0, 0.01, False, False, False),  # at the threshold: not below it
    (SPEECH, -1.5, 0.9, False, False, True),  # silence: no fallback, dropped
    (LOOP, -1.5, 0.9, False, False, True),  # silence wins over repetition too
    (SPEECH, -0.3, 0.9, False, False, False),  # probable text is kept despite no-speech
    (SPEECH, -1.0, 0.9, False, False, True),  # dropped unless log-prob is above -1
    (SPEECH, -1.5, 0.6, False, True, False),  # at the no-speech threshold: not above it
    (SPEECH, -0.3, 0.01, True, True, False),  # stopped by the token cap
]


@pytest.mark.parametrize(("text", "avg", "no_speech", "capped", "fallback", "dropped"), CHECKS)
def test_fallback_and_no_speech_golden(text, avg, no_speech, capped, fallback, dropped):
    options = DecodingOptions()
    attempt = _attempt(text, avg, no_speech, capped=capped)
    assert needs_fallback(attempt, options) is fallback
    assert is_no_speech(attempt, options) is dropped


def test_thresholds_off_turn_their_checks_off():
    off = DecodingOptions.unguarded()
    assert not needs_fallback(_attempt(LOOP, -5.0), off)
    assert not is_no_speech(_attempt(SPEECH, -5.0, 0.99), off)
    no_lp = DecodingOptions(logprob_threshold=None)
    assert is_no_speech(_attempt(SPEECH, -0.1, 0.9), no_lp)  # nothing vetoes the drop
    assert not needs_fallback(_attempt(SPEECH, -5.0, 0.9), no_lp)


def test_after_all_failed_the_most_probable_non_loop_is_kept():
    options = DecodingOptions()
    loop = _attempt(LOOP, -0.2, temperature=0.0)
    a = _attempt("a b c d", -1.6, temperature=0.2)
    b = _attempt("e f g h", -1.2, temperature=0.4)
    assert choose_after_all_failed([loop, a, b], options) is b
    loops = [_attempt(LOOP, -0.9), _attempt(LOOP + " x", -0.4, temperature=0.2)]
    assert choose_after_all_failed(loops, options) is loops[1]  # all loops: most probable


def test_token_cap():
    options = DecodingOptions(max_tokens_per_second=25)
    assert token_cap(2.0, options, 444) == 50
    assert token_cap(0.01, options, 444) == 1
    assert token_cap(30.0, options, 444) == 444
    assert token_cap(2.0, DecodingOptions(max_tokens_per_second=None), 444) == 444


# --- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"beam_size": 0}, "beam_size"),
        ({"best_of": -1}, "best_of"),
        ({"temperatures": []}, "temperatures"),
        ({"temperatures": [0.0, 0.4, 0.2]}, "temperatures"),
        ({"temperatures": [-0.1]}, "temperatures"),
        ({"compression_ratio_threshold": 0}, "compression_ratio_threshold"),
        ({"logprob_threshold": 0.5}, "logprob_threshold"),
        ({"no_speech_threshold": 1.5}, "no_speech_threshold"),
        ({"max_tokens_per_second": 0}, "max_tokens_per_second"),
    ],
)
def test_bad_settings_name_their_field(kwargs, field):
    with pytest.raises(SpecError) as info:
        DecodingOptions(**kwargs)
    assert [name for name, _ in info.value.problems] == [field]
    assert field in str(info.value)


def test_recipe_errors_name_the_key_path(tmp_path):
    from workbench.recipe import RecipeError, load_recipe

    path = tmp_path / "r.yaml"
    path.write_text(
        "name: r\neval:\n  decoding:\n    logprob_threshold: 2\n    temperatures: [0.5, 0.2]\n"
        "    beam_sise: 5\n"
    )
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    keys = {p.key for p in info.value.problems}
    assert keys == {
        "eval.decoding.logprob_threshold",
        "eval.decoding.temperatures",
        "eval.decoding.beam_sise",
    }
    assert "beam_size" in str(info.value)  # did you mean


def test_recipe_defaults_are_the_guards_and_num_beams_still_reads(tmp_path):
    from workbench.recipe import load_recipe

    path = tmp_path / "r.yaml"
    path.write_text("name: r\n")
    decoding = load_recipe(path).eval.decoding_options()
    assert decoding == DecodingOptions()
    assert decoding.temperatures == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    path.write_text("name: r\neval: {num_beams: 5}\n")  # an older recipe
    assert load_recipe(path).eval.decoding_options().beam_size == 5
    overridden = load_recipe(path, ["eval.decoding.no_speech_threshold=null"])
    assert overridden.eval.decoding.no_speech_threshold is None


def test_cli_flags_name_themselves(capsys, tmp_path):
    from workbench.cli import main

    clip = tmp_path / "x.wav"
    clip.write_bytes(b"")
    assert main(["transcribe", str(clip), "--temperatures", "0.4,0.2"]) == 2
    assert "--temperatures" in capsys.readouterr().err
    assert main(["transcribe", str(clip), "--no-speech-threshold", "2"]) == 2
    assert "--no-speech-threshold" in capsys.readouterr().err


def test_eval_flags_become_recipe_overrides():
    from workbench.cli import _decoding_overrides, build_parser

    args = build_parser().parse_args(
        ["eval", "r.yaml", "--adapter", "a", "--beams", "5", "--no-speech-threshold", "none"]
    )
    assert _decoding_overrides(args) == [
        "eval.decoding.beam_size=5",
        "eval.decoding.no_speech_threshold=null",
    ]
    plain = build_parser().parse_args(["eval", "r.yaml", "--adapter", "a", "--no-guards"])
    assert "eval.decoding.temperatures=[0.0]" in _decoding_overrides(plain)
    given = build_parser().parse_args(["eval", "r.yaml", "--adapter", "a"])
    assert _decoding_overrides(given) == []


# --- decoding with the tiny Whisper ------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir), device="cpu")


def _clips(n: int, seconds: float = 2.0) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [
        (rng.standard_normal(int(16000 * seconds * (1 + i / 4))) * 0.1).astype(np.float32)
        for i in range(n)
    ]


def _hidden(loaded, audios):
    features = log_mel(loaded.processor.feature_extractor, audios)
    with torch.inference_mode():
        return loaded.model.get_encoder()(features).last_hidden_state


def test_the_random_tiny_model_loops_greedily_and_the_fallback_ends_it(tiny):
    """The tiny random Whisper repeats one token at temperature 0 ("1982 1982 ...");
    with the guards, the kept transcript is not a loop."""
    audios = _clips(2)
    hidden = _hidden(tiny, audios)
    plain = WindowDecoder(tiny, DecodingOptions.unguarded(), max_new_tokens=40)
    looped = plain.decode(hidden, [2.0, 2.5])
    assert all(r.kept.compression_ratio > 2.4 for r in looped)
    stats = DecodingStats()
    guarded = WindowDecoder(tiny, DecodingOptions(max_tokens_per_second=None), max_new_tokens=40)
    results = guarded.decode(hidden, [2.0, 2.5], seeds=[1, 2], stats=stats)
    for r in results:
        assert [a.temperature for a in r.attempts] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        assert r.kept.compression_ratio <= 2.4 and r.text
        assert r.kept.temperature > 0
    counts = stats.as_dict()
    assert counts["windows"] == 2 and counts["fell_back"] == 2
    assert counts["fell_back_by_temperature"] == {"failed": 2}  # random text is improbable
    assert counts["attempts"] == 12


class Looping(LogitsProcessor):
    """A distribution on which greedy decoding loops: token ``word`` is always a little
    likelier than end-of-text, and everything else impossible. Sampling ends it soon."""

    def __init__(self, word: int, eot: int, margin: float = 0.1) -> None:
        self.word, self.eot, self.margin = word, eot, margin

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(scores, -float("inf"))
        out[:, self.word] = self.margin
        out[:, self.eot] = 0.0
        return out


def test_a_loop_at_temperature_zero_passes_after_fallback(tiny):
    """Through a logits processor passed to the decoding entry point: greedy picks the word
    until the cap (a loop: compression ratio far over 2.4); at 0.2 sampling reaches
    end-of-text soon, with a mean log-prob over -1, and that decoding is kept."""
    tok = tiny.processor.tokenizer
    word = tok.convert_tokens_to_ids("Ġthe")
    eot = tiny.model.generation_config.eos_token_id
    options = DecodingOptions(max_tokens_per_second=None)
    decoder = WindowDecoder(tiny, options, max_new_tokens=60, logits_processor=[Looping(word, eot)])
    stats = DecodingStats()
    (result,) = decoder.decode(_hidden(tiny, _clips(1)), [2.0], seeds=[7], stats=stats)
    first = result.attempts[0]
    assert first.temperature == 0.0 and len(first.tokens) == 60
    assert first.text == " ".join(["the"] * 60)
    assert first.compression_ratio > 2.4
    # Probable, yet a loop: 60 tokens of log-prob log(e^0.1 / (e^0.1 + 1)), no end-of-text.
    assert first.avg_logprob == pytest.approx(60 * -0.64440 / 61, abs=1e-4)
    assert result.kept.temperature == 0.2 and not result.failed_all
    assert result.text == " ".join(["the"] * len(result.kept.tokens))
    assert len(result.kept.tokens) < 60 and result.kept.compression_ratio <= 2.4
    assert stats.as_dict()["fell_back_by_temperature"] == {"0.2": 1}


def test_the_token_cap_stops_a_loop_and_falls_back(tiny):
    tok = tiny.processor.tokenizer
    eot = tiny.model.generation_config.eos_token_id
    processor = Looping(tok.convert_tokens_to_ids("Ġthe"), eot, margin=20.0)  # never ends
    decoder = WindowDecoder(
        tiny, DecodingOptions(max_tokens_per_second=5), logits_processor=[processor]
    )
    stats = DecodingStats()
    (result,) = decoder.decode(_hidden(tiny, _clips(1)), [2.0], stats=stats)
    assert all(len(a.tokens) == 10 and a.capped for a in result.attempts)
    assert len(result.attempts) == 6 and result.failed_all
    assert stats.as_dict()["capped"] == 1


def _rescore(loaded, hidden, prompt, tokens, ended):
    """Sum of log-probabilities of ``tokens`` (and end-of-text) by one teacher-forced pass,
    with Whisper's suppressions: what the token loop must have added up."""
    config = loaded.model.generation_config
    ids = torch.tensor([prompt + tokens])
    with torch.inference_mode():
        out = loaded.model(encoder_outputs=(hidden[None],), decoder_input_ids=ids)
    logits = out.logits[0, len(prompt) - 1 :].float().clone()
    logits[:, config.suppress_tokens] = -float("inf")
    logits[0, config.begin_suppress_tokens] = -float("inf")
    logprobs = logits.log_softmax(-1)
    targets = [*tokens, config.eos_token_id] if ended else tokens
    return sum(float(logprobs[i, t]) for i, t in enumerate(targets)), out.logits[0].float().clone()


@pytest.mark.parametrize(("temperature", "beam_size"), [(0.0, 1), (0.0, 3), (0.6, 1)])
def test_sum_logprob_and_no_speech_prob_are_whispers(tiny, temperature, beam_size):
    decoder = WindowDecoder(tiny, DecodingOptions(), max_new_tokens=12)
    hidden = _hidden(tiny, _clips(2))
    prompts = decoder._prompts(hidden)
    generators = [torch.Generator().manual_seed(s) for s in (3, 4)]
    hyps = search(
        tiny.model,
        hidden,
        prompts,
        decoder.sot_index,
        decoder.setup,
        caps=[12, 12],
        temperature=temperature,
        beam_size=beam_size,
        best_of=3,
        generators=generators,
    )
    prompt = prompts[0].tolist()
    no_speech = tiny.processor.tokenizer.convert_tokens_to_ids("<|nocaptions|>")
    for i, hyp in enumerate(hyps):
        expected, logits = _rescore(tiny, hidden[i], prompt, hyp.tokens, hyp.ended)
        assert hyp.sum_logprob == pytest.approx(expected, abs=1e-3)
        # The no-speech probability: softmax at <|nocaptions|>, read at <|startoftranscript|>.
        assert prompt[decoder.sot_index] == tiny.model.generation_config.decoder_start_token_id
        sot_probs = logits[decoder.sot_index].softmax(-1)
        assert hyp.no_speech_prob == pytest.approx(float(sot_probs[no_speech]), rel=1e-4)


class GardenPath(LogitsProcessor):
    """A distribution where the likeliest first token leads nowhere likely: A (0.55) then
    C, D or E (0.3, 0.3, 0.4); B (0.45) then C (0.99); after C, D or E only end-of-text."""

    def __init__(self, a, b, c, d, e, eot) -> None:
        self.a, self.b, self.c, self.d, self.e, self.eot = a, b, c, d, e, eot

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(scores, -float("inf"))
        for row, last in enumerate(input_ids[:, -1].tolist()):
            if last == self.a:
                choices = {self.c: 0.3, self.d: 0.3, self.e: 0.4}
            elif last == self.b:
                choices = {self.c: 0.99, self.d: 0.01}
            elif last in (self.c, self.d, self.e):
                choices = {self.eot: 1.0}
            else:
                choices = {self.a: 0.55, self.b: 0.45}
            for token, p in choices.items():
                out[row, token] = float(np.log(p))
        return out


def test_beam_search_finds_what_greedy_misses(tiny):
    tok = tiny.processor.tokenizer
    ids = [tok.convert_tokens_to_ids(f"Ġ{w}") for w in ("yes", "no", "maybe", "sure", "ok")]
    eot = tiny.model.generation_config.eos_token_id
    processor = GardenPath(*ids, eot)
    hidden = _hidden(tiny, _clips(1))
    kept = {}
    for beam in (1, 2):
        decoder = WindowDecoder(
            tiny,
            DecodingOptions.unguarded(beam_size=beam),
            max_new_tokens=10,
            logits_processor=[processor],
        )
        kept[beam] = decoder.decode(hidden, [2.0])[0].kept
    assert kept[1].text == "yes ok"  # 0.55 * 0.4 = 0.22
    assert kept[2].text == "no maybe"  # 0.45 * 0.99 = 0.45
    assert kept[2].sum_logprob == pytest.approx(np.log(0.45 * 0.99), abs=1e-5)
    assert kept[2].avg_logprob > kept[1].avg_logprob


@pytest.mark.parametrize("beam_size", [1, 2])
def test_batched_equals_unbatched(tiny, beam_size):
    """Clips decoded in one batch or one at a time: the same texts, the same fallbacks
    (sampling is seeded per window from its audio, not from its batch)."""
    audios = _clips(4)
    options = DecodeOptions(
        decoding=DecodingOptions(beam_size=beam_size, max_tokens_per_second=8), max_new_tokens=30
    )
    runs = {}
    for batch in (4, 1):
        transcriber = Transcriber(tiny, options, batch_size=batch)
        runs[batch] = (transcriber.transcribe_arrays(audios), transcriber.stats.as_dict())
    assert runs[4] == runs[1]
    assert runs[4][1]["fell_back"] == 4  # every window went through the fallback
    assert runs[4][1]["attempts"] == 24


@pytest.mark.parametrize("temperatures", [[0.0], [0.0, 0.4, 0.8]])
def test_finished_rows_left_in_the_batch_change_nothing(tiny, monkeypatch, temperatures):
    """Windows of different caps finish at different steps; whether finished rows leave the
    batch at once, at a quarter of it or only at the end, every window decodes the same
    (sampled windows draw the same numbers: finished rows draw none)."""
    from workbench.decoding import search

    audios = _clips(8)
    options = DecodeOptions(
        decoding=DecodingOptions(temperatures=temperatures, max_tokens_per_second=8),
        max_new_tokens=30,
    )
    runs = {}
    for share in (10**9, 4, 1):  # at once, at a quarter, only when all are done
        monkeypatch.setattr(search, "COMPACT_SHARE", share)
        transcriber = Transcriber(tiny, options, batch_size=8)
        runs[share] = (transcriber.transcribe_arrays(audios), transcriber.stats.as_dict())
    assert runs[10**9] == runs[4] == runs[1]
    assert len(set(runs[4][0])) > 1


def test_stats_report_as_plain_json():
    stats = DecodingStats()
    assert json.loads(json.dumps(stats.as_dict()))["windows"] == 0


def test_long_clips_get_the_guards_through_generate(tiny):
    """Clips over 30 s go through transformers' long-form path, told the same settings."""
    guarded = DecodeOptions(decoding=DecodingOptions(beam_size=2)).generate_kwargs(tiny)
    assert guarded["temperature"] == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert guarded["num_beams"] == 2
    assert guarded["compression_ratio_threshold"] == 2.4
    assert guarded["logprob_threshold"] == -1.0 and guarded["no_speech_threshold"] == 0.6
    plain = DecodeOptions(decoding=DecodingOptions.unguarded()).generate_kwargs(tiny)
    assert not {"temperature", "compression_ratio_threshold", "no_speech_threshold"} & set(plain)
