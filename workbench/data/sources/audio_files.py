"""``source: audio`` (``data.unlabeled``): audio files without transcripts.

A folder gives every file under it (its subfolders too unless ``recursive: false``) whose
suffix is an audio one (:data:`workbench.recipe.AUDIO_SUFFIXES`), in name order; other files
(transcripts, notes) are passed over. A file is a list of audio paths, one a line, relative
to the list's folder or absolute; blank lines and lines starting with ``#`` are skipped.
The clips are candidates with no text: :class:`workbench.data.validate.Validator` checks
their audio as it checks every source's (``need_text=False``).
"""

from __future__ import annotations

from pathlib import Path

from workbench.data.candidates import Candidate, RowProblem, SourceError, SourceRows
from workbench.data.sources._files import file_digest, stat_digest
from workbench.fileio import SpecialFileError, read_regular_text
from workbench.recipe import AUDIO_SUFFIXES, AudioSource


def _folder_clips(folder: Path, recursive: bool) -> list[tuple[str, Path]]:
    """(id, path) of the audio files in ``folder``: ids are paths relative to it, no suffix."""
    walk = folder.rglob("*") if recursive else folder.glob("*")
    found = sorted(p for p in walk if p.suffix.lower() in AUDIO_SUFFIXES and not p.is_dir())
    return [(p.relative_to(folder).with_suffix("").as_posix(), p) for p in found]


def _listed_clips(listing: Path) -> tuple[list[tuple[str, str, Path]], list[RowProblem]]:
    """(origin, id, path) of the audio files a list file names, and its unusable lines.

    Raises:
        SourceError: the list cannot be read as UTF-8 text (or is a special file).
    """
    try:
        text = read_regular_text(listing)
    except (SpecialFileError, UnicodeDecodeError) as exc:
        raise SourceError(f"{listing}: not a list of audio paths ({exc})") from None
    base = listing.resolve().parent
    out: list[tuple[str, str, Path]] = []
    problems: list[RowProblem] = []
    stems: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        where = f"{listing}:{number}"
        if "\0" in entry:
            problems.append(RowProblem(where, "a NUL byte in the path"))
            continue
        path = Path(entry).expanduser()
        path = path if path.is_absolute() else base / path
        stem = path.stem or "clip"
        stems[stem] = stems.get(stem, 0) + 1
        out.append((where, stem if stems[stem] == 1 else f"{stem}-{stems[stem]}", path))
    return out, problems


def prepare_audio(spec: AudioSource, ctx: object = None) -> SourceRows:
    """The source's clips as candidates without text.

    Raises:
        SourceError: a list file that cannot be read.
    """
    path = Path(spec.path)
    out = SourceRows()
    if path.is_dir():
        rows = [(str(p), clip_id, p) for clip_id, p in _folder_clips(path, spec.recursive)]
        if not rows:
            suffixes = " ".join(AUDIO_SUFFIXES)
            out.problems.append(RowProblem(str(path), f"no audio files ({suffixes}) in it"))
    else:
        rows, out.problems = _listed_clips(path)
        if not rows and not out.problems:
            out.problems.append(RowProblem(str(path), "lists no audio paths"))
    for origin, clip_id, audio in rows:
        out.candidates.append(Candidate(origin=origin, audio=audio, text=None, id=clip_id))
        if spec.limit and len(out.candidates) >= spec.limit:
            break
    return out


def fingerprint_audio(spec: AudioSource, ctx: object = None) -> str:
    """Names, sizes and times of the clips (and the list file's bytes)."""
    path = Path(spec.path)
    if path.is_dir():
        return stat_digest(p for _, p in _folder_clips(path, spec.recursive))
    clips, _ = _listed_clips(path)
    return file_digest(path) + stat_digest(p for _, _, p in clips)
