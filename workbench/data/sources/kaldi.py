"""``source: kaldi``: a Kaldi data directory (``wav.scp``, ``text``, ``utt2spk``, ``segments``).

- ``wav.scp``: ``<recording-id> <path>``, a plain audio path (absolute, or relative to the
  data directory or to the recipe folder two levels up, where Kaldi runs). Piped commands
  (``<id> sox ... |``) and archive offsets (``foo.ark:123``) are refused: they would run
  programs named in the data.
- ``text``: ``<utterance-id> <transcript>``.
- ``utt2spk`` (optional): ``<utterance-id> <speaker>``.
- ``segments`` (optional): ``<utterance-id> <recording-id> <start> <end>`` in seconds; each
  utterance is cut out of its recording on the fly. Without it, utterance ids are
  recording ids.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from workbench.data.candidates import (
    Candidate,
    PrepareContext,
    RowProblem,
    SourceError,
    SourceRows,
)
from workbench.data.sources._files import file_digest, stat_digest
from workbench.data.sources._segments import SegmentCutter, SegmentError
from workbench.fileio import open_regular
from workbench.recipe import KaldiSource, ManifestSource

_ARCHIVE = re.compile(r"\.ark:\d+$")


def _table(path: Path) -> list[tuple[int, str, str]]:
    """``(line, key, rest)`` for each non-empty line of a Kaldi key-value file."""
    out = []
    with open_regular(path, "r", encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            key, _, rest = line.strip().partition(" ")
            if key:
                out.append((number, key, rest.strip()))
    return out


def _recordings(folder: Path) -> dict[str, tuple[str, Path]]:
    """Recording id -> (origin, audio path) from ``wav.scp``.

    Raises:
        SourceError: a piped command or an archive offset, or no ``wav.scp``.
    """
    scp = folder / "wav.scp"
    if not scp.is_file():
        raise SourceError(f"{folder}: no wav.scp; a Kaldi data directory needs wav.scp and text")
    out: dict[str, tuple[str, Path]] = {}
    piped = []
    roots = (folder, folder.parent.parent)
    for number, rec, value in _table(scp):
        if value.endswith("|") or value.startswith("|"):
            piped.append((number, rec, value))
            continue
        if _ARCHIVE.search(value):
            raise SourceError(
                f"{scp}:{number}: {rec!r} points into a Kaldi archive ({value}); "
                "list plain audio files (WAV, FLAC) in wav.scp"
            )
        audio = Path(value).expanduser()
        if not audio.is_absolute():
            audio = next((r / audio for r in roots if (r / audio).exists()), folder / audio)
        out[rec] = (f"{scp}:{number}", audio)
    if piped:
        number, rec, value = piped[0]
        raise SourceError(
            f"{scp}:{number}: {rec!r} is a piped command ({value!r}), and {len(piped)} line(s) "
            "in all are; the workbench never runs commands from data files. Run the commands "
            "once to write WAV or FLAC files, and list those paths in wav.scp"
        )
    return out


def prepare_kaldi(spec: KaldiSource | ManifestSource, ctx: PrepareContext) -> SourceRows:
    """Read a Kaldi data directory into candidates, cutting ``segments`` on the fly.

    Raises:
        SourceError: no ``wav.scp`` or ``text``, a piped ``wav.scp``, a malformed
            ``segments`` line.
    """
    folder = Path(spec.path)
    recordings = _recordings(folder)
    text_path = folder / "text"
    if not text_path.is_file():
        raise SourceError(f"{folder}: no 'text' file (<utterance-id> <transcript> a line)")
    speakers = {}
    if (folder / "utt2spk").is_file():
        speakers = {utt: spk for _, utt, spk in _table(folder / "utt2spk")}
    segments: dict[str, tuple[str, str, float, float | None]] = {}
    seg_path = folder / "segments"
    if seg_path.is_file():
        for number, utt, rest in _table(seg_path):
            parts = rest.split()
            try:
                rec, start, end = parts[0], float(parts[1]), float(parts[2])
            except (IndexError, ValueError):
                raise SourceError(
                    f"{seg_path}:{number}: expected '<utterance-id> <recording-id> <start> "
                    f"<end>' in seconds, got {f'{utt} {rest}'.strip()!r}"
                ) from None
            # Kaldi writes -1 for "to the end of the recording".
            segments[utt] = (f"{seg_path}:{number}", rec, start, None if end < 0 else end)
    tag = hashlib.sha1(str(folder).encode()).hexdigest()[:10]
    cutter = SegmentCutter(ctx.staging / "audio" / f"kaldi_{tag}")
    out = SourceRows()
    for number, utt, transcript in _table(text_path):
        where = f"{text_path}:{number}"
        audio: Path | None
        if segments:
            if utt not in segments:
                out.problems.append(RowProblem(where, f"utterance {utt!r} is not in segments"))
                continue
            _, rec, start, end = segments[utt]
            if rec not in recordings:
                out.problems.append(RowProblem(where, f"recording {rec!r} is not in wav.scp"))
                continue
            try:
                audio = cutter.cut(recordings[rec][1], start, end, utt)
            except SegmentError as exc:
                out.problems.append(RowProblem(where, str(exc)))
                continue
        else:
            if utt not in recordings:
                out.problems.append(
                    RowProblem(where, f"utterance {utt!r} is not in wav.scp (and no segments)")
                )
                continue
            audio = recordings[utt][1]
        out.candidates.append(
            Candidate(origin=where, audio=audio, text=transcript, id=utt, speaker=speakers.get(utt))
        )
        if spec.limit and len(out.candidates) >= spec.limit:
            break
    return out


def fingerprint_kaldi(spec: KaldiSource | ManifestSource, ctx: PrepareContext | None = None) -> str:
    folder = Path(spec.path)
    parts = [
        file_digest(folder / name)
        for name in ("wav.scp", "text", "utt2spk", "segments")
        if (folder / name).is_file()
    ]
    try:
        audio = [path for _, path in _recordings(folder).values()]
    except SourceError:
        audio = []  # preparation reports it
    return "".join(parts) + stat_digest(audio)
