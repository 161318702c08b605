"""Preparing a recipe's data: every source read, validated and written as manifests.

``prepare_data`` writes ``train.jsonl``, ``eval.jsonl``, ``general.jsonl`` (each when it
has rows) and ``prepared.json`` (counts, hours, every dropped row and why) into one folder.
The folder is keyed by a fingerprint of the data section and of every input, so a second
preparation of unchanged inputs returns at once and a changed source is noticed. It is
built in a temporary sibling and swapped in whole: a failure leaves what was there before.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workbench.data.candidates import PrepareContext, RowProblem, SourceError
from workbench.data.conditions import apply_condition
from workbench.data.independence import Footprint, default_collection, general_overlaps, refusal
from workbench.data.manifest import Utterance, read_manifest, write_manifest
from workbench.data.progress import Count, Tally
from workbench.data.sources import FINGERPRINTS, PREPARERS
from workbench.data.sources.synth import sentences_for
from workbench.data.validate import Validator
from workbench.lexicon import Lexicon, LexiconError, load_lexicon
from workbench.paths import domains_root, workbench_home
from workbench.recipe import Recipe
from workbench.safe_write import TargetError, check_target, replace_folder
from workbench.schema import to_data

PREPARE_VERSION = 3  # 2: layouts, empty-split checks; 3: prepared.json records general_independence
SPLITS = ("train", "eval", "general", "replay", "general_dev")
REPORT = "prepared.json"


class DataError(RuntimeError):
    """Data that cannot be prepared: an unreadable source, or bad rows under ``stop``."""

    def __init__(self, message: str, problems: list[RowProblem] | None = None) -> None:
        self.problems = problems or []
        lines = [message] + [f"  {p}" for p in self.problems]
        super().__init__("\n".join(lines))


@dataclass
class PreparedData:
    """Where the prepared manifests are and what ``prepared.json`` says of them."""

    folder: Path
    report: dict
    cached: bool

    def manifest(self, split: str) -> Path | None:
        path = self.folder / f"{split}.jsonl"
        return path if path.is_file() else None

    def utterances(self, split: str) -> list[Utterance]:
        path = self.manifest(split)
        return read_manifest(path) if path else []


def pack_dir(recipe: Recipe) -> Path | None:
    """The domain pack folder of the recipe, if it names one."""
    return domains_root() / recipe.domain if recipe.domain else None


def recipe_lexicon(recipe: Recipe) -> Lexicon | None:
    """The recipe's lexicon: ``lexicon.path``, else the pack's ``lexicon.tsv``, else None."""
    path = recipe.lexicon.path
    if path is None and (pack := pack_dir(recipe)) and (pack / "lexicon.tsv").is_file():
        path = str(pack / "lexicon.tsv")
    if path is None:
        return None
    try:
        return load_lexicon(path)
    except LexiconError as exc:
        raise DataError(f"lexicon: {exc}") from None


def _fingerprint(recipe: Recipe, ctx: PrepareContext) -> str:
    data = to_data(recipe.data)
    if not data["general_dev"]:
        del data["general_dev"]  # recipes without it keep the data prepared before it existed
    data.pop("unlabeled", None)  # read by `workbench label` only, never prepared
    for split in SPLITS:  # recipes without parts keep the data prepared before parts existed
        for source in data.get(split) or []:
            if source.get("part") is None:
                source.pop("part", None)
    parts = [str(PREPARE_VERSION), json.dumps(data, sort_keys=True)]
    parts.append(recipe.language or "")
    for split in SPLITS:
        for index, spec in enumerate(getattr(recipe.data, split)):
            try:
                parts.append(FINGERPRINTS[spec.source](spec, ctx))
            except (OSError, SourceError, ValueError) as exc:
                raise DataError(f"data.{split}[{index}]: {exc}") from None
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _split_off_eval(
    utts: list[Utterance], fraction: float, seed: int, normalize: Callable[[str], str]
) -> tuple[list[Utterance], list[Utterance], str]:
    """Move about ``fraction`` of ``utts`` to eval, by speaker when there are several."""
    speakers = {u.speaker for u in utts}
    if len(speakers) >= 2 and None not in speakers:
        key, how = (lambda u: u.speaker), "speaker"
    else:
        key, how = (lambda u: normalize(u.text)), "sentence"
    groups: dict[str, list[Utterance]] = {}
    for u in utts:
        groups.setdefault(key(u), []).append(u)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    held: set[str] = set()
    size = 0
    for name in order:
        if size >= fraction * len(utts) or len(held) == len(order) - 1:
            break
        held.add(name)
        size += len(groups[name])
    train = [u for u in utts if key(u) not in held]
    return train, [u for u in utts if key(u) in held], how


SHOWN_PROBLEMS = 10

# What to do about the commonest reasons a split ends empty, by a phrase of the reason.
_FIXES = (
    ("column", "name the columns with audio_column / text_column in the source"),
    (
        "no such file",
        "audio paths are relative to the file that lists them (or absolute): "
        "check that they point at the clips",
    ),
    (
        "same sentence as",
        "every training sentence is also in eval or general: give train "
        "other sentences, or eval other data",
    ),
    (
        "duplicate id",
        "the same clips (or ids) are listed twice, or in two splits: give each split clips of "
        "its own",
    ),
    (
        "same audio as",
        "the same audio is listed twice, or in two splits: give each split clips of its own",
    ),
    ("cannot decode", "the files are not audio soundfile can read: convert them to WAV or FLAC"),
    ("too low", "the audio is below 8 kHz: use recordings at 8 kHz or more"),
    ("longer than", "the clips are over data.max_duration_s: cut them into shorter utterances"),
    ("text", "every row needs a transcript: check the text column"),
)


def empty_split_error(split: str, problems: list[RowProblem]) -> DataError:
    """The error for a split the recipe asked for that ended with no utterance."""
    if not problems:
        message = (
            f"data.{split} ended empty: its sources gave no rows at all; point data.{split} "
            "at a file or folder that lists utterances"
        )
    else:
        first = problems[0].reason
        fix = next((f for phrase, f in _FIXES if phrase in first), "fix the rows listed below")
        more = len(problems) - SHOWN_PROBLEMS
        message = (
            f"data.{split} ended empty: all {len(problems)} row(s) were dropped; {fix}. "
            f"The first problem: {problems[0]}"
            + (f" (the first {SHOWN_PROBLEMS} of {len(problems)} are below)" if more > 0 else "")
        )
    return DataError(message, problems[:SHOWN_PROBLEMS])


def _summary(utts: list[Utterance]) -> dict:
    return {
        "n": len(utts),
        "hours": round(sum(u.duration or 0.0 for u in utts) / 3600, 4),
        "speakers": len({u.speaker for u in utts if u.speaker}),
    }


def check_prepare_target(out: str | Path, *, recipes: list[str | Path] | None = None) -> Path:
    """``--out`` checked against the write rule (:mod:`workbench.safe_write`): a new or
    empty folder, or one written by ``data prepare``; never a run, a recipe's folder, the
    working folder or its parents. (``--force`` means "prepare again", not "replace".)

    Raises:
        TargetError: the folder is refused, saying what would have been lost.
    """
    return check_target(
        out,
        kind="folder",
        made_by_workbench=lambda p: (p / REPORT).is_file(),
        recipes=recipes or (),
        writer="`workbench data prepare`",
        forceable=False,
    )


def prepare_data(
    recipe: Recipe,
    out: str | Path | None = None,
    *,
    force: bool = False,
    log: Callable[[str], None] = print,
    progress: Callable[[Count], None] | None = None,
) -> PreparedData:
    """Prepare the recipe's train, eval and general sets (see the module docstring).

    ``progress`` gets the counts of clips synthesised and prepared, with the time left
    (:mod:`workbench.data.progress`); the log gets them as lines every few seconds.

    Raises:
        DataError: a source cannot be read; or, with ``data.on_bad_rows: stop``, any bad row
            (all of them listed). Nothing is written then.
    """
    lexicon = recipe_lexicon(recipe)
    ctx = PrepareContext(
        staging=Path("."),
        pack_dir=pack_dir(recipe),
        lexicon=lexicon,
        language=recipe.language,
        log=log,
        progress=progress,
    )
    if out is not None:
        try:
            check_prepare_target(out)
        except TargetError as exc:
            raise DataError(str(exc)) from None
    fingerprint = _fingerprint(recipe, ctx)
    folder = Path(out) if out else workbench_home() / "data" / f"{recipe.name}-{fingerprint[:12]}"
    report_path = folder / REPORT
    if report_path.is_file() and not force:
        report = json.loads(report_path.read_text())
        if report.get("fingerprint") == fingerprint:
            for split in SPLITS:
                if getattr(recipe.data, split) and not report["splits"][split]["n"]:
                    problems = [
                        RowProblem(*p.split(": ", 1)) for p in report["splits"][split]["problems"]
                    ]
                    raise empty_split_error(split, problems)
            return PreparedData(folder, report, cached=True)
    if folder.exists() and not report_path.is_file() and any(folder.iterdir()):
        raise DataError(
            f"{folder} is not empty and was not written by `workbench data prepare`; "
            "refusing to write into it. Choose another --out folder"
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        ctx.staging = staging
        report = _prepare_into(recipe, ctx, staging, fingerprint)
        _swap_in(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PreparedData(folder, report, cached=False)


def _prepare_into(recipe: Recipe, ctx: PrepareContext, staging: Path, fingerprint: str) -> dict:
    from workbench.evaluate.normalize import get_normalizer  # heavy: only when preparing

    normalize = get_normalizer(recipe.language or "en")
    validator = Validator(staging / "audio", recipe.data.max_duration_s)
    splits: dict[str, list[Utterance]] = {}
    dropped: dict[str, list[RowProblem]] = {s: [] for s in SPLITS}
    # Held-out synthesis must avoid the training sentences and their term combinations;
    # those are known from the text alone, before any audio is made.
    for index, spec in enumerate(recipe.data.train):
        if spec.source == "synth":
            try:
                sentences = sentences_for(spec, ctx)
            except SourceError as exc:
                raise DataError(f"data.train[{index}]: {exc}") from None
            ctx.avoid_sentences.update(s.written.casefold() for s in sentences)
            ctx.avoid_term_sets.update(frozenset(s.terms) for s in sentences if len(s.terms) > 1)
    # Sets that measure come first: a clip or id found in two splits is dropped from train.
    footprints: list[Footprint] = []
    for split in ("eval", "general", "general_dev", "replay", "train"):
        utts: list[Utterance] = []
        for index, spec in enumerate(getattr(recipe.data, split)):
            ctx.log(f"{split}: reading source {index + 1} ({spec.source})")
            of = len(getattr(recipe.data, split))
            ctx.where = f"{split} source {index + 1} of {of}, {spec.source}"
            try:
                rows = PREPARERS[spec.source](spec, ctx)
            except (SourceError, OSError) as exc:
                raise DataError(f"data.{split}[{index}]: {exc}") from None
            footprints.append(print_of(split, index, spec, rows.candidates))
            if spec.condition is not None:
                try:
                    rows.candidates = apply_condition(rows.candidates, spec.condition, ctx)
                except (SourceError, ValueError) as exc:
                    raise DataError(f"data.{split}[{index}].condition: {exc}") from None
            dropped[split] += rows.problems
            tally = Tally("prepared", len(rows.candidates), ctx.where, ctx.log, ctx.progress)
            for number, cand in enumerate(rows.candidates, start=1):
                if spec.part is not None:
                    cand.part = spec.part
                result = validator.check(cand, split)
                if isinstance(result, RowProblem):
                    dropped[split].append(result)
                else:
                    utts.append(result)
                tally(number)
        splits[split] = utts

    independence = _check_independence(recipe, footprints, bool(splits["general"]), ctx)

    auto_split = None
    if not recipe.data.eval and recipe.data.eval_fraction > 0 and len(splits["train"]) >= 2:
        splits["train"], splits["eval"], auto_split = _split_off_eval(
            splits["train"], recipe.data.eval_fraction, recipe.train.seed, normalize
        )
        ctx.log(f"eval: {len(splits['eval'])} utterances split off train ({auto_split}-disjoint)")

    # Never the same sentence in training and in a set that measures the result.
    held_out = {normalize(u.text) for s in ("eval", "general", "general_dev") for u in splits[s]}
    kept = []
    for u in splits["train"]:
        if normalize(u.text) in held_out:
            dropped["train"].append(
                RowProblem(u.id, "same sentence as an eval or general utterance")
            )
        else:
            kept.append(u)
    splits["train"] = kept

    problems = [p for s in SPLITS for p in dropped[s]]
    if problems and recipe.data.on_bad_rows == "stop":
        raise DataError(
            f"{len(problems)} bad row(s) and data.on_bad_rows is 'stop'; "
            "fix them or set it to 'drop'",
            problems,
        )
    for split in SPLITS:
        if getattr(recipe.data, split) and not splits[split]:
            raise empty_split_error(split, dropped[split])
    for split, utts in splits.items():
        if utts:
            write_manifest(staging / f"{split}.jsonl", utts)
    report = {
        "fingerprint": fingerprint,
        "recipe": recipe.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "eval_split_from_train": auto_split,
        "general_independence": independence,
        "converted_audio": validator.converted,
        "splits": {
            s: {
                **_summary(splits[s]),
                "dropped": len(dropped[s]),
                "problems": [str(p) for p in dropped[s]],
            }
            for s in SPLITS
        },
    }
    (staging / REPORT).write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return report


def print_of(split: str, index: int, spec: object, candidates: list) -> Footprint:
    """The recordings, speakers and collections that one source gave one split."""
    footprint = Footprint(split, index, spec.source)  # type: ignore[attr-defined]
    fallback = default_collection(spec)
    for cand in candidates:
        footprint.add(cand, fallback)
    return footprint


def _check_independence(
    recipe: Recipe, footprints: list[Footprint], has_general: bool, ctx: PrepareContext
) -> dict | None:
    """Refuse a general set that shares anything with train or replay, unless allowed.

    Returns what ``prepared.json`` records (None without a general set).
    """
    if not has_general:
        return None
    overlaps = general_overlaps(footprints)
    if overlaps and not recipe.data.allow_dependent_general:
        raise DataError(refusal(overlaps))
    for overlap in overlaps:
        ctx.log(f"general: NOT INDEPENDENT (data.allow_dependent_general): {overlap}")
    return {"independent": not overlaps, "overlaps": overlaps}


def _swap_in(staging: Path, folder: Path) -> None:
    """Replace ``folder`` by ``staging`` (two renames; the old copy is removed last)."""
    replace_folder(staging, folder)
