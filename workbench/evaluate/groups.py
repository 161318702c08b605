"""Every figure of a set broken down by part, by voice/speaker and by listening condition.

One good voice can hide a bad one, and a clean half can hide a noisy half: a set whose clips
carry more than one ``speaker`` (for synthetic speech, the voice) or ``condition`` (clean,
``babble 10-15 dB``, telephone) gets a row per group, with its size, for every system. The
groups are scored exactly as the whole set is (same normalizer, same term matching).

A ``part`` (a source's ``part:``, e.g. ``your recordings`` beside ``synthetic held-out``)
says what the clips are: a set gets its parts whenever any clip names one, even a single
part (it labels the set), in the order the sources gave them, clips without one last.
"""

from __future__ import annotations

from collections.abc import Callable

from workbench.data.manifest import Utterance
from workbench.evaluate.metrics import score
from workbench.evaluate.terms import term_false_alarms, term_recall
from workbench.lexicon import Lexicon

GROUP_FIELDS = ("part", "speaker", "condition")
# A report's systems, in the order they are shown (workbench.evaluate.compare imports it).
SYSTEMS = (
    "base",
    "adapted",
    "teacher",
    "adapted_gated",
    "base_prompt",
    "adapted_prompt",
    "base_boost",
    "adapted_boost",
    "adapted_gated_boost",
)
# The systems of a breakdown's text lines: all but the prompted ones, to keep lines short.
LINE_SYSTEMS = tuple(s for s in SYSTEMS if not s.endswith("_prompt"))
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
    own figures), except ``part``, which appears when any clip has one. Clips without the
    field form a group of their own, ``(not given)``.
    """
    out: dict[str, dict[str, dict]] = {}
    for field in GROUP_FIELDS:
        values = [getattr(u, field) or UNKNOWN for u in utts]
        if field == "part":
            if set(values) == {UNKNOWN}:
                continue
            order = sorted(set(values), key=lambda v: (v == UNKNOWN, values.index(v)))
        elif len(set(values)) < 2:
            continue
        else:
            order = sorted(set(values))
        groups: dict[str, dict] = {}
        for value in order:
            picked = [i for i, v in enumerate(values) if v == value]
            refs = [utts[i].text for i in picked]
            row: dict = {"n": len(picked)}
            for system, texts in hyps.items():
                chosen = [texts[i] for i in picked]
                s = score(refs, chosen, normalize, spaced=spaced)
                row["ref_words"] = s.ref_words
                figures: dict = {
                    "wer": round(s.wer, 4),
                    "cer": round(s.cer, 4),
                    "errors": sum(s.errors),
                }
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
            title = {"speaker": "voice/speaker", "part": "part"}.get(field, field)
            lines.append(f"{name} by {title}:")
            width = max(len(v) for v in groups)
            for value, row in groups.items():
                parts = []
                for system in LINE_SYSTEMS:
                    f = row.get(system)
                    if f is None:
                        continue
                    recall = f.get("term_recall")
                    cer = f.get("cer")  # reports written before CER was broken down lack it
                    parts.append(
                        f"{system} WER {f['wer']:.3f}"
                        + ("" if cer is None else f", CER {cer:.3f}")
                        + ("" if recall is None else f", recall {recall:.3f}")
                    )
                lines.append(f"  {value.ljust(width)}  n={row['n']:<4} " + "; ".join(parts))
    return lines


SET_WORDS = {"eval": "held-out set", "general": "general set (everyday speech)"}


def views(report: dict, *, whole_sets: bool = False) -> list[dict]:
    """What a comparison shows, in order: each part of each set (a recipe that lists her
    recordings first gets them first), or the whole set when its clips name no part.

    Each view is ``{"key", "label", "set", "part", "n", "figures"}``: ``key`` picks it
    (``set`` or ``set · part``), ``part`` is None for a whole set, ``figures`` maps each
    system to its figures (``wer``, ``cer``, ``term_recall``, ...). ``whole_sets`` adds,
    after the parts of a set with two or more parts, the set as a whole.
    """
    out = []
    for name, data in report.get("sets", {}).items():
        parts = (data.get("groups") or {}).get("part") or {}
        whole = {
            "key": name,
            "label": f"{SET_WORDS.get(name, name)} ({name})",
            "set": name,
            "part": None,
            "n": data.get("n", len(data.get("utterances", []))),
            "figures": {s: data[s] for s in SYSTEMS if s in data},
        }
        if not parts:
            out.append(whole)
            continue
        for part, row in parts.items():
            shown = f"rest of the {SET_WORDS.get(name, name)}" if part == UNKNOWN else part
            out.append(
                {
                    "key": f"{name} · {part}",
                    "label": f"{shown} ({name})",
                    "set": name,
                    "part": part,
                    "n": row["n"],
                    "figures": {s: row[s] for s in SYSTEMS if s in row},
                }
            )
        if whole_sets and len(parts) > 1:
            out.append({**whole, "label": f"{name}: all {len(parts)} parts together"})
    return out


def in_view(utterances: list[dict], part: str | None) -> list[dict]:
    """The utterances of a view: all of them for a whole set, else those of ``part``."""
    if part is None:
        return utterances
    return [u for u in utterances if (u.get("part") or UNKNOWN) == part]
