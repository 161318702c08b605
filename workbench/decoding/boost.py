"""Lexicon biasing while Whisper decodes: a token-prefix trie of the terms and a LogitsProcessor.

Phrase boosting as NVIDIA NeMo builds it (GPU-PB, arXiv 2508.07014), for transformers'
``generate`` (greedy and beam search, batched):

- **The trie** holds every term in the forms Whisper writes it: as written, in lower case and
  capitalised, each with and without a leading space (scripts written without spaces, such as
  Chinese: as written and lower case, no space form). Never the lexicon's spoken forms: they
  are respellings for speech synthesis. Built once per lexicon and tokenizer (:func:`get_trie`).
- **Bonus.** A token that takes a hypothesis one node deeper into the trie earns
  ``boost * weight * min(depth, 4) / 2``: half the knob for a term's first token, the knob for
  the second, up to twice it from the fourth on (a longer match is surer to be the term).
- **No first-token bonus for common tokens.** A term's first token earns its bonus only when its
  id, and the ids of the same token in lower case and capitalised, are all at least
  :data:`COMMON_TOKEN_RANK`. Byte-level BPE numbers its tokens in merge order, which follows
  how often the string occurs in the tokenizer's training text, so the ids below 10,000 are the
  common words and word starts (" a" 257, " in" 287, " right" 826, " high" 1029, " hy" 2537,
  " met" 1138; " Deep" is 10,000 or more, but " deep" is not). A match that starts on such a
  token is still followed (its second token earns the bonus); nothing pushes the common token.
- **Take-back.** A hypothesis that leaves a partial match (a token that does not continue it,
  end of text included) loses the bonus that match was given, so in beam search a beam that
  followed a term's start and then wrote something else ranks as if it never had the bonus.
- **Word boundaries.** A match starts only at a word start: a token with a leading space, or any
  token after a special token or after one that ends in a non-letter (punctuation, a space).
  A completed term keeps its bonus only if the next token starts a new word (a space, a
  punctuation mark, end of text); a letter continuing the word ("morphine" + "s") takes it
  back. "morphine" is never matched inside "hydromorphone": "orph" follows " hydrom".
- **Special tokens** (end of text, timestamps, every id from ``<|endoftext|>`` on) never earn a
  bonus; they carry only the take-back of an unfinished match.

The processor is stateless across steps: each step it reads a hypothesis's tokens since its
last special token and finds its match state (memoized by that token sequence), so it is exact
whatever order beam search puts the beams in.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import LogitsProcessor

from workbench.lexicon import Lexicon

ROOT = 0
# Token ids below this are common words and word starts: no first-token bonus (module doc).
COMMON_TOKEN_RANK = 10_000
# The bonus grows with depth up to this depth.
DEPTH_CAP = 4
# Memoized match states kept before the memo is cleared.
MEMO_LIMIT = 100_000


def depth_scale(depth: int) -> float:
    """The bonus of the token at ``depth`` (1 = first) per unit of boost and term weight."""
    return min(depth, DEPTH_CAP) / 2


def _bytes_to_unicode() -> dict[int, str]:
    """The byte-level BPE alphabet: each byte as the printable character that stands for it."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, map(chr, chars), strict=True))


_BYTE_OF = {c: b for b, c in _bytes_to_unicode().items()}


def _token_text(piece: str | None) -> tuple[bool, str]:
    """(starts with whitespace, the text) of a byte-level BPE token; partial UTF-8 dropped."""
    if not piece:
        return False, ""
    raw = bytes(_BYTE_OF.get(c, 0x3F) for c in piece)
    return raw[:1] in (b" ", b"\n", b"\t"), raw.decode("utf-8", errors="ignore")


@dataclass
class BoostTrie:
    """The terms' token trie and the token classes the processor needs (see module doc).

    Node 0 is the root. ``unit[n]`` is the bonus for entering node ``n`` at boost 1;
    ``terminal[n]`` says a term ends there. Token classes are lists indexed by token id.
    """

    children: list[dict[int, int]]
    unit: list[float]
    terminal: list[bool]
    depth: list[int]
    special_start: int  # every id from here on is a special or timestamp token
    space_led: list[bool]  # starts with a space: may start a match anywhere
    continues_word: list[bool]  # a letter or digit glued to the previous token
    ends_boundary: list[bool]  # a match may start, without a space, after this token
    spaced: bool
    terms: int

    @property
    def nodes(self) -> int:
        return len(self.children)

    def is_special(self, token: int) -> bool:
        return token >= self.special_start or token >= len(self.space_led)

    def start(self, prev: int, token: int) -> int | None:
        """The node a new match enters with ``token`` after ``prev``, or None."""
        child = self.children[ROOT].get(token)
        if child is None:
            return None
        if not self.spaced or self.space_led[token] or self.is_special(prev):
            return child
        return child if self.ends_boundary[prev] else None

    def advance(
        self, state: tuple[int, float], prev: int, token: int
    ) -> tuple[tuple[int, float], float]:
        """One decoding step: the new ``(node, bonus given)`` state and the step's score change,
        both at boost 1. ``prev`` is the token before ``token``."""
        node, given = state
        if node != ROOT:
            child = self.children[node].get(token)
            if child is not None:
                return (child, given + self.unit[child]), self.unit[child]
        delta = 0.0
        if node != ROOT:
            completed = self.terminal[node] and (
                self.is_special(token) or not self.continues_word[token]
            )
            if not completed:
                delta -= given
        child = self.start(prev, token)
        if child is not None:
            return (child, self.unit[child]), delta + self.unit[child]
        return (ROOT, 0.0), delta


def term_forms(term: str, spaced: bool) -> list[str]:
    """The written forms of ``term`` that Whisper may produce (see module doc)."""
    variants = dict.fromkeys([term, term.lower(), term[:1].upper() + term[1:]])
    if not spaced:
        return list(variants)
    return [" " + v for v in variants] + list(variants)


def _encode_all(tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of each text, without special tokens; in one batch."""
    if not texts:
        return []
    backend = getattr(tokenizer, "_tokenizer", None)  # the Rust tokenizer: much faster
    if backend is not None and hasattr(backend, "encode_batch"):
        return [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)]
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def build_trie(terms: Sequence[tuple[str, float]], tokenizer, *, spaced: bool = True) -> BoostTrie:
    """The trie of ``(term, weight)`` pairs in every written form, with the token classes."""
    size = len(tokenizer)
    special_start = min(
        [tokenizer.eos_token_id, *tokenizer.all_special_ids]
        if tokenizer.eos_token_id is not None
        else tokenizer.all_special_ids
    )
    vocab = tokenizer.get_vocab()
    pieces = tokenizer.convert_ids_to_tokens(list(range(size)))
    space_led, continues_word, ends_boundary = [], [], []
    for i, piece in enumerate(pieces):
        if i >= special_start:
            space_led.append(False)
            continues_word.append(False)
            ends_boundary.append(True)
            continue
        space, text = _token_text(piece)
        space_led.append(space)
        # A token that is only part of a character (an empty decoding) glues to its word.
        continues_word.append(not space and (not text or text[0].isalnum()))
        ends_boundary.append(bool(text) and not text[-1].isalnum())
    if not spaced:
        continues_word = [False] * size
        ends_boundary = [True] * size

    @functools.cache
    def common(token: int) -> bool:
        piece = pieces[token] or ""
        lead, core = (piece[:1], piece[1:]) if piece[:1] == "Ġ" else ("", piece)
        variants = (token, vocab.get(lead + core.lower()), vocab.get(lead + core.capitalize()))
        return any(v is not None and v < COMMON_TOKEN_RANK for v in variants)

    children: list[dict[int, int]] = [{}]
    unit, terminal, depth = [0.0], [False], [0]
    forms = [(form, weight) for term, weight in terms for form in term_forms(term, spaced)]
    encoded = _encode_all(tokenizer, [f for f, _ in forms])
    for (_, weight), ids in zip(forms, encoded, strict=True):
        if not ids or any(i >= special_start for i in ids):
            continue
        node = ROOT
        for d, token in enumerate(ids, start=1):
            gain = weight * depth_scale(d)
            if d == 1 and common(token):
                gain = 0.0
            child = children[node].get(token)
            if child is None:
                child = len(children)
                children[node][token] = child
                children.append({})
                unit.append(gain)
                terminal.append(False)
                depth.append(d)
            else:  # shared by several terms: the largest bonus, as NeMo does
                unit[child] = max(unit[child], gain)
            node = child
        terminal[node] = True
    return BoostTrie(
        children=children,
        unit=unit,
        terminal=terminal,
        depth=depth,
        special_start=special_start,
        space_led=space_led,
        continues_word=continues_word,
        ends_boundary=ends_boundary,
        spaced=spaced,
        terms=len(terms),
    )


_TRIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_TRIES_LOCK = threading.Lock()


def lexicon_terms(lexicon: Lexicon) -> tuple[tuple[str, float], ...]:
    """``(term, weight)`` of every term with a positive weight."""
    return tuple((t.term, t.weight) for t in lexicon.terms if t.weight > 0)


def get_trie(lexicon: Lexicon, tokenizer, *, spaced: bool = True) -> BoostTrie:
    """The lexicon's trie for this tokenizer, built on first use and kept while the
    tokenizer lives."""
    key = (lexicon_terms(lexicon), spaced)
    with _TRIES_LOCK:
        per_tokenizer = _TRIES.setdefault(tokenizer, {})
        trie = per_tokenizer.get(key)
        if trie is None:
            trie = build_trie(key[0], tokenizer, spaced=spaced)
            per_tokenizer[key] = trie
        return trie


class LexiconBoost(LogitsProcessor):
    """Adds the trie's bonuses and take-backs to each row's next-token scores (module doc).

    Works on the raw logits of greedy search and the log-probabilities of beam search alike
    (both are compared by adding); rows are hypotheses, in any order. Changes ``scores`` in
    place (``generate`` hands each step a fresh tensor; a new one per step costs more than
    the rest of the processor) and returns it.
    """

    def __init__(self, trie: BoostTrie, boost: float) -> None:
        if boost < 0:
            raise ValueError(f"boost: expected 0 or more, got {boost}")
        self.trie = trie
        self.boost = float(boost)
        self._memo: dict[tuple[int, ...], tuple[int, float]] = {}
        self._tensors: dict[tuple[torch.device, int], tuple] = {}

    def state(self, row: Sequence[int]) -> tuple[int, float]:
        """``(node, bonus given at boost 1)`` of a hypothesis, from its tokens since the last
        special token."""
        trie = self.trie
        k = len(row)
        while k > 0 and not trie.is_special(row[k - 1]):
            k -= 1
        text = tuple(row[k:])
        found = self._memo.get(text)
        if found is not None:
            return found
        if len(self._memo) > MEMO_LIMIT:
            self._memo.clear()
        parent = self._memo.get(text[:-1]) if text else None
        if parent is not None:
            prev = text[-2] if len(text) > 1 else trie.special_start
            found = trie.advance(parent, prev, text[-1])[0]
        else:
            found, prev = (ROOT, 0.0), trie.special_start
            for token in text:
                found = trie.advance(found, prev, token)[0]
                prev = token
        self._memo[text] = found
        return found

    def _device_tensors(self, device: torch.device, width: int) -> tuple:
        key = (device, width)
        if key not in self._tensors:
            trie = self.trie
            n = min(width, len(trie.space_led))
            always, after_boundary = [], []
            for token, child in trie.children[ROOT].items():
                if token >= n or trie.unit[child] == 0:
                    continue
                if not trie.spaced or trie.space_led[token]:
                    always.append((token, trie.unit[child]))
                else:
                    after_boundary.append((token, trie.unit[child]))
            cont = torch.tensor([i for i in range(n) if trie.continues_word[i]], dtype=torch.long)

            def pair(items):
                ids = torch.tensor([t for t, _ in items], dtype=torch.long, device=device)
                vals = torch.tensor([u for _, u in items], dtype=torch.float32, device=device)
                return ids, vals

            self._tensors[key] = (*pair(always), *pair(after_boundary), cont.to(device))
        return self._tensors[key]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.boost == 0:
            return scores
        trie = self.trie
        width = scores.shape[-1]
        rows = input_ids.tolist()
        states = [self.state(r) for r in rows]
        always_ids, always_vals, boundary_ids, boundary_vals, cont = self._device_tensors(
            scores.device, width
        )
        # Continuations replace whatever the dense changes below put on their tokens.
        c_rows, c_cols, c_units = [], [], []
        for i, (node, _) in enumerate(states):
            if node != ROOT:
                for token, child in trie.children[node].items():
                    if token < width:
                        c_rows.append(i)
                        c_cols.append(token)
                        c_units.append(trie.unit[child])
        if c_rows:
            c_rows_t = torch.tensor(c_rows, device=scores.device)
            c_cols_t = torch.tensor(c_cols, device=scores.device)
            kept = scores[c_rows_t, c_cols_t].clone()
        for i, (node, given) in enumerate(states):
            if node == ROOT or not given:
                continue
            if trie.terminal[node]:  # a completed term: taken back only by a glued-on letter
                scores[i, cont] -= given * self.boost
            else:
                scores[i] -= given * self.boost
        if len(always_ids):
            scores[:, always_ids] += always_vals.to(scores.dtype) * self.boost
        if len(boundary_ids):
            after = [
                i
                for i, r in enumerate(rows)
                if not r or trie.is_special(r[-1]) or trie.ends_boundary[r[-1]]
            ]
            if after:
                idx = torch.tensor(after, device=scores.device)
                scores[idx[:, None], boundary_ids[None, :]] += (
                    boundary_vals.to(scores.dtype) * self.boost
                )
        if c_rows:
            units = torch.tensor(c_units, dtype=scores.dtype, device=scores.device)
            scores[c_rows_t, c_cols_t] = kept + units * self.boost
        return scores


def boost_processor(
    lexicon: Lexicon, tokenizer, boost: float, *, spaced: bool = True
) -> LexiconBoost | None:
    """A processor for ``generate(logits_processor=LogitsProcessorList([...]))``, or None when
    ``boost`` is 0 or the lexicon has no term."""
    if boost <= 0 or not len(lexicon):
        return None
    return LexiconBoost(get_trie(lexicon, tokenizer, spaced=spaced), boost)
