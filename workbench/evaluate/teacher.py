"""The teacher as a third system of the comparison, beside the student before and after.

A run whose training data a teacher labelled (``workbench label``: manifest rows with
``label_source`` ``teacher`` or ``reviewed``, and ``summary.json`` beside the manifest naming
the teacher) or that distils toward one (``train.teacher``) is judged against that teacher:
how far the student was from it before training, and how much of that gap training closed.
The teacher is another model (``bundled:base`` against ``tiny.en``): it is loaded for the
evaluation only, decodes every set with the same decoding options as the student (the
language ``en`` where it is multilingual and the student English-only), and is freed after.
``eval.teacher: false`` (``workbench eval --no-teacher``) leaves it out.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workbench.audio import load_audio
from workbench.data.manifest import ManifestError, Utterance, read_manifest
from workbench.recipe import ManifestSource, Recipe

SUMMARY = "summary.json"  # what `workbench label` writes beside its manifests
LABEL_WRITER = "workbench label"
TEACHER_MADE = ("teacher", "reviewed")  # label sources a teacher wrote (reviewed: then checked)


@dataclass(frozen=True)
class Teacher:
    """The teacher to decode with, and where the recipe named it."""

    model: str
    adapter: str | None = None
    named_by: str = "train.teacher"  # or the summary.json of a labelled manifest
    labelling: dict | None = None  # the settings it labelled with (from summary.json)

    def describe(self) -> dict:
        return {
            "model": self.model,
            "adapter": self.adapter,
            "named_by": self.named_by,
            "labelling": self.labelling,
        }


def _labelled_by(source: ManifestSource, where: str, log: Callable[[str], None]) -> Teacher | None:
    """The teacher that labelled one ``data.train`` manifest, or None when none did."""
    path = Path(source.path)
    summary_path = path / SUMMARY if path.is_dir() else path.parent / SUMMARY
    rows: list[Utterance] = []
    if path.is_file():
        try:
            rows = read_manifest(path)
        except (ManifestError, OSError, UnicodeDecodeError):
            return None  # not a JSON Lines manifest: no label sources to read
        if not any(u.label_source in TEACHER_MADE for u in rows):
            return None
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = None
    if not isinstance(summary, dict) or summary.get("written_by") != LABEL_WRITER:
        if rows:
            log(
                f"{where} ({path}) holds a teacher's labels but no {SUMMARY} written by "
                "`workbench label` beside it names the teacher: the comparison has no teacher "
                "column for it (keep the labelling folder whole, or set train.teacher)"
            )
        return None
    if not isinstance(summary.get("teacher"), str) or not summary["teacher"]:
        log(f"{where}: {summary_path} names no teacher: no teacher column for it")
        return None
    adapter = summary.get("teacher_adapter")
    return Teacher(
        model=summary["teacher"],
        adapter=adapter if isinstance(adapter, str) and adapter else None,
        named_by=str(summary_path.resolve()),
        labelling={
            key: summary.get(key)
            for key in ("created", "language", "prompt", "boost", "decoding", "thresholds")
        },
    )


def find_teacher(recipe: Recipe, log: Callable[[str], None] = print) -> Teacher | None:
    """The teacher the run learnt from: the one that labelled its training manifests (the
    first, when several did), else ``train.teacher``; None when it learnt from neither."""
    found: list[Teacher] = []
    for i, source in enumerate(recipe.data.train):
        if isinstance(source, ManifestSource):
            teacher = _labelled_by(source, f"data.train[{i}]", log)
            if teacher is not None:
                found.append(teacher)
    if recipe.train.teacher:
        found.append(Teacher(model=recipe.train.teacher))
    distinct = {(t.model, t.adapter) for t in found}
    if len(distinct) > 1:
        others = ", ".join(sorted({t.model for t in found[1:]} - {found[0].model}))
        log(
            f"the training data names more than one teacher; the comparison shows "
            f"{found[0].model} (not {others or 'the same model with another adapter'})"
        )
    return found[0] if found else None


def decode_teacher(
    teacher: Teacher,
    recipe: Recipe,
    sets: dict[str, list[Utterance]],
    *,
    log: Callable[[str], None] = print,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, list[str]], dict[str, float], dict[str, dict], dict]:
    """Decode every set with the teacher, then free it.

    Returns the texts, the decoding seconds and the guards' counts per set, and what the
    report says of the teacher (:meth:`Teacher.describe` plus its language). A teacher that
    cannot be loaded or told the recipe's language is skipped: no texts, and the report
    says why (the student's figures stand without it).
    """
    import torch

    from workbench.decoding.fallback import DecodingStats
    from workbench.label import LabelError, load_teacher

    meta = teacher.describe()
    clips = sum(len(utts) for utts in sets.values())

    def skip(reason: str) -> tuple[dict, dict, dict, dict]:
        log(f"teacher {teacher.model}: left out of the comparison: {reason}")
        if progress is not None:
            progress(clips)  # the count planned for it, so that the progress still ends
        return {}, {}, {}, {**meta, "skipped": reason}

    if teacher.adapter is not None and not Path(teacher.adapter).is_dir():
        return skip(f"its adapter {teacher.adapter} is gone")
    log(
        f"loading the teacher {teacher.model}"
        + (f" with {teacher.adapter}" if teacher.adapter else "")
    )
    try:
        loaded, transcriber = load_teacher(
            teacher.model,
            recipe,
            adapter=teacher.adapter,
            names=("teacher", "teacher adapter"),
        )
    except LabelError as exc:
        gc.collect()
        return skip(str(exc))
    language = transcriber.options.language
    hyps, timing, stats = {}, {}, {}
    try:
        for name, utts in sets.items():
            log(f"{name}: decoding {len(utts)} clips with the teacher {teacher.model}")
            audio = [load_audio(u.audio) for u in utts]
            transcriber.stats = DecodingStats()  # counted per set
            start = time.perf_counter()
            hyps[name] = transcriber.transcribe_arrays(audio, None, progress)
            timing[name] = time.perf_counter() - start
            stats[name] = transcriber.stats.as_dict()
    finally:
        del transcriber, loaded  # the teacher's weights go now, not at return
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return hyps, timing, stats, {**meta, "language": language}
