"""``source: hf_disk``: a dataset written by ``datasets.Dataset.save_to_disk``.

Audio is read without ``datasets``' decoder (which needs torchcodec): the column is cast to
``Audio(decode=False)``, and embedded bytes are written to the staging folder.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from workbench.data.candidates import (
    Candidate,
    PrepareContext,
    RowProblem,
    SourceError,
    SourceRows,
)
from workbench.data.sources._files import tree_digest
from workbench.recipe import DiskDatasetSource, ManifestSource


def prepare_hf_disk(spec: DiskDatasetSource | ManifestSource, ctx: PrepareContext) -> SourceRows:
    """Read a saved dataset (a ``Dataset``, or the ``train`` split of a ``DatasetDict``)."""
    import datasets

    path = Path(spec.path)
    audio_col = getattr(spec, "audio_column", "audio")
    text_col = getattr(spec, "text_column", "text")
    try:
        data = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise SourceError(f"{path}: not a dataset saved with save_to_disk ({exc})") from None
    if isinstance(data, datasets.DatasetDict):
        split = "train" if "train" in data else next(iter(data))
        data = data[split]
    out = SourceRows()
    missing = [c for c in (audio_col, text_col) if c not in data.column_names]
    if missing:
        out.problems.append(
            RowProblem(
                str(path), f"no column {', '.join(map(repr, missing))}; has {data.column_names}"
            )
        )
        return out
    if isinstance(data.features[audio_col], datasets.Audio):
        data = data.cast_column(audio_col, datasets.Audio(decode=False))
    embedded = ctx.staging / "audio" / f"hf_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"
    for index, row in enumerate(data):
        where = f"{path}[{index}]"
        value = row[audio_col]
        audio: Path | None = None
        if isinstance(value, dict) and value.get("bytes"):
            suffix = Path(value.get("path") or "clip.wav").suffix or ".wav"
            embedded.mkdir(parents=True, exist_ok=True)
            audio = embedded / f"{index:06d}{suffix}"
            audio.write_bytes(value["bytes"])
        elif isinstance(value, dict) and value.get("path"):
            audio = Path(value["path"])
        elif isinstance(value, str):
            audio = Path(value) if Path(value).is_absolute() else path / value
        if audio is None:
            out.problems.append(RowProblem(where, f"no audio in column {audio_col!r}"))
            continue
        text = row.get(text_col)
        out.candidates.append(
            Candidate(
                origin=where,
                audio=audio,
                text=text if isinstance(text, str) else None,
                id=str(row["id"]) if row.get("id") is not None else None,
                speaker=str(row["speaker"]) if row.get("speaker") is not None else None,
            )
        )
        if spec.limit and len(out.candidates) >= spec.limit:
            break
    return out


def fingerprint_hf_disk(
    spec: DiskDatasetSource | ManifestSource, ctx: PrepareContext | None = None
) -> str:
    return tree_digest(Path(spec.path))
