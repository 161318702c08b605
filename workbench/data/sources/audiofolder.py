"""``source: audiofolder``: a Hugging Face audiofolder (audio files plus metadata).

``metadata.csv`` or ``metadata.jsonl`` with ``file_name`` and ``transcription`` (or
``text``), optionally ``speaker``/``speaker_id``, ``id`` and ``lang``. ``file_name`` is
relative to the folder and may not leave it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from workbench.data.candidates import Candidate, PrepareContext, RowProblem, SourceRows, inside
from workbench.data.sources._files import tree_digest
from workbench.fileio import open_regular, read_regular_text
from workbench.recipe import AudioFolderSource, ManifestSource

TEXT_KEYS = ("transcription", "text", "sentence")
SPEAKER_KEYS = ("speaker", "speaker_id", "client_id")


def _rows(folder: Path) -> list[tuple[str, dict]]:
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
        return rows
    with open_regular(table, "r", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return [(f"{table}:{reader.line_num}", dict(row)) for row in reader]


def prepare_audiofolder(
    spec: AudioFolderSource | ManifestSource, ctx: PrepareContext | None = None
) -> SourceRows:
    """Read an audiofolder's metadata into candidates."""
    folder = Path(spec.path)
    out = SourceRows()
    if not ((folder / "metadata.csv").is_file() or (folder / "metadata.jsonl").is_file()):
        out.problems.append(RowProblem(str(folder), "no metadata.csv or metadata.jsonl"))
        return out
    for where, row in _rows(folder):
        if "__error__" in row:
            out.problems.append(RowProblem(where, row["__error__"]))
            continue
        name = row.get("file_name")
        if not isinstance(name, str) or not name.strip():
            out.problems.append(RowProblem(where, "missing file_name"))
            continue
        audio = inside(folder, name)
        if audio is None:
            out.problems.append(RowProblem(where, f"file_name {name!r} points outside {folder}"))
            continue
        text = next((row[k] for k in TEXT_KEYS if row.get(k) is not None), None)
        speaker = next((str(row[k]) for k in SPEAKER_KEYS if row.get(k)), None)
        out.candidates.append(
            Candidate(
                origin=where,
                audio=audio,
                text=text if isinstance(text, str) else None,
                id=str(row["id"]) if row.get("id") else None,
                speaker=speaker,
                lang=row.get("lang") or row.get("language"),
            )
        )
        if spec.limit and len(out.candidates) >= spec.limit:
            break
    return out


def fingerprint_audiofolder(
    spec: AudioFolderSource | ManifestSource, ctx: PrepareContext | None = None
) -> str:
    return tree_digest(Path(spec.path))
