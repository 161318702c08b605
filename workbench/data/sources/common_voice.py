"""``source: common_voice``: a Mozilla Common Voice release (or any TSV of that shape).

``path`` is a locale folder (``clips/`` and ``train.tsv``, ``dev.tsv``, ``test.tsv``,
``validated.tsv``, ...; ``split`` picks the TSV, ``train`` by default) or one such TSV file.
Columns ``path`` (a file name in ``clips/`` beside the TSV), ``sentence`` and
``client_id`` (the speaker). Common Voice clips are MP3; they are converted to 16 kHz FLAC
into the prepared folder.
"""

from __future__ import annotations

from pathlib import Path

from workbench.data.candidates import PrepareContext, SourceError, SourceRows
from workbench.data.sources._files import file_digest, stat_digest
from workbench.data.sources.csv_table import table_candidates
from workbench.recipe import CommonVoiceSource, ManifestSource


def common_voice_table(spec: CommonVoiceSource | ManifestSource) -> Path:
    """The TSV a spec names: the file itself, or ``<split>.tsv`` in the locale folder.

    Raises:
        SourceError: the folder has no such TSV (the message lists the ones it has).
    """
    path = Path(spec.path)
    if path.is_file():
        return path
    split = getattr(spec, "split", None) or "train"
    table = path / f"{split}.tsv"
    if not table.is_file():
        have = sorted(p.stem for p in path.glob("*.tsv"))
        raise SourceError(
            f"{path}: no {split}.tsv for split {split!r}; the folder has {have or 'no TSV files'}"
        )
    return table


def _clips(table: Path) -> Path:
    clips = table.parent / "clips"
    return clips if clips.is_dir() else table.parent


def prepare_common_voice(
    spec: CommonVoiceSource | ManifestSource, ctx: PrepareContext | None = None
) -> SourceRows:
    """Read a Common Voice TSV into candidates (audio from ``clips/`` beside it)."""
    table = common_voice_table(spec)
    return table_candidates(table, spec, spec.limit, audio_base=_clips(table))


def fingerprint_common_voice(
    spec: CommonVoiceSource | ManifestSource, ctx: PrepareContext | None = None
) -> str:
    table = common_voice_table(spec)
    rows = table_candidates(table, spec, None, audio_base=_clips(table))
    return file_digest(table) + stat_digest(c.audio for c in rows.candidates if c.audio)
