"""``source: hf_disk``: a dataset written by ``datasets.Dataset.save_to_disk``.

Audio is read without ``datasets``' decoder (which needs torchcodec): the column is cast to
``Audio(decode=False)``, and embedded bytes are written to the staging folder. The audio
column is the one of type ``Audio`` (or a usual name); text and speaker columns are
recognised by name (see :mod:`._columns`) unless the recipe names them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from workbench.data.candidates import (
    Candidate,
    PrepareContext,
    RowProblem,
    SourceError,
    SourceRows,
)
from workbench.data.sources._columns import ColumnError, Columns, cell, pick_columns
from workbench.data.sources._files import tree_digest
from workbench.recipe import DiskDatasetSource, ManifestSource


def dataset_columns(data: Any, spec: object, where: str) -> Columns:
    """The audio, text, speaker and id columns of a ``datasets.Dataset``.

    Raises:
        SourceError: no usable audio or text column (the message lists the columns).
    """
    import datasets

    names = list(data.column_names)
    header = names
    if not getattr(spec, "audio_column", None):
        typed = [n for n in names if isinstance(data.features[n], datasets.Audio)]
        if typed:  # the Audio-typed column first, whatever its name
            header = [typed[0], *[n for n in names if n != typed[0]]]
            spec = _WithAudio(spec, typed[0])
    try:
        return pick_columns(header, spec)
    except ColumnError as exc:
        raise SourceError(f"{where}: {exc}") from None


class _WithAudio:
    """``spec`` seen with ``audio_column`` set."""

    def __init__(self, spec: object, audio: str) -> None:
        self._spec, self.audio_column = spec, audio

    def __getattr__(self, name: str) -> Any:
        return getattr(self._spec, name)


def dataset_candidates(
    data: Any, spec: object, ctx: PrepareContext, where: str, base: Path | None
) -> SourceRows:
    """Candidates from a ``datasets.Dataset`` (linked audio paths, or embedded bytes)."""
    import datasets

    cols = dataset_columns(data, spec, where)
    if isinstance(data.features[cols.audio], datasets.Audio):
        data = data.cast_column(cols.audio, datasets.Audio(decode=False))
    embedded = ctx.staging / "audio" / f"hf_{hashlib.sha1(where.encode()).hexdigest()[:10]}"
    out = SourceRows()
    limit = getattr(spec, "limit", None)
    for index, row in enumerate(data):
        origin = f"{where}[{index}]"
        value = row[cols.audio]
        audio: Path | None = None
        if isinstance(value, dict) and value.get("bytes"):
            suffix = Path(value.get("path") or "clip.wav").suffix or ".wav"
            embedded.mkdir(parents=True, exist_ok=True)
            audio = embedded / f"{index:06d}{suffix}"
            audio.write_bytes(value["bytes"])
        elif isinstance(value, dict) and value.get("path"):
            audio = Path(value["path"])
        elif isinstance(value, str) and value:
            audio = Path(value)
        if audio is not None and not audio.is_absolute() and base is not None:
            audio = base / audio
        if audio is None:
            out.problems.append(RowProblem(origin, f"no audio in column {cols.audio!r}"))
            continue
        text = row.get(cols.text)
        out.candidates.append(
            Candidate(
                origin=origin,
                audio=audio,
                text=text if isinstance(text, str) else None,
                id=cell(row, cols.id),
                speaker=cell(row, cols.speaker),
            )
        )
        if limit and len(out.candidates) >= limit:
            break
    return out


def prepare_hf_disk(spec: DiskDatasetSource | ManifestSource, ctx: PrepareContext) -> SourceRows:
    """Read a saved dataset (a ``Dataset``, or the ``train`` split of a ``DatasetDict``;
    ``split`` picks another)."""
    import datasets

    path = Path(spec.path)
    try:
        data = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise SourceError(f"{path}: not a dataset saved with save_to_disk ({exc})") from None
    if isinstance(data, datasets.DatasetDict):
        wanted = getattr(spec, "split", None)
        if wanted and wanted not in data:
            raise SourceError(f"{path}: no split {wanted!r}; it has {sorted(data)}")
        split = wanted or ("train" if "train" in data else next(iter(data)))
        data = data[split]
    return dataset_candidates(data, spec, ctx, str(path), path)


def fingerprint_hf_disk(
    spec: DiskDatasetSource | ManifestSource, ctx: PrepareContext | None = None
) -> str:
    return tree_digest(Path(spec.path))
