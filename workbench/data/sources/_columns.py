"""Which columns of a table hold the audio, the text and the speaker.

Tools name them differently (Hugging Face ``file_name``/``transcription``, Common Voice
``path``/``sentence``/``client_id``, NeMo ``audio_filepath``/``text``): the first name of
each list found in the header is used, unless the recipe names the column itself
(``audio_column``, ``text_column``, ``speaker_column``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

AUDIO_NAMES = ("file_name", "audio_filepath", "path", "audio", "wav", "audio_path", "filename")
TEXT_NAMES = ("text", "transcription", "sentence", "transcript", "normalized_text")
SPEAKER_NAMES = ("speaker", "speaker_id", "client_id")
ID_NAMES = ("id", "utt_id", "utterance_id")


class ColumnError(ValueError):
    """A header without a usable audio or text column; the message says what to set."""


@dataclass(frozen=True)
class Columns:
    """The header's audio, text, speaker and id columns (the last two may be absent)."""

    audio: str
    text: str
    speaker: str | None
    id: str | None


def _named(spec: object, name: str) -> str | None:
    value = getattr(spec, name, None)
    return value if isinstance(value, str) and value else None


def pick_columns(header: Sequence[str], spec: object) -> Columns:
    """The columns to read from ``header``: named by ``spec`` or recognised by name.

    Raises:
        ColumnError: a named column is not in the header, or no audio or text column is
            recognised; the message lists the header and the recipe key that fixes it.
    """
    present = [h for h in header if h]
    problems, unnamed = [], []
    chosen: dict[str, str | None] = {}
    for role, names in (
        ("audio", AUDIO_NAMES),
        ("text", TEXT_NAMES),
        ("speaker", SPEAKER_NAMES),
        ("id", ID_NAMES),
    ):
        key = f"{role}_column"
        named = _named(spec, key)
        if named is not None:
            if named not in present:
                problems.append(f"{key} {named!r} is not a column")
            chosen[role] = named
            continue
        chosen[role] = next((n for n in names if n in present), None)
        if chosen[role] is None and role in ("audio", "text"):
            problems.append(f"no {role} column (looked for {', '.join(names)})")
            unnamed.append(key)
    if problems:
        fix = f"; set {' and '.join(unnamed)} in the source" if unnamed else ""
        raise ColumnError(f"{'; '.join(problems)}; the header has {present}{fix}")
    return Columns(
        audio=str(chosen["audio"]),
        text=str(chosen["text"]),
        speaker=chosen["speaker"],
        id=chosen["id"],
    )


def cell(row: dict, column: str | None) -> str | None:
    """A row's value in ``column`` as stripped text, or None when absent or empty."""
    if column is None:
        return None
    value = row.get(column)
    if value is None:
        return None
    text = str(value).strip()
    return text or None
