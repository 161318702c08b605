"""Whisper labels: no doubled start token; prefix, prompt and padding masked from the loss."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.lexicon import Lexicon, Term
from workbench.models.bundled import BUNDLED, meta_dir
from workbench.models.convert import build_tokenizer
from workbench.train.batches import IGNORE, BatchPlan, Collator, Example, LabelMaker


class _Processor:  # what LabelMaker and Collator use of a WhisperProcessor
    def __init__(self, name, vocab):
        from transformers import WhisperFeatureExtractor

        self.tokenizer = build_tokenizer(meta_dir(BUNDLED[name]) / "tokenizer.json", vocab)
        self.feature_extractor = WhisperFeatureExtractor()


@pytest.fixture(scope="module")
def en():
    return _Processor("tiny.en", 51864)


@pytest.fixture(scope="module")
def multi():
    return _Processor("base", 51865)


def test_english_labels(en):
    tok = en.tokenizer
    decoder, labels = LabelMaker(en, multilingual=False)("Take metoprolol.")
    body = tok(" Take metoprolol.", add_special_tokens=False).input_ids
    assert decoder == [50257, 50362, *body]
    assert labels == [IGNORE, *body, 50256]  # <|notimestamps|> is forced, not learnt
    assert decoder[2:] == [t for t in labels if t != IGNORE][:-1]  # shifted by one


def test_multilingual_labels_carry_language_and_task(multi):
    tok = multi.tokenizer
    decoder, labels = LabelMaker(multi, multilingual=True, language="zh")("我去北京。")
    prefix = tok.convert_tokens_to_ids(
        ["<|startoftranscript|>", "<|zh|>", "<|transcribe|>", "<|notimestamps|>"]
    )
    assert decoder[:4] == prefix
    assert labels[:3] == [IGNORE] * 3
    assert tok.decode([t for t in labels if t != IGNORE], skip_special_tokens=True) == "我去北京。"


def test_prompt_tokens_are_masked(en):
    maker = LabelMaker(en, multilingual=False, prompt="metoprolol, apixaban")
    decoder, labels = maker("Start apixaban.", with_prompt=True)
    prev = en.tokenizer.convert_tokens_to_ids("<|startofprev|>")
    assert decoder[0] == prev
    start = decoder.index(50257)
    assert labels[: start + 1] == [IGNORE] * (start + 1)
    assert (
        en.tokenizer.decode([t for t in labels if t != IGNORE], skip_special_tokens=True)
        == " Start apixaban."
    )


LEX = Lexicon([Term("lisinopril", "drug"), Term("olanzapine", "drug")])


def test_term_tokens_are_flagged(en):
    maker = LabelMaker(en, multilingual=False, prompt="lisinopril", lexicon=LEX)
    for with_prompt in (False, True):
        decoder, labels, in_term = maker.encode("From Lisinopril to olanzapine.", with_prompt)
        assert len(in_term) == len(labels) == len(decoder)
        flagged = [t for t, f in zip(labels, in_term, strict=True) if f]
        assert IGNORE not in flagged  # never the prompt or the forced prefix
        assert en.tokenizer.decode(flagged) == " Lisinopril olanzapine"
        unflagged = [t for t, f in zip(labels, in_term, strict=True) if not f and t != IGNORE]
        assert en.tokenizer.decode(unflagged, skip_special_tokens=True) == " From to."
    assert maker.encode("No terms here.")[2] == [False] * len(maker("No terms here.")[1])
    assert maker.encode("From Lisinopril.")[:2] == maker("From Lisinopril.")


def test_collator_weighs_term_tokens_of_training_clips_only(en):
    maker = LabelMaker(en, multilingual=False, lexicon=LEX)
    clips = [
        Example("a", np.zeros(1600, np.float32), "Start lisinopril.", False, {}),
        Example("b", np.zeros(1600, np.float32), "Start lisinopril.", True, {}),  # replay
    ]
    batch = Collator(en, maker, term_weight=3.0)(clips)
    weights, labels = batch["label_weights"], batch["labels"]
    in_term = [f for f in maker.encode("Start lisinopril.")[2]]
    assert weights[0, : len(in_term)].tolist() == [3.0 if f else 1.0 for f in in_term]
    assert sum(in_term) >= 1
    assert (weights[1] == 1).all()
    assert weights.shape == labels.shape
    assert "label_weights" not in Collator(en, maker)(clips)  # weight 1: the plain loss


def test_collator_pads_and_masks(en):
    maker = LabelMaker(en, multilingual=False)
    batch = Collator(en, maker)(
        [
            Example("a", np.zeros(16000, np.float32), "short", False, {}),
            Example("b", np.zeros(8000, np.float32), "a somewhat longer sentence here", True, {}),
        ]
    )
    assert batch["input_features"].shape == (2, 80, 3000)
    d, lab = batch["decoder_input_ids"], batch["labels"]
    assert d.shape == lab.shape
    short = len(maker("short")[0])
    assert (lab[0, short:] == IGNORE).all() and (d[0, short:] == 50256).all()
    assert batch["general"].tolist() == [False, True]


def test_batch_plan_puts_replay_in_every_batch():
    plan = BatchPlan.build(n_train=10, n_replay=3, batch_size=4, replay_ratio=0.25, seed=0)
    assert plan.train_per_batch == 3 and plan.batches_per_epoch == 4
    seen = []
    for index in range(plan.batches_per_epoch):
        batch = plan.batch(0, index)
        assert sum(i >= 10 for i in batch) == 1
        seen += [i for i in batch if i < 10]
    assert sorted(seen) == list(range(10))  # each training clip once an epoch
    assert plan.batch(1, 0) != plan.batch(0, 0)
    assert plan.batch(1, 0) == plan.batch(1, 0)
