"""From utterances to training batches: audio (augmented), log-mel features, labels.

Labels are built as Whisper decodes: ``[<|startofprev|> prompt]`` ``<|startoftranscript|>``
``[<|lang|> <|transcribe|>]`` ``<|notimestamps|>`` text ``<|endoftext|>``. The decoder input is
that sequence without its last token and the labels are it without its first, so the model
never sees a doubled start token; targets inside the prompt and the forced prefix are masked
(-100) from the loss, as is padding. With ``train.term_weight`` the tokens that spell a
lexicon term weigh more in the loss of training clips.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import WhisperProcessor

from workbench.audio import load_audio
from workbench.augment.pipeline import Augmenter, sample_seed
from workbench.data.manifest import Utterance
from workbench.features import log_mel
from workbench.lexicon import UNSPACED_LANGUAGES, Lexicon

IGNORE = -100


@dataclass
class Example:
    id: str
    audio: np.ndarray
    text: str
    general: bool  # from the replay pool: distilled toward the base model
    params: dict


class SpeechSet:
    """Training examples: train utterances, then replay utterances, in one index space.

    Train clips are augmented with a seed of (seed, epoch, index); replay clips are not.
    """

    def __init__(
        self,
        train: Sequence[Utterance],
        replay: Sequence[Utterance] = (),
        augmenter: Augmenter | None = None,
        seed: int = 0,
    ) -> None:
        self.train, self.replay = list(train), list(replay)
        self.augmenter, self.seed = augmenter, seed

    def __len__(self) -> int:
        return len(self.train) + len(self.replay)

    def get(self, index: int, epoch: int) -> Example:
        general = index >= len(self.train)
        utt = self.replay[index - len(self.train)] if general else self.train[index]
        audio = load_audio(utt.audio)
        params: dict = {}
        if self.augmenter and not general:
            audio, params = self.augmenter(audio, sample_seed(self.seed, epoch, index))
        return Example(utt.id, audio, utt.text, general, params)


@dataclass(frozen=True)
class BatchPlan:
    """Which examples make each batch of an epoch: a seeded shuffle of train, and a fixed
    number of replay examples in every batch."""

    n_train: int
    n_replay: int
    batch_size: int
    replay_per_batch: int
    seed: int

    @classmethod
    def build(
        cls, n_train: int, n_replay: int, batch_size: int, replay_ratio: float, seed: int
    ) -> BatchPlan:
        per_batch = 0
        if n_replay and replay_ratio > 0:
            per_batch = min(batch_size - 1, max(1, round(batch_size * replay_ratio)))
        return cls(n_train, n_replay, batch_size, per_batch, seed)

    @property
    def train_per_batch(self) -> int:
        return self.batch_size - self.replay_per_batch

    @property
    def batches_per_epoch(self) -> int:
        return max(1, math.ceil(self.n_train / self.train_per_batch))

    def batch(self, epoch: int, index: int) -> list[int]:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.n_train)
        start = index * self.train_per_batch
        picked = [int(i) for i in order[start : start + self.train_per_batch]]
        if self.replay_per_batch:
            replay_rng = np.random.default_rng([self.seed, epoch, index, 1])
            replay = replay_rng.choice(
                self.n_replay,
                size=self.replay_per_batch,
                replace=self.n_replay < self.replay_per_batch,
            )
            picked += [self.n_train + int(i) for i in replay]
        return picked


class LabelMaker:
    """Decoder inputs and labels for one transcript (see the module docstring)."""

    def __init__(
        self,
        processor: WhisperProcessor,
        *,
        multilingual: bool,
        language: str | None = None,
        prompt: str | None = None,
        max_positions: int = 448,
        lexicon: Lexicon | None = None,
    ) -> None:
        tok = processor.tokenizer
        self.tok = tok
        self.eot = tok.convert_tokens_to_ids("<|endoftext|>")
        prefix = ["<|startoftranscript|>"]
        if multilingual:
            prefix += [f"<|{language or 'en'}|>", "<|transcribe|>"]
        prefix.append("<|notimestamps|>")
        self.prefix = tok.convert_tokens_to_ids(prefix)
        self.prompt_ids: list[int] = []
        if prompt:
            ids = [int(i) for i in tok.get_prompt_ids(prompt, return_tensors="np")]
            self.prompt_ids = ids[: max_positions // 4]  # leave room for the transcript
        self.max_positions = max_positions
        self.spaced = (language or "en") not in UNSPACED_LANGUAGES
        self.lexicon = lexicon

    def __call__(self, text: str, with_prompt: bool = False) -> tuple[list[int], list[int]]:
        decoder_input, labels, _ = self.encode(text, with_prompt)
        return decoder_input, labels

    def encode(
        self, text: str, with_prompt: bool = False
    ) -> tuple[list[int], list[int], list[bool]]:
        """Decoder input, labels, and for each label whether it spells a lexicon term."""
        text = text.strip()
        written = (" " + text) if self.spaced else text
        spans = self.lexicon.spans(written, spaced=self.spaced) if self.lexicon else []
        encoded = self.tok(written, add_special_tokens=False, return_offsets_mapping=bool(spans))
        body = list(encoded.input_ids)
        in_term = [False] * len(body)
        if spans:
            in_term = [
                any(s < end and e > start for start, end in spans)
                for s, e in encoded.offset_mapping
            ]
        head = (self.prompt_ids if with_prompt else []) + self.prefix
        sequence = head + body + [self.eot]
        flags = [False] * len(head) + in_term + [False]
        if len(sequence) > self.max_positions + 1:
            sequence = [*sequence[: self.max_positions], self.eot]
            flags = [*flags[: self.max_positions], False]
        decoder_input = sequence[:-1]
        labels = sequence[1:]
        masked = len(head) - 1  # targets that are still prompt or forced prefix
        labels = [IGNORE] * masked + labels[masked:]
        return decoder_input, labels, flags[1:]


class Collator:
    """Stacks examples into tensors: features, decoder inputs, labels, replay flags, and
    with a ``term_weight`` other than 1 each label's weight in the loss (``label_weights``:
    the weight on the tokens of lexicon terms in training clips, 1 elsewhere)."""

    def __init__(
        self,
        processor: WhisperProcessor,
        labels: LabelMaker,
        prompt_p: float = 0.0,
        seed: int = 0,
        term_weight: float = 1.0,
    ) -> None:
        self.extractor = processor.feature_extractor
        self.labels = labels
        self.prompt_p = prompt_p
        self.seed = seed
        self.term_weight = term_weight

    def __call__(self, examples: Sequence[Example], step: int = 0) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, step, 2])
        encoded = [
            self.labels.encode(
                e.text, with_prompt=bool(self.labels.prompt_ids) and rng.random() < self.prompt_p
            )
            for e in examples
        ]
        width = max(len(d) for d, _, _ in encoded)
        decoder = torch.full((len(encoded), width), self.labels.eot, dtype=torch.long)
        labels = torch.full((len(encoded), width), IGNORE, dtype=torch.long)
        weights = torch.ones((len(encoded), width)) if self.term_weight != 1 else None
        for row, (d, lab, in_term) in enumerate(encoded):
            decoder[row, : len(d)] = torch.tensor(d)
            labels[row, : len(lab)] = torch.tensor(lab)
            if weights is not None and any(in_term) and not examples[row].general:
                weights[row, : len(in_term)][torch.tensor(in_term)] = self.term_weight
        batch = {
            "input_features": log_mel(self.extractor, [e.audio for e in examples]),
            "decoder_input_ids": decoder,
            "labels": labels,
            "general": torch.tensor([e.general for e in examples], dtype=torch.bool),
        }
        if weights is not None:
            batch["label_weights"] = weights
        return batch
