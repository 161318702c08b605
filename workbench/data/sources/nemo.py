"""``source: nemo``: a NeMo manifest, one JSON object a line.

``{"audio_filepath", "text", "duration"}`` plus optional ``offset`` (the utterance starts
that many seconds into the file and lasts ``duration``: it is cut out on the fly),
``speaker``/``speaker_id`` and ``lang``. Relative paths are relative to the manifest's
folder. The text key can be renamed with ``text_column`` (e.g. ``pred_text``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from workbench.data.candidates import Candidate, PrepareContext, RowProblem, SourceRows
from workbench.data.sources._files import file_digest, stat_digest
from workbench.data.sources._segments import SegmentCutter, SegmentError
from workbench.fileio import open_regular
from workbench.recipe import ManifestSource, NemoSource


def _rows(path: Path) -> list[tuple[str, dict | str]]:
    """``(origin, row)`` for each line; a line that is not a JSON object gives its reason."""
    out: list[tuple[str, dict | str]] = []
    with open_regular(path, "r", encoding="utf-8-sig", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                out.append((f"{path}:{number}", f"not valid JSON ({exc.msg})"))
                continue
            if not isinstance(row, dict):
                row = f"expected a JSON object, got {type(row).__name__}"
            out.append((f"{path}:{number}", row))
    return out


def _seconds(row: dict, key: str) -> float | None:
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key!r} must be a number of seconds, got {value!r}")
    return float(value)


def prepare_nemo(spec: NemoSource | ManifestSource, ctx: PrepareContext) -> SourceRows:
    """Read a NeMo manifest into candidates, cutting ``offset`` segments out of their files."""
    path = Path(spec.path)
    base = path.resolve().parent
    text_key = getattr(spec, "text_column", None) or "text"
    tag = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    cutter = SegmentCutter(ctx.staging / "audio" / f"nemo_{tag}")
    out = SourceRows()
    for where, row in _rows(path):
        if isinstance(row, str):
            out.problems.append(RowProblem(where, row))
            continue
        raw = row.get("audio_filepath")
        if not isinstance(raw, str) or not raw.strip():
            out.problems.append(RowProblem(where, "missing 'audio_filepath'"))
            continue
        audio = Path(raw.strip()).expanduser()
        audio = audio if audio.is_absolute() else base / audio
        try:
            offset, duration = _seconds(row, "offset"), _seconds(row, "duration")
        except ValueError as exc:
            out.problems.append(RowProblem(where, str(exc)))
            continue
        utt_id = row.get("id") or row.get("utt_id")
        if offset is not None:
            utt_id = utt_id or f"{audio.stem}-{round(offset * 1000):07d}"
            end = offset + duration if duration is not None else None
            try:
                audio = cutter.cut(audio, offset, end, str(utt_id))
            except SegmentError as exc:
                out.problems.append(RowProblem(where, str(exc)))
                continue
        text = row.get(text_key)
        speaker = row.get("speaker", row.get("speaker_id"))
        out.candidates.append(
            Candidate(
                origin=where,
                audio=audio,
                text=text if isinstance(text, str) else None,
                id=str(utt_id) if utt_id else None,
                speaker=str(speaker) if speaker not in (None, "") else None,
                lang=row.get("lang") if isinstance(row.get("lang"), str) else None,
            )
        )
        if spec.limit and len(out.candidates) >= spec.limit:
            break
    return out


def fingerprint_nemo(spec: NemoSource | ManifestSource, ctx: PrepareContext | None = None) -> str:
    path = Path(spec.path)
    base = path.resolve().parent
    audio = []
    for _, row in _rows(path):
        if isinstance(row, dict) and isinstance(row.get("audio_filepath"), str):
            audio.append(base / Path(row["audio_filepath"]).expanduser())
    return file_digest(path) + stat_digest(audio)
