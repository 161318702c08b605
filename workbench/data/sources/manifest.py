"""``source: manifest``: a JSONL manifest, or any other manifest form DESIGN.md accepts.

A folder with ``metadata.csv``/``metadata.jsonl`` is read as an audiofolder, a folder
written by ``datasets.save_to_disk`` as such a dataset, and a ``.csv`` file as a CSV table.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from workbench.data.candidates import Candidate, PrepareContext, RowProblem, SourceRows
from workbench.data.manifest import ManifestError, parse_manifest_line
from workbench.data.sources._files import file_digest, stat_digest
from workbench.fileio import open_regular, read_regular_text
from workbench.recipe import ManifestSource


def manifest_kind(path: Path) -> str:
    """Which reader a manifest path needs: manifest, audiofolder, hf_disk or csv."""
    if path.is_dir():
        if (path / "metadata.csv").is_file() or (path / "metadata.jsonl").is_file():
            return "audiofolder"
        if (path / "dataset_info.json").is_file() or (path / "state.json").is_file():
            return "hf_disk"
        return "unknown folder"
    return "csv" if path.suffix.lower() == ".csv" else "manifest"


def _other_form(path: Path) -> tuple[Callable, Callable] | None:
    """(prepare, fingerprint) of the reader for a non-JSONL manifest form, else None."""
    from workbench.data.sources import audiofolder, csv_table, hf_disk

    return {
        "audiofolder": (audiofolder.prepare_audiofolder, audiofolder.fingerprint_audiofolder),
        "hf_disk": (hf_disk.prepare_hf_disk, hf_disk.fingerprint_hf_disk),
        "csv": (csv_table.prepare_csv, csv_table.fingerprint_csv),
    }.get(manifest_kind(path))


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
                "folder is not a manifest: expected metadata.csv/metadata.jsonl (audiofolder) "
                "or a datasets.save_to_disk folder",
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
