"""The lexicon boost: trie tables with the real tiny.en tokenizer, take-back, word boundaries,
special tokens, batching, greedy and beam search on the tiny random Whisper."""

from __future__ import annotations

import random

import pytest
import torch

from workbench.decoding.boost import (
    ROOT,
    LexiconBoost,
    boost_processor,
    build_trie,
    get_trie,
    term_forms,
)
from workbench.lexicon import Lexicon, Term
from workbench.models.bundled import BUNDLED, meta_dir
from workbench.models.convert import build_tokenizer

SOT, NO_TIMESTAMPS, EOT = 50257, 50362, 50256
VOCAB = 51864


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer(meta_dir(BUNDLED["tiny.en"]) / "tokenizer.json", VOCAB)


@pytest.fixture(scope="module")
def lexicon():
    return Lexicon(
        [
            Term("metoprolol", "drug"),
            Term("morphine", "drug"),
            Term("fentanyl", "drug", weight=2.0),
            Term("insulin glargine", "drug"),
        ]
    )


@pytest.fixture(scope="module")
def proc(lexicon, tok):
    return LexiconBoost(get_trie(lexicon, tok), 2.0)


def ids(tok, text: str) -> list[int]:
    return tok.encode(text, add_special_tokens=False)


def deltas(proc, tok, prefix: str) -> torch.Tensor:
    row = [SOT, NO_TIMESTAMPS, *ids(tok, prefix)]
    return proc(torch.tensor([row]), torch.zeros(1, VOCAB))[0]


def positive(tok, d: torch.Tensor) -> dict[str, float]:
    return {tok.convert_ids_to_tokens(i): d[i].item() for i in (d > 0).nonzero().flatten().tolist()}


# Golden tables at boost 2: the bonus per token is 2 * weight * min(depth, 4) / 2.
STARTS = {"Ġinsulin": 1.0, "ĠMorph": 1.0, "Ġmorphine": 1.0, "Ġfentanyl": 2.0}


def test_forms_are_written_forms_not_spoken_ones():
    assert term_forms("metoprolol", spaced=True) == [
        " metoprolol",
        " Metoprolol",
        "metoprolol",
        "Metoprolol",
    ]
    assert term_forms("COPD", spaced=True) == [" COPD", " copd", "COPD", "copd"]
    assert term_forms("阿司匹林", spaced=False) == ["阿司匹林"]


def test_first_tokens_get_a_bonus_only_when_they_are_not_common(proc, tok):
    # after <|startoftranscript|><|notimestamps|>: " met" (id 1138), " Met" and " F" are common
    # word starts, so metoprolol and " Fentanyl" start without a bonus; "morph" may start
    # without a space only because a special token comes before it.
    assert positive(tok, deltas(proc, tok, "")) == {**STARTS, "morph": 1.0}
    assert positive(tok, deltas(proc, tok, " I said")) == STARTS  # "morph" would glue to "said"


def test_bonus_grows_with_depth_and_leaving_takes_it_back(proc, tok):
    d = deltas(proc, tok, " met")  # in the trie, nothing given yet: nothing to take back
    assert positive(tok, d) == {"op": 2.0, **STARTS}
    assert d.min().item() == 0.0
    d = deltas(proc, tok, " metop")  # " met" 0 + "op" 2 * 1 given
    assert positive(tok, d) == {"rol": 3.0}
    assert d[ids(tok, " and")[0]].item() == -2.0  # abandoned: the bonus given back
    assert d[EOT].item() == -2.0  # end of text in the middle of a term: given back too
    assert d[ids(tok, " insulin")[0]].item() == -1.0  # given back, and a new term's start


def test_a_completed_term_keeps_its_bonus_only_at_a_word_end(proc, tok):
    d = deltas(proc, tok, " Metoprolol")  # given 2 * (1 + 1.5 + 2) = 9
    assert d[ids(tok, " and")[0]].item() == 0.0
    assert d[ids(tok, ",")[0]].item() == 0.0
    assert d[EOT].item() == 0.0
    assert d[ids(tok, "s")[0]].item() == -9.0  # "Metoprolols": a longer word
    d = deltas(proc, tok, " insulin")  # "insulin" alone is no term: " gl" continues
    assert positive(tok, d) == {"Ġgl": 2.0, "Ġfentanyl": 1.0}


def test_a_term_inside_a_longer_word_is_not_matched(proc, tok):
    # " hydromorphone" is " hyd" "rom" "or" "phone": "morph" after "rom" starts nothing
    assert proc.state([SOT, NO_TIMESTAMPS, *ids(tok, " hydrom")]) == (ROOT, 0.0)
    assert "morph" not in positive(tok, deltas(proc, tok, " hydrom"))
    assert "morph" in positive(tok, deltas(proc, tok, " ("))  # after punctuation it may


def test_special_and_timestamp_tokens_never_get_a_bonus(proc, tok, lexicon):
    rng = random.Random(0)
    terms = [ids(tok, " " + t.term) for t in lexicon]
    for _ in range(50):
        row = [SOT, NO_TIMESTAMPS]
        for _ in range(rng.randint(0, 3)):
            term = rng.choice(terms)
            row += term[: rng.randint(1, len(term))] + ids(tok, rng.choice([" and", "s", ","]))
        d = proc(torch.tensor([row]), torch.zeros(1, VOCAB))[0]
        assert (d[EOT:] <= 0).all()
        node, _ = proc.state(row)
        if node == ROOT or proc.trie.terminal[node]:
            assert (d[EOT:] == 0).all()  # untouched unless a partial match is taken back


def test_the_net_bonus_of_a_sequence_is_kept_only_for_finished_terms(proc, tok):
    """Summed over steps, as beam search sums a beam's scores: a failed partial match nets 0."""

    def total(text: str, end: int = EOT) -> float:
        row = [SOT, NO_TIMESTAMPS, *ids(tok, text), end]
        return sum(
            proc(torch.tensor([row[:t]]), torch.zeros(1, VOCAB))[0, row[t]].item()
            for t in range(2, len(row))
        )

    assert total(" metoprolol and") == pytest.approx(9.0)
    assert total(" metoprolol") == pytest.approx(9.0)
    assert total(" metop and") == pytest.approx(0.0)
    assert total(" metop") == pytest.approx(0.0)  # end of text takes it back
    assert total(" metoprolols") == pytest.approx(0.0)
    assert total(" insulin and") == pytest.approx(0.0)
    assert total(" insulin glargine") == pytest.approx(1 + 2 + 3 + 4)
    assert total(" fentanyl fentanyl") == pytest.approx(4.0)


def test_the_vector_agrees_with_the_step_rule_on_every_token(proc, tok, lexicon):
    rng = random.Random(1)
    trie = proc.trie
    pieces = [ids(tok, f) for t in lexicon for f in term_forms(t.term, True)]
    pieces += [ids(tok, w) for w in (" and", "s", ",", " the", " (", "(")]
    for _ in range(30):
        row = [SOT, NO_TIMESTAMPS]
        for _ in range(rng.randint(0, 3)):
            piece = rng.choice(pieces)
            row += piece[: rng.randint(1, len(piece))]
        d = proc(torch.tensor([row]), torch.zeros(1, VOCAB))[0]
        state = proc.state(row)
        for token in rng.sample(range(VOCAB), 300) + list(trie.children[ROOT]) + [EOT, 50300]:
            expected = trie.advance(state, row[-1], token)[1] * proc.boost
            assert d[token].item() == pytest.approx(expected), (row, token)


def test_rows_in_any_order_and_batched_equal_one_by_one(proc, tok):
    rows = [
        [SOT, NO_TIMESTAMPS, *ids(tok, " metop")],
        [SOT, NO_TIMESTAMPS, *ids(tok, " Metoprolol")],
        [SOT, NO_TIMESTAMPS, *ids(tok, " I said")],
        [SOT, NO_TIMESTAMPS, *ids(tok, " insulin gl")],
    ]
    width = max(map(len, rows))
    # beams of one generate call have equal lengths: pad in front with a special token
    rows = [[SOT] * (width - len(r)) + r for r in rows]
    scores = torch.randn(len(rows), VOCAB)
    batched = proc(torch.tensor(rows), scores.clone())
    for i, row in enumerate(rows):
        alone = proc(torch.tensor([row]), scores[i : i + 1].clone())
        assert torch.equal(batched[i], alone[0])
    order = [2, 0, 3, 1]
    shuffled = proc(torch.tensor([rows[i] for i in order]), scores[order].clone())
    assert torch.equal(shuffled, batched[order])


def test_minus_infinity_stays_and_boost_zero_is_off(proc, tok, lexicon):
    row = torch.tensor([[SOT, NO_TIMESTAMPS, *ids(tok, " metop")]])
    scores = torch.zeros(1, VOCAB)
    scores[0, ids(tok, "rol")[0]] = float("-inf")
    assert proc(row, scores.clone())[0, ids(tok, "rol")[0]].item() == float("-inf")
    assert boost_processor(lexicon, tok, 0) is None
    assert torch.equal(LexiconBoost(proc.trie, 0.0)(row, scores.clone()), scores)
    with pytest.raises(ValueError, match="boost"):
        LexiconBoost(proc.trie, -1.0)


def test_weights_scale_the_bonus_and_zero_leaves_a_term_out(tok):
    light = Lexicon([Term("fentanyl", "drug", weight=0.5), Term("morphine", "drug", weight=0.0)])
    p = LexiconBoost(get_trie(light, tok), 2.0)
    assert positive(tok, deltas(p, tok, "")) == {"Ġfentanyl": 0.5}


def test_the_trie_is_built_once_per_lexicon_and_tokenizer(lexicon, tok):
    assert get_trie(lexicon, tok) is get_trie(lexicon, tok)
    same_terms = Lexicon(list(lexicon))
    assert get_trie(same_terms, tok) is get_trie(lexicon, tok)
    assert get_trie(lexicon, tok, spaced=False) is not get_trie(lexicon, tok)


def test_unspaced_scripts_match_characters_anywhere(tok):
    trie = build_trie([("阿司匹林", 1.0)], tok, spaced=False)
    p = LexiconBoost(trie, 2.0)
    term = ids(tok, "阿司匹林")
    row = [SOT, NO_TIMESTAMPS, *ids(tok, "我吃"), *term[:2]]
    d = p(torch.tensor([row]), torch.zeros(1, VOCAB))[0]
    assert d[term[2]].item() == pytest.approx(2.0 * 1.5)  # depth 3 continues after other text
    assert p.state([SOT, NO_TIMESTAMPS, *ids(tok, "我吃"), *term])[0] != ROOT


def test_greedy_and_beam_search_decode_batched_as_alone(tiny_model_dir, lexicon):
    import numpy as np

    from workbench.decoding.options import DecodingOptions
    from workbench.models.loading import load_model
    from workbench.transcribe import DecodeOptions, Transcriber

    loaded = load_model(str(tiny_model_dir))
    processor = boost_processor(lexicon, loaded.processor.tokenizer, 3.0)
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(16000 * s).astype(np.float32) * 0.1 for s in (1, 2, 3)]
    for beams in (1, 3):
        options = DecodeOptions(
            decoding=DecodingOptions.unguarded(beam_size=beams), max_new_tokens=8
        )
        boosted = Transcriber(loaded, options, batch_size=3, logits_processor=processor)
        together = boosted.transcribe_arrays(clips)
        alone = [boosted.transcribe_arrays([c])[0] for c in clips]
        assert together == alone
        plain = Transcriber(loaded, options, batch_size=3).transcribe_arrays(clips)
        assert len(plain) == len(together)
