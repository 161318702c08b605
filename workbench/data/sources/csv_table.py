"""``source: csv``: a CSV or TSV table with an audio-path column and a text column.

The columns are recognised by their usual names (see :mod:`._columns`) or named in the recipe
(``audio_column``, ``text_column``, ``speaker_column``). A ``.tsv`` file (or a header with
tabs) is read as tab-separated, without quoting, as Common Voice writes it. Audio paths are
relative to the table's folder, or absolute.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workbench.data.candidates import (
    Candidate,
    PrepareContext,
    RowProblem,
    SourceError,
    SourceRows,
)
from workbench.data.sources._columns import ColumnError, cell, pick_columns
from workbench.data.sources._files import file_digest, stat_digest
from workbench.fileio import open_regular
from workbench.recipe import CsvSource, ManifestSource


def _is_tsv(path: Path, first_line: str) -> bool:
    if path.suffix.lower() == ".tsv":
        return True
    return path.suffix.lower() != ".csv" and "\t" in first_line


@contextmanager
def read_table(path: Path) -> Iterator[tuple[list[str], Iterator[tuple[int, dict[str, str]]]]]:
    """Open a CSV/TSV table: its header, and its rows as ``(line number, {column: value})``.

    Rows are read lazily, so a caller that wants the first few reads only those.
    """
    with open_regular(path, "r", newline="", encoding="utf-8-sig", errors="replace") as f:
        first = f.readline()
        f.seek(0)
        if _is_tsv(path, first):
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        else:
            reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        yield header, ((reader.line_num, row) for row in reader)


def table_candidates(
    path: Path, spec: object, limit: int | None, audio_base: Path | None = None
) -> SourceRows:
    """Candidates from a table.

    Raises:
        SourceError: the header has no usable audio or text column.
    """
    out = SourceRows()
    base = audio_base or path.resolve().parent
    with read_table(path) as (header, rows):
        try:
            cols = pick_columns(header, spec)
        except ColumnError as exc:
            raise SourceError(f"{path}:1: {exc}") from None
        try:
            read = list(_rows_upto(rows, limit, cols.audio))
        except csv.Error as exc:
            raise SourceError(f"{path}: not a readable table ({exc})") from None
        for line, row in read:
            where = f"{path}:{line}"
            raw = cell(row, cols.audio)
            if raw is None:
                out.problems.append(RowProblem(where, f"empty {cols.audio!r}"))
                continue
            audio = Path(raw).expanduser()
            out.candidates.append(
                Candidate(
                    origin=where,
                    audio=audio if audio.is_absolute() else base / audio,
                    text=row.get(cols.text),
                    id=cell(row, cols.id),
                    speaker=cell(row, cols.speaker),
                    lang=cell(row, "lang") or cell(row, "locale"),
                )
            )
    return out


def _rows_upto(
    rows: Iterator[tuple[int, dict[str, str]]], limit: int | None, audio: str
) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows up to the ``limit``-th with an audio path (rows without one do not count)."""
    kept = 0
    for line, row in rows:
        yield line, row
        kept += cell(row, audio) is not None
        if limit and kept >= limit:
            return


def prepare_csv(spec: CsvSource | ManifestSource, ctx: PrepareContext | None = None) -> SourceRows:
    """Read a CSV/TSV table into candidates (see :func:`table_candidates`)."""
    return table_candidates(Path(spec.path), spec, spec.limit)


def fingerprint_csv(spec: CsvSource | ManifestSource, ctx: PrepareContext | None = None) -> str:
    path = Path(spec.path)
    rows = table_candidates(path, spec, None)
    return file_digest(path) + stat_digest(c.audio for c in rows.candidates if c.audio)
