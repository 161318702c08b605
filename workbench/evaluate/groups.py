"""Every figure of a set broken down by voice/speaker and by listening condition.

One good voice can hide a bad one, and a clean half can hide a noisy half: a set whose clips
carry more than one ``speaker`` (for synthetic speech, the voice) or ``condition`` (clean,
``babble 10-15 dB``, telephone) gets a row per group, with its size, for every system. The
groups are scored exactly as the whole set is (same normalizer, same term matching).
"""

from __future__ import annotations

from collections.abc import Callable

from workbench.data.manifest import Utterance
from workbench.evaluate.metrics import score
from workbench.evaluate.terms import term_false_alarms, term_recall
from workbench.lexicon import Lexicon

GROUP_FIELDS = ("speaker", "condition")
UNKNOWN = "(not given)"


def group_figures(
    utts: list[Utterance],
    hyps: dict[str, list[str]],
    normalize: Callable[[str], str],
    lexicon: Lexicon | None,
    spaced: bool,
) -> dict[str, dict[str, dict]]:
    """``{field: {value: {"n", "ref_words", system: {"wer", "term_recall", ...}}}}``.

    Only fields with at least two distinct values appear (one group would repeat the set's
    own figures). Clips without the field form a group of their own, ``(not given)``.
    """
    out: dict[str, dict[str, dict]] = {}
    for field in GROUP_FIELDS:
        values = [getattr(u, field) or UNKNOWN for u in utts]
        if len(set(values)) < 2:
            continue
        groups: dict[str, dict] = {}
        for value in sorted(set(values)):
            picked = [i for i, v in enumerate(values) if v == value]
            refs = [utts[i].text for i in picked]
            row: dict = {"n": len(picked)}
            for system, texts in hyps.items():
                chosen = [texts[i] for i in picked]
                s = score(refs, chosen, normalize, spaced=spaced)
                row["ref_words"] = s.ref_words
                figures: dict = {"wer": round(s.wer, 4), "errors": sum(s.errors)}
                if lexicon is not None:
                    recall = term_recall(refs, chosen, lexicon, normalize, spaced=spaced)
                    alarms = term_false_alarms(refs, chosen, lexicon, normalize, spaced=spaced)
                    figures["term_recall"] = (
                        None if recall.recall is None else round(recall.recall, 4)
                    )
                    figures["terms"] = recall.total
                    figures["term_false_alarms"] = alarms.false_alarms
                row[system] = figures
            groups[value] = row
        out[field] = groups
    return out


def group_lines(report: dict) -> list[str]:
    """The breakdown as plain-text lines: per set and field, one line per group with n,
    base and adapted WER and term recall (and the teacher, the gated and the boosted systems
    where present)."""
    lines = []
    for name, data in report["sets"].items():
        for field, groups in (data.get("groups") or {}).items():
            lines.append(f"{name} by {'voice/speaker' if field == 'speaker' else field}:")
            width = max(len(v) for v in groups)
            for value, row in groups.items():
                parts = []
                for system in (
                    "base",
                    "adapted",
                    "teacher",
                    "adapted_gated",
                    "base_boost",
                    "adapted_boost",
                ):
                    f = row.get(system)
                    if f is None:
                        continue
                    recall = f.get("term_recall")
                    parts.append(
                        f"{system} WER {f['wer']:.3f}"
                        + ("" if recall is None else f", recall {recall:.3f}")
                    )
                lines.append(f"  {value.ljust(width)}  n={row['n']:<4} " + "; ".join(parts))
    return lines
