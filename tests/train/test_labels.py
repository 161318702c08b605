"""Whisper labels: no doubled start token; prefix, prompt and padding masked from the loss."""

from __future__ import annotations

import numpy as np
import pytest

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
