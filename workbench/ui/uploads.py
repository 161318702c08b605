"""Untrusted uploads: zip archives and loose files turned into a checked audiofolder.

Everything a browser sends is untrusted. An upload always lands in a fresh folder of its
own under the workspace (never an existing one, so nothing of the workbench's or of another
run's can be overwritten); an archive with an entry that would land outside that folder
(absolute, ``..``, a symlink) is refused whole; entries over the size limit, and files that
are neither audio nor metadata, are refused one by one, with their reasons. The result is a
Hugging Face audiofolder that :func:`check_dataset` reads through the same source and
validator as ``workbench data prepare``.

Small files must not exhaust the machine: an archive's unpacked size is summed from its
directory before anything is unpacked, and counted again while unpacking (the directory may
lie); each audio file is decoded through at the door without being held, and refused from its
header when longer than a training clip can be; an import keeps at most
:data:`MAX_KEPT_BYTES`; an import that keeps no audio leaves nothing behind.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import stat
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm"})
METADATA_NAMES = frozenset({"metadata.csv", "metadata.jsonl"})
MAX_FILE_BYTES = 64 * 1024**2  # one clip: 30 s of 96 kHz stereo float is 23 MB
MAX_TOTAL_BYTES = 2 * 1024**3  # one archive, unpacked
MAX_KEPT_BYTES = 1024**3  # the audio one import keeps
CLIP_MAX_SECONDS = 30.0  # the longest clip training takes (data.max_duration_s)
MAX_ENTRIES = 50_000
AUDIO_COLUMNS = ("file_name", "audio", "path", "file")
TEXT_COLUMNS = ("transcription", "text", "sentence", "transcript")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadError(ValueError):
    """An upload refused as a whole; the message says why."""


@dataclass
class ImportResult:
    """An imported upload: where it landed and what was refused on the way in."""

    folder: Path | None  # None when nothing was kept
    files: int = 0
    refused: list[str] = field(default_factory=list)
    kept_bytes: int = 0

    def keep(self, size: int, max_kept_bytes: int) -> str | None:
        """Count ``size`` more bytes kept, or say why not (the import's limit)."""
        if self.kept_bytes + size > max_kept_bytes:
            return (
                f"the import already keeps {self.kept_bytes / 1024**2:.0f} MB; "
                f"the limit is {max_kept_bytes / 1024**2:.0f} MB an import"
            )
        self.kept_bytes += size
        self.files += 1
        return None


def upload_folder() -> Path:
    """Where Gradio keeps the files browsers upload (``$GRADIO_TEMP_DIR``, else its default)."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()).resolve()


_HELD: dict[Path, int] = {}  # uploads an action is consuming now -> how many actions
_HELD_LOCK = threading.Lock()
UPLOAD_GRACE_S = 60.0  # Gradio keeps one copy per content: another session may want it


def hold_uploads(paths: list[str | Path]) -> list[Path]:
    """Mark uploads as being consumed (see :func:`discard_upload`); returns them resolved."""
    held = []
    with _HELD_LOCK:
        for path in paths:
            target = Path(path).resolve()
            _HELD[target] = _HELD.get(target, 0) + 1
            held.append(target)
    return held


def discard_upload(path: str | Path, grace_s: float | None = None) -> bool:
    """Delete a consumed upload from Gradio's upload folder (and its folder, once empty).

    Only files inside that folder are touched: a path anywhere else (a clip of the user's
    own data) is left alone. Gradio stores an upload under the hash of its content, so two
    sessions uploading the same bytes share one file: the deletion waits ``grace_s``
    (``$WORKBENCH_UPLOAD_GRACE_S``, default 60 s), and is skipped when another action holds
    the file then, or it was uploaded again meanwhile (Gradio's ``delete_cache`` takes what
    is left within the hour). Returns whether a deletion was scheduled.
    """
    root = upload_folder()
    try:
        target = Path(path).resolve()
        stamp = target.stat()
    except (OSError, RuntimeError):
        return False
    with _HELD_LOCK:
        if _HELD.get(target):
            _HELD[target] -= 1
            if not _HELD[target]:
                del _HELD[target]
    if target == root or not target.is_relative_to(root) or not target.is_file():
        return False
    if grace_s is None:
        grace_s = float(os.environ.get("WORKBENCH_UPLOAD_GRACE_S", UPLOAD_GRACE_S))

    def delete() -> None:
        with _HELD_LOCK:
            if _HELD.get(target):
                return
            try:
                now = target.stat()
            except OSError:
                return
            if (now.st_ino, now.st_mtime_ns) != (stamp.st_ino, stamp.st_mtime_ns):
                return  # uploaded again since: that upload's action will discard it
            target.unlink(missing_ok=True)
        folder = target.parent
        while folder != root and folder.is_relative_to(root):
            try:
                folder.rmdir()  # only when empty
            except OSError:
                break
            folder = folder.parent

    if grace_s <= 0:
        delete()
    else:
        timer = threading.Timer(grace_s, delete)
        timer.daemon = True
        timer.start()
    return True


def safe_name(name: str, fallback: str = "upload") -> str:
    """A file or folder name with nothing but letters, digits, ``.``, ``_`` and ``-``."""
    cleaned = _UNSAFE.sub("-", PurePosixPath(name.replace("\\", "/")).name).strip(".-")
    return cleaned[:80] or fallback


def fresh_folder(parent: Path, name: str) -> Path:
    """A new, empty folder ``parent/name`` (``name-2``, ``name-3``, ... when taken)."""
    parent.mkdir(parents=True, exist_ok=True)
    base = safe_name(name, "dataset")
    for n in range(1, 10_000):
        path = parent / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise UploadError(f"no free folder name for {base!r} under {parent}")


def _hostile(info: zipfile.ZipInfo) -> str | None:
    """Why an archive entry could land outside its folder, if it could."""
    name = info.filename.replace("\\", "/")
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "a path with '..'"
    return None


def extract_zip(
    archive: Path,
    parent: Path,
    *,
    max_file_bytes: int = MAX_FILE_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_kept_bytes: int = MAX_KEPT_BYTES,
) -> ImportResult:
    """Unpack an uploaded zip into a fresh folder under ``parent``.

    A single top folder in the archive is stripped (``data/metadata.csv`` →
    ``metadata.csv``). The archive is unpacked into a hidden staging folder first, so a
    refused archive, or one that yields no usable audio (``folder`` None), leaves nothing
    behind.

    Raises:
        UploadError: not a zip; an entry would land outside the folder; too large in all
            (by its directory, or counted while unpacking).
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadError(f"{archive.name}: not a zip archive ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise UploadError(f"{archive.name}: {len(infos)} entries, more than {MAX_ENTRIES}")
        hostile = [f"{i.filename} ({why})" for i in infos if (why := _hostile(i))]
        if hostile:
            raise UploadError(
                f"{archive.name}: refused; entries that would land outside the upload "
                f"folder: {', '.join(hostile[:5])}{' ...' if len(hostile) > 5 else ''}"
            )
        files = [i for i in infos if not i.is_dir()]
        total = sum(i.file_size for i in files if i.file_size <= max_file_bytes)
        if total > max_total_bytes:
            raise UploadError(
                f"{archive.name}: {total / 1024**3:.1f} GB unpacked, more than "
                f"{max_total_bytes / 1024**3:.1f} GB"
            )
        tops = {PurePosixPath(i.filename).parts[0] for i in infos if i.filename.strip("/")}
        strip = len(tops) == 1 and all(
            len(PurePosixPath(i.filename).parts) > 1 or i.is_dir() for i in infos
        )
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".upload-", dir=parent))
        result = ImportResult(folder=staging)
        unpacked = [0]  # bytes written so far, against max_total_bytes
        try:
            for info in files:
                parts = PurePosixPath(info.filename.replace("\\", "/")).parts[int(strip) :]
                if not parts or parts[0] in ("__MACOSX",) or parts[-1].startswith("._"):
                    continue
                relative = PurePosixPath(*[safe_name(p, "_") for p in parts])
                why = _refusal(relative.name, info.file_size, max_file_bytes)
                if why:
                    result.refused.append(f"{info.filename}: {why}")
                    continue
                target = staging / relative
                if not target.resolve().is_relative_to(staging.resolve()):
                    result.refused.append(f"{info.filename}: would land outside the folder")
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                _copy_limited(
                    zf.open(info), target, max_file_bytes, info.filename, unpacked, max_total_bytes
                )
                why = _unreadable(target)
                if not why and target.name.lower() not in METADATA_NAMES:
                    why = result.keep(target.stat().st_size, max_kept_bytes)
                if why:
                    target.unlink()
                    result.refused.append(f"{info.filename}: {why}")
                    continue
            result.folder = _publish_or_drop(staging, parent, archive.stem, result)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return result


def _publish_or_drop(staging: Path, parent: Path, name: str, result: ImportResult) -> Path | None:
    """Publish the staging folder, or remove it when it holds no usable audio."""
    if result.files == 0:
        shutil.rmtree(staging, ignore_errors=True)
        result.refused.append(f"{name}: no usable audio file; nothing was kept")
        return None
    return _publish(staging, parent, name)


def _publish(staging: Path, parent: Path, name: str) -> Path:
    """Give a finished staging folder its fresh, final name under ``parent``."""
    folder = fresh_folder(parent, name)
    folder.rmdir()
    staging.rename(folder)
    return folder


def _refusal(name: str, size: int, max_file_bytes: int) -> str | None:
    suffix = Path(name).suffix.lower()
    if name.lower() not in METADATA_NAMES and suffix not in AUDIO_SUFFIXES:
        return f"not an audio file (expected one of {', '.join(sorted(AUDIO_SUFFIXES))})"
    if size > max_file_bytes:
        return f"{size / 1024**2:.0f} MB, more than the {max_file_bytes / 1024**2:.0f} MB limit"
    return None


def _unreadable(path: Path) -> str | None:
    """Why an uploaded audio file cannot be used (decoded through the way training will
    decode it, block by block and not kept), so that a bad clip is refused at the door
    instead of sitting in the dataset. A file longer than a training clip can be is refused
    from its header, or as soon as decoding passes the limit."""
    if path.name.lower() in METADATA_NAMES:
        return None
    from workbench.audio import AudioError, audio_seconds

    try:
        audio_seconds(path, max_seconds=CLIP_MAX_SECONDS)
    except AudioError as exc:
        return exc.reason
    return None


def _copy_limited(
    source: io.IOBase,
    target: Path,
    limit: int,
    label: str,
    unpacked: list[int] | None = None,
    max_total: int | None = None,
) -> None:
    """Copy at most ``limit`` bytes (an archive's stated sizes may lie), adding what is
    written to ``unpacked[0]`` and refusing the archive once that passes ``max_total``."""
    written = 0
    with source, open(target, "xb") as out:
        while chunk := source.read(1 << 20):
            written += len(chunk)
            if written > limit:
                raise UploadError(f"{label}: larger than its archive entry says; refused")
            if unpacked is not None and max_total is not None:
                unpacked[0] += len(chunk)
                if unpacked[0] > max_total:
                    raise UploadError(
                        f"{label}: the archive unpacks to more than "
                        f"{max_total / 1024**3:.1f} GB; refused"
                    )
            out.write(chunk)


def import_files(
    files: list[Path],
    parent: Path,
    name: str = "upload",
    *,
    max_file_bytes: int = MAX_FILE_BYTES,
    max_kept_bytes: int = MAX_KEPT_BYTES,
) -> ImportResult:
    """Copy uploaded audio files and one CSV of transcripts into a fresh audiofolder
    (``folder`` None, and nothing left behind, when no audio file is usable).

    The CSV needs a column naming the audio file (``file_name``, ``audio``, ``path`` or
    ``file``; matched by file name) and one holding the text (``transcription``, ``text``,
    ``sentence`` or ``transcript``); ``speaker`` is kept when present.

    Raises:
        UploadError: no CSV, more than one, or a CSV without the needed columns.
    """
    tables = [f for f in files if Path(f).suffix.lower() == ".csv"]
    if len(tables) != 1:
        raise UploadError(
            f"expected the audio files and one CSV of transcripts, got {len(tables)} CSV files"
        )
    rows, columns = _read_table(Path(tables[0]))
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".upload-", dir=parent))
    result = ImportResult(folder=staging)
    try:
        names: dict[str, str] = {}
        for path in files:
            path = Path(path)
            if path == Path(tables[0]):
                continue
            size = path.stat().st_size if path.is_file() else 0
            why = _refusal(path.name, size, max_file_bytes) or _unreadable(path)
            target = safe_name(path.name, "clip")
            if not why and target in names.values():
                why = "a second file of the same name"
            why = why or result.keep(size, max_kept_bytes)
            if why:
                result.refused.append(f"{path.name}: {why}")
                continue
            shutil.copyfile(path, staging / target)
            names[path.name] = target
        audio_col, text_col = columns
        out_rows = []
        for number, row in enumerate(rows, 2):
            given = PurePosixPath(str(row.get(audio_col) or "").replace("\\", "/")).name
            if given not in names:
                result.refused.append(
                    f"{Path(tables[0]).name}:{number}: no uploaded audio file {given!r}"
                )
                continue
            out_rows.append(
                {
                    "file_name": names[given],
                    "transcription": row.get(text_col) or "",
                    "speaker": row.get("speaker") or "",
                }
            )
        with open(staging / "metadata.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["file_name", "transcription", "speaker"])
            writer.writeheader()
            writer.writerows(out_rows)
        result.folder = _publish_or_drop(staging, parent, name, result)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result


def _read_table(path: Path) -> tuple[list[dict], tuple[str, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UploadError(f"{path.name}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    audio = next((c for c in AUDIO_COLUMNS if c in header), None)
    spoken = next((c for c in TEXT_COLUMNS if c in header), None)
    if audio is None or spoken is None:
        raise UploadError(
            f"{path.name}: expected a column naming the audio file ({', '.join(AUDIO_COLUMNS)}) "
            f"and one with the text ({', '.join(TEXT_COLUMNS)}); got {', '.join(header) or 'none'}"
        )
    rows = [{k.strip(): v for k, v in row.items() if k} for row in reader]
    return rows, (audio, spoken)


@dataclass
class DatasetCheck:
    """What ``workbench data prepare`` would make of a folder: kept rows and refused ones."""

    folder: Path
    n: int
    hours: float
    speakers: int
    problems: list[str]
    samples: list[tuple[str, str]]  # (audio path, text) of the first few good rows


def check_dataset(folder: Path, max_duration_s: float = 30.0, samples: int = 5) -> DatasetCheck:
    """Read an audiofolder through the audiofolder source and the data validator."""
    from workbench.data.candidates import PrepareContext, RowProblem
    from workbench.data.sources import PREPARERS
    from workbench.data.validate import Validator
    from workbench.recipe import AudioFolderSource

    spec = AudioFolderSource(path=str(folder))
    with tempfile.TemporaryDirectory(prefix=".check-", dir=folder.parent) as tmp:
        ctx = PrepareContext(staging=Path(tmp), pack_dir=None, lexicon=None, language=None)
        rows = PREPARERS["audiofolder"](spec, ctx)
        validator = Validator(Path(tmp) / "audio", max_duration_s)
        good, problems = [], [str(p) for p in rows.problems]
        for cand in rows.candidates:
            result = validator.check(cand, "train")
            if isinstance(result, RowProblem):
                problems.append(str(result))
            else:
                good.append((cand, result))
    seconds = sum(u.duration or 0.0 for _, u in good)
    return DatasetCheck(
        folder=folder,
        n=len(good),
        hours=seconds / 3600,
        speakers=len({u.speaker for _, u in good if u.speaker}),
        problems=problems,
        samples=[(str(c.audio), u.text) for c, u in good[:samples]],
    )
