"""``source: manifest``: a JSONL manifest, or any other form it recognises by its shape.

A folder: with ``wav.scp``, a Kaldi data directory; with ``metadata.csv``/``metadata.jsonl``,
an audiofolder; written by ``datasets.save_to_disk``, such a dataset; with ``*.tsv`` and
``clips/``, a Common Voice release; with ``*.trans.txt`` under it, LibriSpeech. A file:
``.csv``, a CSV table; ``.tsv``, a Common Voice TSV when it has ``path`` and ``sentence``
columns, else a TSV table; JSON Lines with ``audio_filepath``, a NeMo manifest; other JSON
Lines, the workbench's own manifest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from workbench.data.candidates import Candidate, PrepareContext, RowProblem, SourceRows
from workbench.data.manifest import ManifestError, parse_manifest_line
from workbench.data.sources._files import file_digest, stat_digest
from workbench.fileio import open_regular, read_regular_text
from workbench.recipe import ManifestSource

KINDS = (
    "manifest",
    "audiofolder",
    "hf_disk",
    "csv",
    "kaldi",
    "common_voice",
    "librispeech",
    "nemo",
)


def _first_json(path: Path) -> dict | None:
    """The first line of a JSON Lines file as an object, if it is one."""
    try:
        with open_regular(path, "r", encoding="utf-8-sig", errors="replace") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    return row if isinstance(row, dict) else None
    except (OSError, json.JSONDecodeError):
        return None
    return None


def _tsv_header(path: Path) -> list[str]:
    try:
        with open_regular(path, "r", encoding="utf-8-sig", errors="replace") as f:
            return [c.strip() for c in f.readline().rstrip("\r\n").split("\t")]
    except OSError:
        return []


def manifest_kind(path: Path) -> str:
    """Which reader a manifest path needs: one of :data:`KINDS`, or ``unknown folder``."""
    if path.is_dir():
        if (path / "wav.scp").is_file():
            return "kaldi"
        if (path / "metadata.csv").is_file() or (path / "metadata.jsonl").is_file():
            return "audiofolder"
        saved = ("dataset_info.json", "state.json", "dataset_dict.json")
        if any((path / n).is_file() for n in saved):
            return "hf_disk"
        if (path / "clips").is_dir() and any(path.glob("*.tsv")):
            return "common_voice"
        if next(path.rglob("*.trans.txt"), None) is not None:
            return "librispeech"
        return "unknown folder"
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".tsv":
        header = _tsv_header(path)
        return "common_voice" if {"path", "sentence"} <= set(header) else "csv"
    first = _first_json(path)
    if first is not None and "audio_filepath" in first:
        return "nemo"
    return "manifest"


def _other_form(path: Path) -> tuple[Callable, Callable] | None:
    """(prepare, fingerprint) of the reader for a non-JSONL manifest form, else None."""
    from workbench.data.sources import FINGERPRINTS, PREPARERS

    kind = manifest_kind(path)
    if kind in ("manifest", "unknown folder"):
        return None
    return PREPARERS[kind], FINGERPRINTS[kind]


def prepare_manifest(spec: ManifestSource, ctx: PrepareContext) -> SourceRows:
    """Read a manifest (any accepted form) into candidates; bad lines become problems."""
    path = Path(spec.path)
    if other := _other_form(path):
        return other[0](spec, ctx)
    out = SourceRows()
    if path.is_dir():
        out.problems.append(
            RowProblem(
                str(path),
                "folder is not a manifest: expected a Kaldi data directory (wav.scp), an "
                "audiofolder (metadata.csv/metadata.jsonl), a datasets.save_to_disk folder, a "
                "Common Voice folder (clips/ and *.tsv) or LibriSpeech folders (*.trans.txt)",
            )
        )
        return out
    base = path.resolve().parent
    with open_regular(path, "r", encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                utt = parse_manifest_line(line, where, base)
            except ManifestError as exc:
                out.problems.append(RowProblem(where, str(exc).removeprefix(f"{where}: ")))
                continue
            out.candidates.append(
                Candidate(
                    origin=where,
                    audio=Path(utt.audio),
                    text=utt.text,
                    id=utt.id,
                    speaker=utt.speaker,
                    lang=utt.lang,
                    domain=utt.domain,
                    condition=utt.condition,
                    part=utt.part,
                )
            )
            if spec.limit and len(out.candidates) >= spec.limit:
                break
    return out


def fingerprint_manifest(spec: ManifestSource, ctx: PrepareContext | None = None) -> str:
    path = Path(spec.path)
    if other := _other_form(path):
        return other[1](spec, ctx)
    base = path.resolve().parent
    audio = []
    for line in read_regular_text(path, errors="replace").splitlines():
        try:
            audio.append(Path(parse_manifest_line(line, "", base).audio))
        except ManifestError:
            continue
    return file_digest(path) + stat_digest(audio)
