"""``source: audiofolder``: a Hugging Face audiofolder (audio files plus metadata).

``metadata.csv`` or ``metadata.jsonl`` with ``file_name`` and ``transcription`` (or
``text``, ``sentence``, ...; see :mod:`._columns`, or name them with ``audio_column``,
``text_column``, ``speaker_column``), optionally ``speaker``/``speaker_id``, ``id`` and
``lang``. ``file_name`` is relative to the folder and may not leave it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from workbench.data.candidates import (
    Candidate,
    PrepareContext,
    RowProblem,
    SourceError,
    SourceRows,
    inside,
)
from workbench.data.sources._columns import ColumnError, cell, pick_columns
from workbench.data.sources._files import tree_digest
from workbench.fileio import open_regular, read_regular_text
from workbench.recipe import AudioFolderSource, ManifestSource


def _rows(folder: Path) -> tuple[Path, list[str], list[tuple[str, dict]]]:
    """The metadata file, its columns (a JSONL's keys in order of first use) and rows."""
    jsonl, table = folder / "metadata.jsonl", folder / "metadata.csv"
    if jsonl.is_file():
        rows = []
        for number, line in enumerate(read_regular_text(jsonl).splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                row = {"__error__": f"not valid JSON ({exc.msg})"}
            if not isinstance(row, dict):
                row = {"__error__": "expected a JSON object"}
            rows.append((f"{jsonl}:{number}", row))
        header = list(dict.fromkeys(k for _, row in rows for k in row if k != "__error__"))
        return jsonl, header, rows
    with open_regular(table, "r", newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        reader.fieldnames = header
        return table, header, [(f"{table}:{reader.line_num}", dict(row)) for row in reader]


def prepare_audiofolder(
    spec: AudioFolderSource | ManifestSource, ctx: PrepareContext | None = None
) -> SourceRows:
    """Read an audiofolder's metadata into candidates.

    Raises:
        SourceError: the metadata has no usable audio or text column.
    """
    folder = Path(spec.path)
    out = SourceRows()
    if not ((folder / "metadata.csv").is_file() or (folder / "metadata.jsonl").is_file()):
        out.problems.append(RowProblem(str(folder), "no metadata.csv or metadata.jsonl"))
        return out
    meta, header, rows = _rows(folder)
    try:
        cols = pick_columns(header, spec)
    except ColumnError as exc:
        raise SourceError(f"{meta}: {exc}") from None
    for where, row in rows:
        if "__error__" in row:
            out.problems.append(RowProblem(where, row["__error__"]))
            continue
        name = row.get(cols.audio)
        if not isinstance(name, str) or not name.strip():
            out.problems.append(RowProblem(where, f"missing {cols.audio}"))
            continue
        try:
            audio = inside(folder, name.strip())
        except ValueError as exc:
            out.problems.append(RowProblem(where, f"{cols.audio} {exc}"))
            continue
        if audio is None:
            out.problems.append(RowProblem(where, f"{cols.audio} {name!r} points outside {folder}"))
            continue
        text = row.get(cols.text)
        out.candidates.append(
            Candidate(
                origin=where,
                audio=audio,
                text=text if isinstance(text, str) else None,
                id=cell(row, cols.id),
                speaker=cell(row, cols.speaker),
                lang=cell(row, "lang") or cell(row, "language"),
            )
        )
        if spec.limit and len(out.candidates) >= spec.limit:
            break
    return out


def fingerprint_audiofolder(
    spec: AudioFolderSource | ManifestSource, ctx: PrepareContext | None = None
) -> str:
    return tree_digest(Path(spec.path))
