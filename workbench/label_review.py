"""A person's review of a teacher's pseudo-labels (the folder ``workbench label`` wrote).

``labels.jsonl`` stays the teacher's own output. A review is a decision per clip, accept
(with the text as the person left it) or reject, kept in ``review.json``; saving one rewrites
``kept.jsonl``, the manifest to train on: the clips the thresholds kept, less those
rejected, plus those accepted that the thresholds had dropped. An accepted clip becomes
ordinary labelled data: its text as reviewed, ``label_source: reviewed``. No gradio here: the
UI's review page calls these functions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from workbench.data.manifest import Utterance, read_manifest, write_manifest
from workbench.fileio import write_text_atomic
from workbench.label import KEPT, LABELS, SUMMARY, LabelError

REVIEW = "review.json"


@dataclass(frozen=True)
class Decision:
    """A person's verdict on one clip: ``text`` is the transcript as accepted (edited or
    not); None with ``accept`` False."""

    accept: bool
    text: str | None = None

    def __post_init__(self) -> None:
        if self.accept and not (self.text or "").strip():
            raise ValueError("an accepted clip needs its transcript (reject it instead)")


@dataclass(frozen=True)
class ReviewRow:
    """One clip as the review page shows it."""

    utterance: Utterance  # the teacher's
    kept: bool  # by the thresholds
    reasons: tuple[str, ...]  # why the thresholds dropped it
    decision: Decision | None


def _summary(folder: Path) -> dict:
    try:
        summary = json.loads((folder / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LabelError(f"{folder}: not a folder written by `workbench label` ({exc})") from None
    if not isinstance(summary, dict) or summary.get("written_by") != "workbench label":
        raise LabelError(f"{folder}: not a folder written by `workbench label`")
    return summary


def load_decisions(folder: str | Path) -> dict[str, Decision]:
    """The decisions saved so far (none before the first review).

    Raises:
        LabelError: ``review.json`` is damaged.
    """
    path = Path(folder) / REVIEW
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {
            str(k): Decision(bool(v["accept"]), v.get("text")) for k, v in data["decisions"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LabelError(f"{path}: cannot be read ({exc}); move it away to start again") from None


def review_rows(folder: str | Path) -> list[ReviewRow]:
    """Every pseudo-label with its decision, least confident first (lowest mean
    log-probability): where a person's time does most good.

    Raises:
        LabelError: not a folder written by ``workbench label``.
    """
    folder = Path(folder)
    summary = _summary(folder)
    dropped = {d["id"]: tuple(d["reasons"]) for d in summary.get("dropped_clips", [])}
    decisions = load_decisions(folder)
    rows = [
        ReviewRow(u, u.id not in dropped, dropped.get(u.id, ()), decisions.get(u.id))
        for u in read_manifest(folder / LABELS)
    ]
    return sorted(rows, key=lambda r: (r.utterance.confidence or {}).get("avg_logprob", 0.0))


def save_review(folder: str | Path, decisions: dict[str, Decision]) -> list[Utterance]:
    """Record ``decisions`` (added to those saved before; a clip decided again takes the new
    one) and rewrite ``kept.jsonl``; returns what it now holds.

    Raises:
        LabelError: not a label folder, or a decision for a clip it does not hold.
    """
    folder = Path(folder)
    rows = review_rows(folder)
    known = {r.utterance.id for r in rows}
    unknown = sorted(set(decisions) - known)
    if unknown:
        raise LabelError(f"{folder}: no clip {unknown[0]!r} among the pseudo-labels")
    merged = {**load_decisions(folder), **decisions}
    kept: list[Utterance] = []
    for row in sorted(rows, key=lambda r: r.utterance.id):
        decision = merged.get(row.utterance.id)
        if decision is None:
            if row.kept:
                kept.append(row.utterance)
        elif decision.accept:
            text = " ".join((decision.text or "").split())
            kept.append(replace(row.utterance, text=text, label_source="reviewed"))
    order = {u.id: i for i, u in enumerate(read_manifest(folder / LABELS))}
    kept.sort(key=lambda u: order[u.id])
    data = {
        "decisions": {k: {"accept": d.accept, "text": d.text} for k, d in sorted(merged.items())},
        "accepted": sum(d.accept for d in merged.values()),
        "rejected": sum(not d.accept for d in merged.values()),
    }
    write_text_atomic(folder / REVIEW, json.dumps(data, indent=2, ensure_ascii=False))
    write_manifest(folder / KEPT, kept)
    return kept
