"""Scores of one system on one set: WER, CER, error types, per-utterance alignments.

WER, substitutions, deletions and insertions come from one ``jiwer.process_words`` pass over
normalized text; CER from ``jiwer.process_characters``. Scripts written without spaces
(Chinese, Japanese, Thai) are scored by characters: their "words" are characters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jiwer
import numpy as np


@dataclass
class SetScore:
    """Corpus-level figures plus what each utterance contributes."""

    wer: float
    cer: float
    substitutions: int
    deletions: int
    insertions: int
    hits: int
    ref_words: int
    errors: list[int]  # per utterance: S + D + I
    lengths: list[int]  # per utterance: reference words
    alignments: list[list[dict]]  # per utterance: chunks for colouring

    def utterance_wer(self, i: int) -> float:
        return self.errors[i] / self.lengths[i] if self.lengths[i] else float(self.errors[i] > 0)


def tokens(text: str, spaced: bool) -> str:
    """Normalized text as jiwer words: words, or characters for unspaced scripts."""
    return text if spaced else " ".join("".join(text.split()))


def score(
    references: Sequence[str],
    hypotheses: Sequence[str],
    normalize: Callable[[str], str],
    *,
    spaced: bool = True,
) -> SetScore:
    """Score ``hypotheses`` against ``references`` after normalizing both."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    refs = [tokens(normalize(r), spaced) for r in references]
    hyps = [tokens(normalize(h), spaced) for h in hypotheses]
    words = jiwer.process_words(refs, hyps)
    chars = jiwer.process_characters(
        [r.replace(" ", "") for r in refs], [h.replace(" ", "") for h in hyps]
    )
    errors, lengths, alignments = [], [], []
    for ref, hyp, chunks in zip(words.references, words.hypotheses, words.alignments, strict=True):
        n_err = 0
        rows = []
        for c in chunks:
            r, h = ref[c.ref_start_idx : c.ref_end_idx], hyp[c.hyp_start_idx : c.hyp_end_idx]
            if c.type in ("substitute", "delete"):
                n_err += len(r)
            elif c.type == "insert":
                n_err += len(h)
            rows.append({"op": c.type, "ref": " ".join(r), "hyp": " ".join(h)})
        errors.append(n_err)
        lengths.append(len(ref))
        alignments.append(rows)
    ref_words = sum(lengths)
    return SetScore(
        wer=float(words.wer),
        cer=float(chars.cer),
        substitutions=words.substitutions,
        deletions=words.deletions,
        insertions=words.insertions,
        hits=words.hits,
        ref_words=ref_words,
        errors=errors,
        lengths=lengths,
        alignments=alignments,
    )


def wer_difference_interval(
    base: SetScore, adapted: SetScore, *, samples: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """WER(adapted) - WER(base) and a bootstrap interval over utterances (paired).

    Resamples utterances with replacement and recomputes both corpus WERs on each sample.
    Identical systems give exactly (0, 0, 0).
    """
    b, a, n = np.array(base.errors), np.array(adapted.errors), np.array(base.lengths)
    total = n.sum()
    diff = float((a.sum() - b.sum()) / total) if total else 0.0
    if len(n) == 0 or np.array_equal(a, b):
        return diff, diff, diff
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(n), size=(samples, len(n)))
    words = n[picks].sum(axis=1)
    diffs = (a[picks].sum(axis=1) - b[picks].sum(axis=1)) / np.maximum(words, 1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return diff, float(low), float(high)
