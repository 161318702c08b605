"""``source: csv``: a CSV table with an audio-path column and a text column.

Audio paths are relative to the CSV file's folder, or absolute.
"""

from __future__ import annotations

import csv
from pathlib import Path

from workbench.data.candidates import Candidate, PrepareContext, RowProblem, SourceRows
from workbench.data.sources._files import file_digest, stat_digest
from workbench.fileio import open_regular
from workbench.recipe import CsvSource, ManifestSource


def _columns(spec: CsvSource | ManifestSource) -> tuple[str, str]:
    return getattr(spec, "audio_column", "audio"), getattr(spec, "text_column", "text")


def prepare_csv(spec: CsvSource | ManifestSource, ctx: PrepareContext | None = None) -> SourceRows:
    """Read a CSV table into candidates; a missing column stops the source with a problem."""
    path = Path(spec.path)
    audio_col, text_col = _columns(spec)
    out = SourceRows()
    base = path.resolve().parent
    with open_regular(path, "r", newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in (audio_col, text_col) if c not in header]
        if missing:
            out.problems.append(
                RowProblem(f"{path}:1", f"no column {', '.join(map(repr, missing))}; has {header}")
            )
            return out
        for row in reader:
            where = f"{path}:{reader.line_num}"
            raw = (row.get(audio_col) or "").strip()
            if not raw:
                out.problems.append(RowProblem(where, f"empty {audio_col!r}"))
                continue
            audio = Path(raw).expanduser()
            out.candidates.append(
                Candidate(
                    origin=where,
                    audio=audio if audio.is_absolute() else base / audio,
                    text=row.get(text_col),
                    id=row.get("id") or None,
                    speaker=row.get("speaker") or None,
                )
            )
            if spec.limit and len(out.candidates) >= spec.limit:
                break
    return out


def fingerprint_csv(spec: CsvSource | ManifestSource, ctx: PrepareContext | None = None) -> str:
    path = Path(spec.path)
    audio_col, _ = _columns(spec)
    base = path.resolve().parent
    with open_regular(path, "r", newline="", encoding="utf-8", errors="replace") as f:
        audio = [base / (r.get(audio_col) or "") for r in csv.DictReader(f)]
    return file_digest(path) + stat_digest(audio)
