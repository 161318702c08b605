"""The guided start's logic, without gradio: her terms, her recordings, her held-out part
and the recipe that adapts the model to them.

The "Start here" tab (:mod:`workbench.ui.guided_tab`) is a thin page over these functions:

- :func:`read_terms`: pasted lines, or an uploaded CSV/TSV whose header names a ``term``
  column (``spoken``, ``category``, ``misrecognitions``, ``weight`` optional, other columns
  ignored with a note); good rows are kept, bad ones named by her own line numbers.
- :func:`save_terms`: her terms alone, or merged into a pack's lexicon; the file written
  into the workspace, and which of her categories the pack's (or the generic) carrier
  sentences can speak.
- :func:`import_recordings`: a zip, a zip plus a separate CSV/TSV of transcripts, or audio
  files plus a CSV; the dataset folder is named as she asked; kept and refused files counted.
- :func:`hold_out`: a share of her clips for evaluation, by speaker when speakers are known.
- :func:`guided_recipe`, :func:`recipe_text`: the recipe, built from the recipe dataclasses,
  with her held-out recordings as the first evaluation source.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import shutil
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePosixPath

import yaml

from workbench.fileio import write_text_atomic
from workbench.lexicon import COLUMNS, DEFAULT_CATEGORY, Lexicon, LexiconError, Term, load_lexicon
from workbench.paths import domains_root
from workbench.recipe import (
    DataSpec,
    LexiconSpec,
    LoraSpec,
    ManifestSource,
    PocketsphinxSource,
    Recipe,
    SynthSource,
    TrainSpec,
)
from workbench.schema import to_data

OWN_DOMAIN = "my own domain"
MAX_TERMS_BYTES = 4 * 1024**2  # a term list; larger is not a term list
PREVIEW_ROWS = 8
TABLE_SUFFIXES = (".csv", ".tsv", ".txt")
DEFAULT_HELD_OUT = 0.2  # a fifth of her recordings for evaluation
# The parts of the evaluation set (a source's ``part``), as the report and Compare show them.
OWN_PART = "your recordings"
SYNTH_PART = "synthetic held-out"
DEFAULT_STEPS = 100
SHORT_RUN = 50  # steps: below it a run is called a trial
RECORDED = "recorded"  # the sub-folder of her dataset holding the takes recorded in the page
MIN_TAKE_SECONDS = 0.5
TRAIN_VOICES = [
    "espeak:en-us",
    "espeak:en-gb-x-rp+f3",
    "espeak:en-gb-scotland+m3@p40",
    "espeak:en-us-nyc+f2@p65",
    "espeak:en-029",
]
EVAL_VOICES = ["piper:joe", "flite:slt"]  # voices training never hears
# Carriers for a domain of her own: {term} takes any of her terms, whatever its category.
GENERIC_TEMPLATES = """\
# Generic carriers: {term} takes any term. Written by the guided start of the workbench.
[train]
Please note {term} in today's record.
We talked about {term} again this morning.
(The next item is|Next on the list is) {term}.
Can you check {term} before the end of the day?
I wrote {term} down (twice|in the notes).
Add {term} to the list (please|for tomorrow).
The report mentions {term} on page {number:2-40}.
{term} came up {number:2-9} times in the meeting.
[heldout]
Make sure {term} is spelled correctly.
The last thing we discussed was {term}.
Remind me to look at {term} next week.
"""


class GuidedError(ValueError):
    """Something the guided start cannot go on with; the message says it in her words."""


# --- terms ------------------------------------------------------------------------------


@dataclass
class TermsRead:
    """What was read of her terms: the kept ones, and each refused line with its reason."""

    terms: list[Term]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=lambda: ["term"])

    def preview(self, rows: int = PREVIEW_ROWS) -> list[list[str]]:
        """The first rows as [term, spoken, category] for a table."""
        return [[t.term, " | ".join(t.spoken), t.category] for t in self.terms[:rows]]

    def summary(self) -> str:
        """One line: how many terms were read, how many lines refused."""
        if not self.terms and not self.problems:
            return "No terms yet: paste one term a line, or upload a CSV/TSV with a 'term' column."
        cats = list(dict.fromkeys(t.category for t in self.terms))
        text = f"{len(self.terms)} term(s) read"
        if cats != ["term"]:
            text += f" in {len(cats)} categor{'y' if len(cats) == 1 else 'ies'} ({', '.join(cats)})"
        if self.problems:
            text += f"; {len(self.problems)} line(s) left out (below, with the reason)"
        return text + "."


def _header(line: str) -> tuple[str, list[str]] | None:
    """(delimiter, lower-case names) when ``line`` is a header naming a ``term`` column."""
    for delimiter in ("\t", ",", ";"):
        cells = next(csv.reader(io.StringIO(line), delimiter=delimiter), [])
        names = [c.strip().lower() for c in cells]
        if "term" in names:
            return delimiter, names
    return None


def read_terms(text: str = "", upload: str | Path | None = None) -> TermsRead:
    """Her terms from pasted ``text`` (one a line, or a table with a header) or an uploaded
    CSV/TSV (``upload`` wins when both are given).

    Rows the lexicon reader refuses (empty terms, duplicates, hidden characters, bad weights)
    are left out and named with her line number; the rest are kept.

    Raises:
        GuidedError: the upload is not text, too large, or not a table/list at all.
    """
    label = "your list"
    if upload:
        path = Path(upload)
        label = path.name
        if path.suffix.lower() not in TABLE_SUFFIXES:
            kind = path.suffix or "a file without an extension"
            raise GuidedError(f"{label}: expected a .csv, .tsv or .txt file of terms, not {kind}")
        try:
            with open(path, "rb") as f:
                raw = f.read(MAX_TERMS_BYTES + 1)
        except OSError as exc:
            raise GuidedError(f"{label}: cannot be read ({exc.strerror})") from None
        if len(raw) > MAX_TERMS_BYTES:
            raise GuidedError(
                f"{label}: larger than {MAX_TERMS_BYTES // 1024**2} MB; not a term list"
            )
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise GuidedError(
                f"{label}, line {line}: not UTF-8 text; save the file as UTF-8 (CSV UTF-8 in Excel)"
            ) from None
    lines = [(n, line) for n, line in enumerate((text or "").splitlines(), 1)]
    content = [(n, line) for n, line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not content:
        return TermsRead(terms=[])
    notes: list[str] = []
    empty = sum(1 for n, line in lines if not line.strip() and n < content[-1][0])
    if empty:
        notes.append(f"{empty} empty line(s) skipped")
    header = _header(content[0][1])
    if header is None:
        rows = [(n, [line.strip()]) for n, line in content]
        kept_columns = ["term"]
        if any(("," in line or "\t" in line) for _, line in content[:20]):
            notes.append(
                "the first line names no 'term' column, so each whole line was read as one "
                "term; to use columns, start with a header row such as: term,category"
            )
    else:
        delimiter, names = header
        unknown = [n for n in names if n and n not in COLUMNS]
        if unknown:
            notes.append(f"column(s) {', '.join(unknown)} ignored (used: {', '.join(COLUMNS)})")
        kept_columns = list(dict.fromkeys(n for n in names if n in COLUMNS))
        body = "\n".join(line for _, line in lines[content[0][0] :])
        reader = csv.reader(io.StringIO(body), delimiter=delimiter)
        rows = []
        for cells in reader:
            number = content[0][0] + reader.line_num
            if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            picked = dict(zip(names, cells, strict=False))
            if "category" in kept_columns and not (picked.get("category") or "").strip():
                picked["category"] = DEFAULT_CATEGORY  # said in the generic sentences
            rows.append((number, [picked.get(c, "") for c in kept_columns]))
    return _checked(rows, kept_columns, label, notes)


def _her_line(rows: list[tuple[int, list[str]]], index: int) -> int | str:
    """Her line number of the ``index``-th row written for the lexicon reader."""
    return rows[index][0] if 0 <= index < len(rows) else "?"


def _her_lines(message: str, rows: list[tuple[int, list[str]]], offset: int) -> str:
    """``message`` with the reader's "line N" made her own line numbers."""
    return re.sub(
        r"line (\d+)", lambda n: f"line {_her_line(rows, int(n.group(1)) - 1 - offset)}", message
    )


def _checked(
    rows: list[tuple[int, list[str]]], columns: list[str], label: str, notes: list[str]
) -> TermsRead:
    """Her rows through the lexicon reader: bad rows dropped and named, the rest kept."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="workbench-terms-") as tmp:
        table = columns != ["term"]
        path = Path(tmp) / ("terms.csv" if table else "terms.txt")  # a table, or a list
        offset = 1 if table else 0  # the written file's header line
        remaining = list(rows)
        for _ in range(4):  # duplicates can only show once their first row is known good
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            if table:
                writer.writerow(columns)
                for _, cells in remaining:
                    writer.writerow([" ".join(c.split()) for c in cells])
            else:  # one term a line, as she wrote it
                buffer.write("".join(f"{cells[0].strip()}\n" for _, cells in remaining))
            path.write_text(buffer.getvalue(), encoding="utf-8")
            try:
                lexicon = load_lexicon(path) if remaining else Lexicon([])
                break
            except LexiconError as exc:
                bad: set[int] = set()
                for problem in exc.problems:
                    m = re.match(rf"{re.escape(str(path))}:(\d+): (.*)", problem)
                    if m is None:
                        raise GuidedError(f"{label}: {problem.replace(str(path), label)}") from None
                    index = int(m.group(1)) - 1 - offset
                    if not 0 <= index < len(remaining):  # not a row of hers: the whole list
                        raise GuidedError(f"{label}: {m.group(2)}") from None
                    bad.add(index)
                    said = _her_lines(m.group(2), remaining, offset)
                    problems.append(f"line {remaining[index][0]}: {said}")
                remaining = [r for i, r in enumerate(remaining) if i not in bad]
        else:
            raise GuidedError(f"{label}: the terms could not be read")
    terms = [
        Term(t.term, t.category, t.spoken, t.misrecognitions, number, t.weight)
        for t, (number, _) in zip(lexicon.terms, remaining, strict=True)
    ]
    problems.sort(key=lambda p: int(p.split(":")[0].removeprefix("line ")))
    return TermsRead(terms=terms, problems=problems, notes=notes, columns=columns)


def domain_choices() -> list[str]:
    """The packs under ``domains/`` and "my own domain"."""
    packs = sorted(p.name for p in domains_root().iterdir() if (p / "domain.yaml").is_file())
    return [*packs, OWN_DOMAIN]


def pack_lexicon(domain: str) -> Lexicon | None:
    """A pack's own lexicon, or None for "my own domain" or a pack without one."""
    if domain == OWN_DOMAIN:
        return None
    path = domains_root() / domain / "lexicon.tsv"
    return load_lexicon(path) if path.is_file() else None


def lexicon_tsv(terms: list[Term]) -> str:
    """Terms as ``lexicon.tsv`` text (every column, tabs and newlines in cells made spaces)."""

    def cell(text: str) -> str:
        return " ".join(text.split())

    out = ["\t".join(COLUMNS)]
    for t in terms:
        weight = "" if t.weight == 1 else f"{t.weight:g}"
        row = [t.term, " | ".join(t.spoken), t.category, " | ".join(t.misrecognitions), weight]
        out.append("\t".join(cell(c) for c in row))
    return "\n".join(out) + "\n"


@dataclass
class SavedTerms:
    """Her lexicon as written into the workspace, and what the carriers make of it."""

    path: Path
    lexicon: Lexicon
    already_in_pack: list[str]
    notes: list[str]


def templates_for(domain: str, workspace_lexicons: Path) -> Path:
    """The templates that will carry the terms: the pack's, or generic ones written once
    into the workspace for a domain of her own."""
    if domain != OWN_DOMAIN:
        return domains_root() / domain / "templates.txt"
    path = workspace_lexicons / "generic-templates.txt"
    if not path.is_file() or path.read_text(encoding="utf-8") != GENERIC_TEMPLATES:
        write_text_atomic(path, GENERIC_TEMPLATES)
    return path


def carrier_gaps(templates: Path, lexicon: Lexicon) -> list[str]:
    """What recipe validation would refuse: the categories of ``lexicon`` that no training
    or held-out template of ``templates`` can carry (same check as ``recipe validate``)."""
    from workbench.data.templates import carriers, load_templates

    loaded = load_templates(templates)
    out = []
    for section in ("train", "heldout"):
        by_category, _ = carriers([t for t in loaded if t.section == section], lexicon)
        bare = [c for c, found in by_category.items() if not found]
        if bare:
            out.append(
                f"no [{section}] sentence of {templates.name} can carry the categor"
                f"{'y' if len(bare) == 1 else 'ies'} {', '.join(bare)}: leave the category "
                "column empty (the generic sentences take any term) or choose another pack"
            )
    return out


def save_terms(read: TermsRead, domain: str, merge: bool, folder: Path, name: str) -> SavedTerms:
    """Write her terms (merged into the pack's lexicon when ``merge``) as
    ``folder/<name>-terms.tsv`` and check them against the carriers that will speak them.

    Raises:
        GuidedError: no terms, or a category no carrier sentence can speak.
    """
    if not read.terms:
        raise GuidedError("no terms yet: paste one term a line, or upload a CSV/TSV of terms")
    pack = pack_lexicon(domain) if merge else None
    notes: list[str] = []
    already: list[str] = []
    terms = list(read.terms)
    if pack is not None:
        known = {t.term.casefold() for t in pack}
        already = [t.term for t in read.terms if t.term.casefold() in known]
        terms = [*pack.terms, *(t for t in read.terms if t.term.casefold() not in known)]
        notes.append(
            f"{len(read.terms) - len(already)} of your terms added to the {domain} pack's "
            f"{len(pack)}" + (f"; {len(already)} were in it already" if already else "")
        )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-terms.tsv"
    write_text_atomic(path, lexicon_tsv(terms))
    try:
        lexicon = load_lexicon(path)
    except LexiconError as exc:  # her terms against the pack's: look-alikes of its terms
        path.unlink(missing_ok=True)
        shown = "; ".join(p.split(": ", 1)[-1] for p in exc.problems[:3])
        raise GuidedError(f"your terms clash with the {domain} pack's: {shown}") from None
    gaps = carrier_gaps(templates_for(domain, folder), lexicon)
    if gaps:
        path.unlink(missing_ok=True)
        raise GuidedError("; ".join(gaps))
    return SavedTerms(path=path, lexicon=lexicon, already_in_pack=already, notes=notes)


# --- recordings -------------------------------------------------------------------------


@dataclass
class Recordings:
    """Her recordings as a checked audiofolder (``folder`` None when nothing was kept)."""

    folder: Path | None
    clips: list[dict]  # {"file_name", "text", "speaker"} of every kept clip
    refused: list[tuple[str, str]]  # (file or row, reason)
    minutes: float = 0.0

    @property
    def speakers(self) -> int:
        return len({c["speaker"] for c in self.clips if c["speaker"]})

    def summary(self) -> str:
        if not self.clips:
            return f"**0 recordings** kept, {len(self.refused)} refused (reasons below)."
        who = (
            f"{self.speakers} speaker(s)"
            if self.speakers
            else "speakers not given (add a 'speaker' column to split by speaker)"
        )
        return (
            f"**{len(self.clips)} recording(s)** kept ({self.minutes:.1f} minutes, {who}), "
            f"{len(self.refused)} refused."
        )


def _split_refusal(text: str) -> tuple[str, str]:
    where, sep, why = text.partition(": ")
    return (where, why) if sep else (text, "")


def _is_table(path: Path) -> bool:
    return path.suffix.lower() in (".csv", ".tsv")


def _apply_table(folder: Path, table: Path) -> list[tuple[str, str]]:
    """Write ``folder/metadata.csv`` from a separate CSV/TSV of transcripts, matching its
    rows to the audio files in ``folder`` by path or by file name. Returns the refusals."""
    from workbench.data.sources._columns import ColumnError, cell, pick_columns

    try:
        text = table.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise GuidedError(f"{table.name}: not UTF-8 text; save it as UTF-8") from None
    delimiter = "\t" if table.suffix.lower() == ".tsv" or "\t" in text.split("\n", 1)[0] else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip() for h in reader.fieldnames or []]
    try:
        cols = pick_columns(header, None)
    except ColumnError as exc:
        message = str(exc).split("; set ")[0]
        raise GuidedError(
            f"{table.name}: {message}. Expected a column naming the audio file (e.g. "
            "file_name) and one with what is said (e.g. transcription)"
        ) from None
    audio = [p for p in folder.rglob("*") if p.is_file() and p.name.lower() != "metadata.csv"]
    by_path = {p.relative_to(folder).as_posix(): p for p in audio}
    by_name: dict[str, list[Path]] = {}
    for p in audio:
        by_name.setdefault(p.name, []).append(p)
    refused, rows, used = [], [], set()
    for number, row in enumerate(reader, 2):
        row = {(k or "").strip(): v for k, v in row.items()}
        given = (cell(row, cols.audio) or "").replace("\\", "/")
        words = cell(row, cols.text)
        if not given:
            refused.append((f"{table.name}:{number}", "no audio file named"))
            continue
        path = by_path.get(given.removeprefix("./"))
        if path is None:
            candidates = by_name.get(PurePosixPath(given).name, [])
            if len(candidates) > 1:
                refused.append((f"{table.name}:{number}", f"{given!r} names several files"))
                continue
            path = candidates[0] if candidates else None
        if path is None:
            refused.append((f"{table.name}:{number}", f"no audio file {given!r} was kept"))
            continue
        if not words:
            refused.append((f"{table.name}:{number}", f"{given}: no transcription"))
            continue
        if path in used:
            refused.append((f"{table.name}:{number}", f"{given}: a second row for this file"))
            continue
        used.add(path)
        rows.append(
            {
                "file_name": path.relative_to(folder).as_posix(),
                "transcription": words,
                "speaker": cell(row, cols.speaker) or "",
            }
        )
    for path in audio:
        if path not in used:
            refused.append(
                (path.relative_to(folder).as_posix(), f"no row of {table.name} names it")
            )
            path.unlink()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["file_name", "transcription", "speaker"])
    writer.writeheader()
    writer.writerows(rows)
    (folder / "metadata.csv").write_text(buffer.getvalue(), encoding="utf-8")
    return refused


def _metadata_speakers(folder: Path) -> dict[str, str]:
    """file name (relative) -> speaker, from the folder's metadata.csv (empty when none)."""
    from workbench.data.sources._columns import SPEAKER_NAMES

    path = folder / "metadata.csv"
    if not path.is_file():
        return {}
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")))
    header = [h.strip() for h in reader.fieldnames or []]
    speaker = next((n for n in SPEAKER_NAMES if n in header), None)
    audio = next((n for n in ("file_name", "path", "audio") if n in header), None)
    if speaker is None or audio is None:
        return {}
    return {
        (r.get(audio) or "").strip(): (r.get(speaker) or "").strip()
        for r in ({(k or "").strip(): v for k, v in row.items()} for row in reader)
    }


def import_recordings(paths: list[str | Path], data_root: Path, name: str) -> Recordings:
    """Her recordings into a fresh folder ``data_root/<name>`` (``-2`` ... when taken).

    Accepted: one zip (an audiofolder with ``metadata.csv`` inside); one zip plus a CSV/TSV
    of transcripts (its rows name the zip's files); audio files plus one CSV. Each file is
    checked as ``workbench data prepare`` will read it.

    Raises:
        GuidedError: nothing uploaded, or a combination that cannot be read (named).
    """
    from workbench.ui.uploads import (
        UploadError,
        extract_zip,
        fresh_folder,
        import_files,
        safe_name,
    )

    items = [Path(p) for p in paths or []]
    if not items:
        raise GuidedError(
            "no recordings yet: upload a zip (with or without a CSV), or audio files and a CSV"
        )
    zips = [p for p in items if p.suffix.lower() == ".zip"]
    tables = [p for p in items if _is_table(p)]
    label = safe_name(name or "my-recordings", "my-recordings")
    refused: list[tuple[str, str]] = []
    if len(zips) > 1:
        raise GuidedError(f"{len(zips)} zip files: upload one zip (and its CSV, if separate)")
    if len(tables) > 1:
        names = ", ".join(t.name for t in tables)
        raise GuidedError(f"{len(tables)} tables ({names}): upload one CSV of transcripts")
    try:
        if zips:
            others = [p for p in items if p not in zips and p not in tables]
            refused += [
                (p.name, "upload audio files inside the zip, or without a zip") for p in others
            ]
            data_root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".guided-", dir=data_root))
            try:
                result = extract_zip(zips[0], staging)
                refused += [_split_refusal(r) for r in result.refused]
                if result.folder is None:
                    return Recordings(None, [], refused)
                folder = fresh_folder(data_root, label)
                folder.rmdir()
                result.folder.rename(folder)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            if tables:
                if (folder / "metadata.csv").is_file():
                    refused.append(
                        ("metadata.csv", f"inside the zip; {tables[0].name} used instead")
                    )
                try:
                    refused += _apply_table(folder, tables[0])
                except BaseException:  # a table that cannot be read: nothing of it is kept
                    shutil.rmtree(folder, ignore_errors=True)
                    raise
            elif not (folder / "metadata.csv").is_file():
                shutil.rmtree(folder, ignore_errors=True)
                raise GuidedError(
                    f"{zips[0].name} holds audio but no transcripts: add the CSV of "
                    "transcripts (file_name,transcription) to the upload, beside the zip"
                )
        else:
            if not tables:
                raise GuidedError(
                    "audio files need a CSV of transcripts (file_name,transcription) beside them"
                )
            if tables[0].suffix.lower() == ".tsv":
                raise GuidedError(
                    f"{tables[0].name}: with loose audio files, give the transcripts as a .csv"
                )
            result = import_files(items, data_root, label)
            refused += [_split_refusal(r) for r in result.refused]
            if result.folder is None:
                return Recordings(None, [], refused)
            folder = result.folder
    except UploadError as exc:
        raise GuidedError(str(exc)) from None
    recordings = read_folder(folder, refused)
    if recordings.folder is None:
        shutil.rmtree(folder, ignore_errors=True)
    return recordings


def read_folder(folder: Path, refused: list[tuple[str, str]] | None = None) -> Recordings:
    """Her dataset folder read as ``workbench data prepare`` reads it (``folder`` None in
    the result when no clip of it can be used); ``refused`` are earlier refusals to keep."""
    from workbench.ui.uploads import check_dataset

    refused = list(refused or [])
    check = check_dataset(folder, samples=10**6)
    refused += [_split_refusal(p) for p in check.problems]
    if not check.n:
        return Recordings(None, [], refused)
    speakers = _metadata_speakers(folder)
    clips = []
    for audio, text in check.samples:
        rel = Path(audio).resolve().relative_to(folder.resolve()).as_posix()
        clip = {"file_name": rel, "text": text, "speaker": speakers.get(rel, "")}
        if rel.startswith(f"{RECORDED}/"):
            clip["recorded"] = True
        clips.append(clip)
    return Recordings(folder, clips, refused, minutes=check.hours * 60)


# --- held-out part ----------------------------------------------------------------------


def hold_out(
    clips: list[dict], fraction: float = DEFAULT_HELD_OUT, seed: int = 0
) -> tuple[list[dict], list[dict], str]:
    """Split her clips into (train, eval, how): whole speakers go to evaluation when every
    clip names a speaker and there are two or more, else single clips. At least one clip
    stays for training; ``fraction`` 0 keeps none for evaluation. Takes recorded in the
    page read the synthetic training carriers, so they always go to training."""
    if not 0 <= fraction < 1:
        raise GuidedError(f"the share kept for evaluation must be from 0 to 0.99, got {fraction}")
    recorded = [c for c in clips if c.get("recorded")]  # read from our carriers: train only
    clips = [c for c in clips if not c.get("recorded")]
    train, held, how = _hold_out(clips, fraction, seed)
    return [*train, *recorded], held, how


def _hold_out(clips: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict], str]:
    n = len(clips)
    if n < 2 or fraction == 0:
        return list(clips), [], "none"
    want = min(n - 1, max(1, round(fraction * n)))
    rng = random.Random(seed)
    speakers = sorted({c["speaker"] for c in clips})
    if all(c["speaker"] for c in clips) and len(speakers) >= 2:
        rng.shuffle(speakers)
        chosen: set[str] = set()
        count = 0
        sizes = {s: sum(1 for c in clips if c["speaker"] == s) for s in speakers}
        for s in speakers[:-1]:  # one speaker at least stays for training
            if count >= want:
                break
            # take a speaker when it brings the held-out count closer to what was asked
            if abs(count + sizes[s] - want) <= abs(count - want) or count == 0:
                chosen.add(s)
                count += sizes[s]
        held = [c for c in clips if c["speaker"] in chosen]
        return [c for c in clips if c["speaker"] not in chosen], held, "by speaker"
    picked = set(rng.sample(range(n), want))
    held = [c for i, c in enumerate(clips) if i in picked]
    return [c for i, c in enumerate(clips) if i not in picked], held, "by clip"


def write_manifests(folder: Path, train: list[dict], held: list[dict]) -> tuple[Path, Path | None]:
    """``folder/train.jsonl`` and ``folder/heldout.jsonl`` (None when nothing is held out);
    ids carry the dataset's name, so her clips are recognised in any report."""

    def write(path: Path, clips: list[dict]) -> Path:
        lines = []
        for c in clips:
            row = {
                "id": f"{folder.name}/{c['file_name']}",
                "audio": c["file_name"],
                "text": c["text"],
            }
            if c["speaker"]:
                row["speaker"] = c["speaker"]
            lines.append(json.dumps(row, ensure_ascii=False))
        write_text_atomic(path, "\n".join(lines) + "\n")
        return path

    eval_path = write(folder / "heldout.jsonl", held) if held else None
    if not held:
        (folder / "heldout.jsonl").unlink(missing_ok=True)
    return write(folder / "train.jsonl", train), eval_path


def held_out_ids(manifest: Path) -> list[str]:
    """The ids of a held-out manifest written by :func:`write_manifests`."""
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [json.loads(line)["id"] for line in lines if line.strip()]


# --- the recipe ---------------------------------------------------------------------------


def _lean(spec: object) -> dict:
    """A spec as data, leaving out the fields still at their defaults."""
    out = {}
    for f in fields(spec):  # type: ignore[arg-type]
        value = getattr(spec, f.name)
        default = f.default_factory() if callable(f.default_factory) else f.default  # type: ignore[misc]
        if f.name == "source" or value != default:
            out[f.name] = to_data(value)
    return out


def guided_recipe(
    *,
    name: str,
    domain: str,
    lexicon: Path,
    templates: Path,
    terms: int,
    train_manifest: Path | None,
    eval_manifest: Path | None,
    steps: int = DEFAULT_STEPS,
    base_model: str = "bundled:tiny.en",
    general: bool = True,
    replay: bool = True,
) -> Recipe:
    """The recipe of the guided start, built from the recipe dataclasses (they check it).

    Her held-out recordings are the first evaluation source (part ``your recordings``);
    synthetic sentences of her terms (held-out carriers, voices training never hears) the
    second (part ``synthetic held-out``): the report gives each its own figures. Training
    takes her other recordings and synthetic sentences of every term.
    """
    from workbench.data.sources.asterisk import SOUNDS
    from workbench.data.sources.pocketsphinx import ROOT
    from workbench.recipe import AsteriskSource

    per_term = max(2, min(8, 600 // max(1, terms)))
    own = domain == OWN_DOMAIN
    synth_templates = str(templates) if own else None
    train_sources: list = []
    if train_manifest is not None:
        train_sources.append(ManifestSource(path=str(train_manifest)))
    train_sources.append(
        SynthSource(
            split="train",
            voices=list(TRAIN_VOICES),
            per_term=per_term,
            min_rate=0.85,
            max_rate=1.15,
            templates=synth_templates,
        )
    )
    eval_sources: list = []
    if eval_manifest is not None:
        eval_sources.append(ManifestSource(path=str(eval_manifest), part=OWN_PART))
    eval_sources.append(
        SynthSource(
            split="heldout",
            voices=list(EVAL_VOICES),
            per_term=1,
            limit=40,
            templates=synth_templates,
            part=SYNTH_PART,
        )
    )
    use_general = general and ROOT.is_dir()
    use_replay = replay and SOUNDS.is_dir()
    data = DataSpec(
        train=train_sources,
        eval=eval_sources,
        general=[PocketsphinxSource()] if use_general else [],
        replay=[AsteriskSource(limit=200, seed=7)] if use_replay else [],
        eval_fraction=0.0,
    )
    return Recipe(
        name=name,
        domain=None if own else domain,
        base_model=base_model,
        data=data,
        lexicon=LexiconSpec(path=str(lexicon)),
        lora=LoraSpec(
            rank=32,
            alpha=64,
            targets=["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"],
            top_encoder_layers=0,
            top_decoder_layers=4,
        ),
        train=TrainSpec(
            max_steps=steps,
            batch_size=8,
            learning_rate=3.0e-3,
            warmup_steps=min(10, steps // 10),
            replay_ratio=0.25 if use_replay else 0.0,
            log_steps=max(1, min(10, steps // 10)),
            save_steps=max(1, min(40, steps // 2)),
        ),
    )


def recipe_text(recipe: Recipe, heldout: int, how: str) -> str:
    """The recipe as YAML: the sections the guided start sets (the pack fills the rest),
    opening with what each evaluation source is."""
    data = {"name": recipe.name}
    if recipe.domain:
        data["domain"] = recipe.domain
    data["base_model"] = recipe.base_model
    sections = {
        "train": [_lean(s) for s in recipe.data.train],
        "eval": [_lean(s) for s in recipe.data.eval],
        "general": [_lean(s) for s in recipe.data.general],
        "replay": [_lean(s) for s in recipe.data.replay],
        "eval_fraction": recipe.data.eval_fraction,
    }
    data["data"] = {k: v for k, v in sections.items() if v != []}
    data["lexicon"] = _lean(recipe.lexicon)
    data["lora"] = _lean(recipe.lora)
    data["train"] = _lean(recipe.train)
    first = (
        f"data.eval[0]: YOUR held-out recordings ({heldout}, held out {how}), never trained on"
        if heldout
        else "no recordings of yours are held out: the evaluation is synthetic speech only"
    )
    head = [
        f"# workbench run {recipe.name}.yaml   {GUIDED_MARK}",
        f"# {first}",
        "# the next eval source: synthetic sentences of your terms, voices training never hears",
    ]
    if recipe.data.general:
        head.append("# data.general: everyday English, to see what adapting costs elsewhere")
    return "\n".join(head) + "\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# --- what is missing, and her results ---------------------------------------------------


def missing_steps(
    domain: str | None, terms: TermsRead | None, recordings: Recordings | None
) -> list[str]:
    """What she must still do before "Adapt", in her words (empty: ready)."""
    out = []
    if not domain:
        out.append("Step 1: choose your domain (or 'my own domain').")
    if terms is None or not terms.terms:
        out.append(
            "Step 2: give your terms: paste them one a line, or upload a CSV/TSV with a "
            "'term' column, then press 'Check my terms'."
        )
    if recordings is None or not recordings.clips:
        out.append(
            "Step 3: add recordings of yours (a zip, a zip and a CSV, or audio files and a "
            "CSV) and press 'Check my recordings'. Without them the model learns from "
            "synthetic voices only and you will not see how it does on your own speech."
        )
    return out


def held_out_note(recordings: Recordings | None, fraction: float) -> str:
    """What the share she chose keeps for evaluation, in words."""
    if recordings is None or not recordings.clips:
        return "Add recordings first: a share of them is kept to test the adapted model on."
    train, held, how = hold_out(recordings.clips, fraction)
    if not held:
        return (
            f"None of your {len(recordings.clips)} recording(s) is kept for evaluation: "
            "the comparison will show synthetic speech only."
        )
    speakers = len({c["speaker"] for c in held if c["speaker"]})
    who = f" ({speakers} speaker(s) training never hears)" if how == "by speaker" else ""
    same = (
        ""
        if how == "by speaker"
        else " Your speakers are not known (or only one), so clips are drawn one by one: "
        "the test is on new recordings of voices training has heard."
    )
    share = len(held) / len(recordings.clips)
    if how == "by speaker" and abs(share - fraction) >= 0.05:
        same = (
            f" Each speaker's recordings stay together, so the nearest to {fraction:.0%} "
            f"is {share:.0%}."
        )
    return (
        f"**{len(held)} of your {len(recordings.clips)} recordings** are kept for evaluation "
        f"{how}{who}; {len(train)} go to training.{same}"
    )


def her_results(report: dict, ids: list[str]) -> tuple[str, list[dict]]:
    """(one-line summary, utterances) of her held-out recordings in a run's report: the
    part ``your recordings`` of a set, with its figures (word and character error rate,
    term recall); for a report without parts, the utterances with her ids."""
    wanted = set(ids)
    figures = None
    utts = []
    for data in report.get("sets", {}).values():
        mine = [u for u in data.get("utterances", []) if u.get("part") == OWN_PART]
        if mine:
            utts += mine
            figures = figures or ((data.get("groups") or {}).get("part") or {}).get(OWN_PART)
    if not utts:
        utts = [
            u
            for data in report.get("sets", {}).values()
            for u in data.get("utterances", [])
            if u.get("id") in wanted
        ]
    if not utts:
        return "", []
    fixed = sum(u["status"] == "fixed" for u in utts)
    broken = sum(u["status"] == "broken" for u in utts)
    head = (
        f"On your {len(utts)} held-out recording(s) the adapted model is better on {fixed}, "
        f"worse on {broken}, the same on {len(utts) - fixed - broken}; "
    )
    if figures is None:
        base = sum(u["base_wer"] for u in utts) / len(utts)
        adapted = sum(u["adapted_wer"] for u in utts) / len(utts)
        return (
            head + f"mean word error rate {100 * base:.1f}% with the base model, "
            f"{100 * adapted:.1f}% adapted.",
            utts,
        )
    b, a = figures["base"], figures["adapted"]
    said = [
        f"word error rate {_pct(b['wer'])} with the base model, {_pct(a['wer'])} adapted",
        f"character error rate {_pct(b.get('cer'))} and {_pct(a.get('cer'))}",
    ]
    if b.get("term_recall") is not None:
        said.append(
            f"your terms written right {_pct(b['term_recall'])} and {_pct(a['term_recall'])} "
            "of the time"
        )
    return head + "; ".join(said) + ".", utts


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def run_length_note(steps: int) -> str:
    """A word on a run much shorter than the default: a trial, not the model to use."""
    if steps >= SHORT_RUN:
        return ""
    return (
        f"{steps} steps is a trial run: it shows the flow and a first change; for a model to "
        f"use, train {DEFAULT_STEPS} steps or more (the default)."
    )


# --- recording in the browser -------------------------------------------------------------


def take_prompt(domain: str, terms: TermsRead, lexicons: Path, number: int) -> tuple[str, str]:
    """(sentence to read, its term): the ``number``-th of her terms, in turn, in one of the
    training carriers that can speak it (the pack's, or the generic ones)."""
    from workbench.data.templates import carriers, fill, load_templates

    if not terms.terms:
        raise GuidedError("give your terms first (step 2): the sentences to read use them")
    lexicon = Lexicon(terms.terms)
    loaded = [t for t in load_templates(templates_for(domain, lexicons)) if t.section == "train"]
    by_category, _ = carriers(loaded, lexicon)
    term = terms.terms[number % len(terms.terms)]
    usable = by_category.get(term.category) or []
    if not usable:
        return term.term, term.term
    rng = random.Random(f"take:{number}")
    return fill(rng.choice(usable), lexicon, rng, fixed=term).written, term.term


def save_take(
    audio: str | Path,
    sentence: str,
    speaker: str,
    folder: Path | None,
    data_root: Path,
    name: str,
) -> Path:
    """Add a take recorded in the page, with the sentence read, to her dataset ``folder``
    (a new one named ``name`` under ``data_root`` when she has none yet); returns the folder.

    The take is decoded, checked (0.5 to 30 seconds, not silent) and written as 16 kHz
    mono WAV under ``recorded/``; ``metadata.csv`` gets its row (columns kept as they are).

    Raises:
        GuidedError: no take, or one too short, too long, silent or unreadable.
    """
    import numpy as np
    import soundfile as sf

    from workbench.audio import SAMPLE_RATE, AudioError, load_audio
    from workbench.ui.uploads import CLIP_MAX_SECONDS, fresh_folder, safe_name

    if not audio:
        raise GuidedError("nothing recorded yet: press the record button, read, then stop")
    if not sentence.strip():
        raise GuidedError("ask for a sentence first, then read it")
    try:
        samples = load_audio(audio, max_seconds=CLIP_MAX_SECONDS)
    except AudioError as exc:
        raise GuidedError(f"the take cannot be used: {exc.reason}") from None
    seconds = len(samples) / SAMPLE_RATE
    if seconds < MIN_TAKE_SECONDS:
        raise GuidedError(f"the take is {seconds:.1f} s long; read the whole sentence")
    if not samples.size or float(np.abs(samples).max()) < 1e-3:
        raise GuidedError("the take is silent: check that the page may use your microphone")
    if folder is None:
        folder = fresh_folder(data_root, safe_name(name or "my-recordings", "my-recordings"))
    (folder / RECORDED).mkdir(exist_ok=True)
    taken = {p.name for p in (folder / RECORDED).glob("take-*.wav")}
    number = next(n for n in range(1, 100_000) if f"take-{n:04d}.wav" not in taken)
    target = folder / RECORDED / f"take-{number:04d}.wav"
    metadata = folder / "metadata.csv"
    before = metadata.read_bytes() if metadata.is_file() else None
    sf.write(target, samples, SAMPLE_RATE, subtype="PCM_16")
    rel = target.relative_to(folder).as_posix()
    try:
        _add_row(folder, rel, sentence.strip(), speaker.strip())
        refused = [why for where, why in read_folder(folder).refused if rel in f"{where} {why}"]
    except BaseException:
        _undo_take(target, metadata, before)
        raise
    if refused:  # read as preparation reads it, the take would be dropped: say so now
        _undo_take(target, metadata, before)
        why = refused[0].split(": ", 1)[-1]
        if "same audio" in why:
            why = "it is the same recording as a take kept before"
        raise GuidedError(f"the take was not kept: {why.replace(str(folder) + '/', '')}")
    return folder


def _undo_take(take: Path, metadata: Path, before: bytes | None) -> None:
    """Her dataset as it was before a take that is not kept."""
    take.unlink(missing_ok=True)
    if before is None:
        metadata.unlink(missing_ok=True)
    else:
        metadata.write_bytes(before)


def _add_row(folder: Path, file_name: str, text: str, speaker: str) -> None:
    """Append a row to ``folder/metadata.csv``, keeping its columns (a speaker column is
    added when the take names a speaker and the file has none)."""
    from workbench.data.sources._columns import AUDIO_NAMES, SPEAKER_NAMES, TEXT_NAMES

    path = folder / "metadata.csv"
    rows: list[dict] = []
    header = ["file_name", "transcription", "speaker"]
    if path.is_file():
        reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")))
        header = [h.strip() for h in reader.fieldnames or []]
        rows = [{(k or "").strip(): v for k, v in row.items()} for row in reader]
    audio = next((n for n in AUDIO_NAMES if n in header), None)
    words = next((n for n in TEXT_NAMES if n in header), None)
    if audio is None or words is None:
        raise GuidedError(
            f"{folder.name}/metadata.csv has no file_name and transcription columns; "
            "upload the recordings again"
        )
    who = next((n for n in SPEAKER_NAMES if n in header), None)
    if who is None and speaker:
        who = "speaker"
        header.append(who)
    row = {audio: file_name, words: text}
    if who is not None:
        row[who] = speaker
    rows.append(row)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, extrasaction="ignore", restval="")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


GUIDED_MARK = "(written by the guided start)"


def guided_run(recipe_path: str | Path | None) -> dict | None:
    """For a run of a recipe the guided start wrote: ``{"heldout": manifest}`` (empty when
    none of her recordings is held out), so that a reloaded page finds her results again;
    None for any other recipe."""
    if not recipe_path:
        return None
    path = Path(recipe_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if GUIDED_MARK not in text.split("\n", 1)[0]:
        return None
    try:
        data = yaml.safe_load(text) or {}
        first = (data.get("data") or {}).get("eval", [])[0]
    except (yaml.YAMLError, AttributeError, IndexError, TypeError):
        return {"heldout": ""}
    held = first.get("path", "") if isinstance(first, dict) else ""
    if first.get("source") != "manifest" or not str(held).endswith("heldout.jsonl"):
        held = ""
    return {"heldout": str(held)}
