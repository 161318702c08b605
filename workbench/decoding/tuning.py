"""Choosing the lexicon boost's strength on data the report does not score.

``lexicon.tune_boost: true`` (or ``workbench eval --tune-boost``) sets a fifth of the eval set
aside as a **dev part**, chosen by carrier sentence (:func:`split_dev`), and decodes it and
a **constraint set** of everyday speech with the adapted model at every strength of
``lexicon.boost_grid``. The constraint set is ``data.general_dev`` when the recipe has one, so
that the general set's reported figures played no part in the choice; else the general set
itself (the report says so). The choice (:func:`choose_boost`) is the strength with the
highest dev term recall among those that keep the constraint set's WER within
:data:`MAX_GENERAL_WER_RISE` (0.5 point) of the same model without the boost and its term
false alarms at most :data:`MAX_FALSE_ALARMS_PER_1K` per 1,000 words (or no more than without
the boost, where that is already above); ties go to the weaker boost. The report then scores
the eval set without its dev part, so that no reported figure was used to choose the
strength, and records the table and the choice as ``report["boost_tuning"]``.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from workbench.data.manifest import Utterance
from workbench.lexicon import Lexicon

# The share of the eval set set aside to choose the strength.
DEV_FRACTION = 0.2
# How far the general set's WER may rise over the same model without the boost (0.5 point).
MAX_GENERAL_WER_RISE = 0.005
# Lexicon terms written where everyday speech has none, per 1,000 of its words.
MAX_FALSE_ALARMS_PER_1K = 1.0
# Float error allowed when comparing WER differences with the limit.
_EPSILON = 1e-9


class TuningError(ValueError):
    """Tuning that cannot run: no lexicon, no general set, an eval set too small to split."""


def carrier_key(text: str, lexicon: Lexicon, *, spaced: bool = True) -> str:
    """The sentence around the terms: ``text`` with each lexicon term masked, in lower case,
    punctuation dropped ("Start Vancomycin now." -> "start {} now")."""
    pieces, last = [], 0
    for start, end in lexicon.spans(text, spaced=spaced):
        pieces += [text[last:start], " {} "]
        last = end
    pieces.append(text[last:])
    words = re.sub(r"[^\w{}]+", " ", "".join(pieces).casefold()).split()
    return " ".join(words) if spaced else "".join(words)


def split_dev(
    utts: Sequence[Utterance],
    lexicon: Lexicon,
    *,
    spaced: bool = True,
    fraction: float = DEV_FRACTION,
) -> tuple[list[Utterance], list[Utterance]]:
    """``(dev, reported)``: about ``fraction`` of ``utts`` for tuning, the rest for the report.

    Whole carrier sentences go to one side (:func:`carrier_key`), so the reported part holds
    no sentence frame the tuning saw. Carriers are taken in the order of their hash until the
    dev part holds its share: the same set always splits the same way. Each part keeps the
    set's order.

    Raises:
        TuningError: the set cannot give both parts a clip (fewer than two carriers).
    """
    groups: dict[str, list[int]] = {}
    for i, utt in enumerate(utts):
        groups.setdefault(carrier_key(utt.text, lexicon, spaced=spaced), []).append(i)
    if len(groups) < 2:
        raise TuningError(
            f"the eval set has {len(utts)} clip(s) in {len(groups)} carrier sentence(s); "
            "tuning the boost needs at least two, one for the dev part and one to report"
        )
    want = max(1, math.ceil(fraction * len(utts)))
    order = sorted(groups, key=lambda k: hashlib.sha256(k.encode("utf-8")).hexdigest())
    dev: set[int] = set()
    for key in order[:-1]:  # the last carrier always stays in the reported part
        if len(dev) >= want:
            break
        dev.update(groups[key])
    return (
        [u for i, u in enumerate(utts) if i in dev],
        [u for i, u in enumerate(utts) if i not in dev],
    )


@dataclass(frozen=True)
class GridPoint:
    """One strength's figures: on the dev part, and on the general set."""

    boost: float
    dev_wer: float
    dev_term_recall: float | None
    general_wer: float
    general_term_false_alarms: int
    general_words: int

    @property
    def false_alarms_per_1k(self) -> float:
        return (
            1000 * self.general_term_false_alarms / self.general_words
            if self.general_words
            else 0.0
        )

    def meets(
        self, baseline: GridPoint, max_wer_rise: float, max_false_alarms_per_1k: float
    ) -> bool:
        """Within both limits: WER rise over ``baseline``, and false alarms per 1,000 words
        (at most the limit, or at most ``baseline``'s where that is already over it)."""
        rise = self.general_wer - baseline.general_wer
        alarms = max(max_false_alarms_per_1k, baseline.false_alarms_per_1k)
        return rise <= max_wer_rise + _EPSILON and self.false_alarms_per_1k <= alarms + _EPSILON

    def as_dict(
        self,
        baseline: GridPoint,
        limit: float,
        max_false_alarms_per_1k: float = MAX_FALSE_ALARMS_PER_1K,
    ) -> dict:
        rise = self.general_wer - baseline.general_wer
        return {
            "boost": self.boost,
            "dev_wer": round(self.dev_wer, 4),
            "dev_term_recall": None
            if self.dev_term_recall is None
            else round(self.dev_term_recall, 4),
            "general_wer": round(self.general_wer, 4),
            "general_wer_rise": round(rise, 4),
            "general_term_false_alarms": self.general_term_false_alarms,
            "general_term_false_alarms_per_1k_words": round(
                1000 * self.general_term_false_alarms / self.general_words, 3
            )
            if self.general_words
            else None,
            "meets_constraint": self.meets(baseline, limit, max_false_alarms_per_1k),
        }


def choose_boost(
    points: Sequence[GridPoint],
    *,
    max_general_wer_rise: float = MAX_GENERAL_WER_RISE,
    max_false_alarms_per_1k: float = MAX_FALSE_ALARMS_PER_1K,
    constraint_set: str = "general",
) -> tuple[float, str]:
    """The chosen strength and why (module doc). ``points`` must hold boost 0: the baseline.

    Raises:
        ValueError: no point at boost 0.
    """
    baseline = next((p for p in points if p.boost == 0), None)
    if baseline is None:
        raise ValueError("choose_boost: the grid needs boost 0, the model without the boost")
    if all(p.dev_term_recall is None for p in points):
        return 0.0, "the dev part holds no lexicon term: nothing to tune on; boost off"
    allowed = [
        p for p in points if p.meets(baseline, max_general_wer_rise, max_false_alarms_per_1k)
    ]  # the baseline is always allowed
    best = max(allowed, key=lambda p: (p.dev_term_recall or 0.0, -p.boost))
    refused = sorted(p.boost for p in points if p not in allowed)
    limit = (
        f"{constraint_set} set's WER within {100 * max_general_wer_rise:g} point of the model "
        f"without the boost and its term false alarms at most {max_false_alarms_per_1k:g} per "
        "1,000 words"
    )
    why = (
        f"highest dev term recall ({best.dev_term_recall or 0.0:.3f}, "
        f"{baseline.dev_term_recall or 0.0:.3f} without the boost) among the strengths keeping "
        f"the {limit}"
    )
    if best.boost == 0:
        why = (
            f"no strength raised the dev term recall ({baseline.dev_term_recall or 0.0:.3f} "
            f"without the boost) while keeping the {limit}; boost off"
        )
    if refused:
        why += f"; refused for the {constraint_set} set: {', '.join(f'{b:g}' for b in refused)}"
    if best.boost > 0 and best.boost == max(p.boost for p in points):
        # The peak may lie beyond the grid: say so rather than let the user read it as one.
        why += (
            f"; {best.boost:g} is the strongest strength tried: a grid reaching higher "
            "(lexicon.boost_grid) may find more"
        )
    return best.boost, why


@dataclass
class BoostTuning:
    """The outcome of tuning: the table, the choice, and the parts the eval set was split in."""

    points: list[GridPoint]
    chosen: float
    why: str
    dev_ids: list[str]
    reported_n: int
    max_general_wer_rise: float = MAX_GENERAL_WER_RISE
    system: str = "adapted"
    notes: list[str] = field(default_factory=list)
    constraint_set: str = "general"  # or "general_dev"
    max_false_alarms_per_1k: float = MAX_FALSE_ALARMS_PER_1K

    def as_dict(self) -> dict:
        """``report["boost_tuning"]``."""
        baseline = next(p for p in self.points if p.boost == 0)
        return {
            "system": self.system,
            "grid": [p.boost for p in self.points],
            "constraint": {
                "set": self.constraint_set,
                "max_wer_rise": self.max_general_wer_rise,
                "max_false_alarms_per_1k_words": self.max_false_alarms_per_1k,
                "over": f"{self.system} without the boost",
            },
            "dev": {
                "n": len(self.dev_ids),
                "ids": self.dev_ids,
                "split": f"about {DEV_FRACTION:.0%} of the eval set, whole carrier sentences "
                "(the reference with its terms masked), in the order of their hash",
            },
            "reported_n": self.reported_n,
            "table": [
                p.as_dict(baseline, self.max_general_wer_rise, self.max_false_alarms_per_1k)
                for p in self.points
            ],
            "chosen": self.chosen,
            "why": self.why,
            "note": f"The eval set's figures in this report are on the other {self.reported_n} "
            f"clips only; the {len(self.dev_ids)} dev clips chose the strength and are not "
            "scored. "
            + (
                "The constraint was held on data.general_dev: the general set's figures played "
                "no part in the choice."
                if self.constraint_set == "general_dev"
                else "The general set served both the constraint and the report (give "
                "data.general_dev to keep them apart)."
            ),
        }


def check_tunable(
    sets: dict[str, list[Utterance]], lexicon: Lexicon | None, *, spaced: bool = True
) -> tuple[list[Utterance], list[Utterance]]:
    """The eval set's ``(dev, reported)`` parts, once ``sets`` and ``lexicon`` are shown fit
    for tuning (cheap: no model; ``workbench run`` checks before it trains).

    Raises:
        TuningError: no lexicon, no eval or general set, or an eval set too small to split.
    """
    if lexicon is None or not len(lexicon):
        raise TuningError("tuning the boost needs a lexicon (lexicon.path or a domain pack)")
    missing = [name for name in ("eval", "general") if not sets.get(name)]
    if sets.get("general_dev") and "general" in missing:
        missing.remove("general")  # general_dev holds the constraint
    if missing:
        raise TuningError(
            f"tuning the boost needs the recipe's eval and general sets; it has no "
            f"{' and no '.join(missing)} set (the general set holds the WER constraint)"
        )
    return split_dev(sets["eval"], lexicon, spaced=spaced)


def tune_boost(
    loaded,
    options,
    sets: dict[str, list[Utterance]],
    lexicon: Lexicon | None,
    normalize: Callable[[str], str],
    spaced: bool,
    *,
    grid: Sequence[float],
    batch_size: int = 8,
    max_general_wer_rise: float = MAX_GENERAL_WER_RISE,
    max_false_alarms_per_1k: float = MAX_FALSE_ALARMS_PER_1K,
    log: Callable[[str], None] = print,
    near_miss: float = 0.0,
) -> tuple[BoostTuning, dict[str, list[Utterance]]]:
    """Tune the boost for ``loaded`` as it stands (the adapter active) and return the tuning
    and ``sets`` with the dev part taken out of ``eval`` (module doc). ``sets["general_dev"]``,
    when given, holds the constraint (and is not returned); else ``sets["general"]``. With
    ``near_miss`` above 0 every strength, 0 included, is scored after the near-miss rewrite
    (``lexicon.near_miss``), as the report scores it; else strength 0 is scored as decoded.

    Raises:
        TuningError: no lexicon, no eval or general set, or an eval set too small to split.
    """
    from workbench.audio import load_audio
    from workbench.decoding.boost import boost_processor
    from workbench.decoding.snap import lexicon_rewriter
    from workbench.evaluate.metrics import score
    from workbench.evaluate.terms import term_false_alarms, term_recall
    from workbench.transcribe import EncoderCache, Transcriber

    dev, reported = check_tunable(sets, lexicon, spaced=spaced)
    constraint_name = "general_dev" if sets.get("general_dev") else "general"
    constraint = sets[constraint_name]
    values = sorted({0.0, *map(float, grid)})
    log(
        f"tuning the boost over {', '.join(f'{v:g}' for v in values)} on {len(dev)} dev clips "
        f"of the eval set (reported: the other {len(reported)}) and {len(constraint)} "
        f"{constraint_name} clips"
    )
    tokenizer = loaded.processor.tokenizer
    rewriter = lexicon_rewriter(lexicon, tokenizer, spaced=spaced, near_miss=near_miss)
    texts: dict[str, dict[float, list[str]]] = {}
    for name, utts in (("dev", dev), ("general", constraint)):
        audio = [load_audio(u.audio) for u in utts]
        cache = EncoderCache()  # one encoder pass per clip: only the decoding bonus changes
        texts[name] = {}
        for value in values:
            processor = boost_processor(lexicon, tokenizer, value, spaced=spaced)
            transcriber = Transcriber(
                loaded,
                options,
                batch_size=batch_size,
                logits_processor=[processor] if processor is not None else (),
            )
            out = transcriber.transcribe_arrays(audio, cache)
            texts[name][value] = [rewriter(t) for t in out] if value or near_miss else out
        log(f"tuning: {name} decoded at {len(values)} strengths")
    dev_refs = [u.text for u in dev]
    general_refs = [u.text for u in constraint]
    points = []
    for value in values:
        dev_score = score(dev_refs, texts["dev"][value], normalize, spaced=spaced)
        recall = term_recall(dev_refs, texts["dev"][value], lexicon, normalize, spaced=spaced)
        general = texts["general"][value]
        general_score = score(general_refs, general, normalize, spaced=spaced)
        alarms = term_false_alarms(general_refs, general, lexicon, normalize, spaced=spaced)
        points.append(
            GridPoint(
                boost=value,
                dev_wer=dev_score.wer,
                dev_term_recall=recall.recall,
                general_wer=general_score.wer,
                general_term_false_alarms=alarms.false_alarms,
                general_words=general_score.ref_words,
            )
        )
    chosen, why = choose_boost(
        points,
        max_general_wer_rise=max_general_wer_rise,
        max_false_alarms_per_1k=max_false_alarms_per_1k,
        constraint_set=constraint_name,
    )
    log(f"tuning: boost {chosen:g}: {why}")
    tuning = BoostTuning(
        points=points,
        chosen=chosen,
        why=why,
        dev_ids=[u.id for u in dev],
        reported_n=len(reported),
        max_general_wer_rise=max_general_wer_rise,
        constraint_set=constraint_name,
        max_false_alarms_per_1k=max_false_alarms_per_1k,
    )
    kept = {name: utts for name, utts in sets.items() if name != "general_dev"}
    return tuning, {**kept, "eval": reported}
