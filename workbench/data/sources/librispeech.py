"""``source: librispeech``: LibriSpeech-style folders of ``*.trans.txt`` transcripts.

``<speaker>/<chapter>/<speaker>-<chapter>.trans.txt`` holds ``<utterance-id> <TEXT>`` lines;
the audio is ``<utterance-id>.flac`` (or ``.wav``) beside it. Every transcript file under
``path`` is read, in sorted order. The speaker is the first part of the utterance id.
LibriSpeech transcripts are upper case; ``lowercase: true`` trains on lower-case text.
"""

from __future__ import annotations

from pathlib import Path

from workbench.data.candidates import (
    Candidate,
    PrepareContext,
    RowProblem,
    SourceError,
    SourceRows,
)
from workbench.data.sources._files import stat_digest
from workbench.fileio import open_regular
from workbench.recipe import LibriSpeechSource, ManifestSource

AUDIO_SUFFIXES = (".flac", ".wav")


def transcript_files(folder: Path) -> list[Path]:
    """The ``*.trans.txt`` files under ``folder``, sorted.

    Raises:
        SourceError: there are none.
    """
    files = sorted(folder.rglob("*.trans.txt"))
    if not files:
        raise SourceError(
            f"{folder}: no *.trans.txt transcripts under it (LibriSpeech layout: "
            "speaker/chapter/speaker-chapter.trans.txt beside the .flac files)"
        )
    return files


def prepare_librispeech(
    spec: LibriSpeechSource | ManifestSource, ctx: PrepareContext | None = None
) -> SourceRows:
    """Read every transcript file under the folder into candidates."""
    lower = bool(getattr(spec, "lowercase", False))
    out = SourceRows()
    for trans in transcript_files(Path(spec.path)):
        with open_regular(trans, "r", encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, start=1):
                utt, _, text = line.strip().partition(" ")
                if not utt:
                    continue
                where = f"{trans}:{number}"
                audio = next(
                    (
                        trans.parent / f"{utt}{s}"
                        for s in AUDIO_SUFFIXES
                        if (trans.parent / f"{utt}{s}").is_file()
                    ),
                    None,
                )
                if audio is None:
                    out.problems.append(
                        RowProblem(where, f"no audio {utt}.flac or {utt}.wav in {trans.parent}")
                    )
                    continue
                out.candidates.append(
                    Candidate(
                        origin=where,
                        audio=audio,
                        text=text.lower() if lower else text,
                        id=utt,
                        speaker=utt.split("-")[0],
                    )
                )
                if spec.limit and len(out.candidates) >= spec.limit:
                    return out
    return out


def fingerprint_librispeech(
    spec: LibriSpeechSource | ManifestSource, ctx: PrepareContext | None = None
) -> str:
    folder = Path(spec.path)
    return stat_digest(p for p in folder.rglob("*") if p.is_file())
