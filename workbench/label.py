"""Pseudo-labels: a teacher model transcribes a recipe's untranscribed audio (``workbench label``).

Every clip of ``data.unlabeled`` is checked as every source's audio is, decoded by the
teacher with the project's decoding (the guards of ``eval.decoding``; the lexicon prompt and
boost where asked) and written to a manifest with the teacher's confidence per clip. The
recipe's ``label`` thresholds pick the clips to train on. The output folder holds:

- ``labels.jsonl``: every clip, ``label_source: teacher``, ``confidence``, ``terms``;
- ``kept.jsonl``: the clips that pass the thresholds (point ``data.train`` at it);
- ``summary.json``: the teacher and settings, kept/dropped with reasons, timing, and, with
  ``check`` (a labelled manifest of some of the same audio), the teacher's WER against it
  overall, kept against dropped, per confidence bucket and per candidate threshold.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.data.candidates import PrepareContext, RowProblem, SourceError
from workbench.data.manifest import Utterance, write_manifest
from workbench.data.prepare import DataError, recipe_lexicon
from workbench.data.sources import PREPARERS, UNLABELED_PREPARERS
from workbench.data.validate import Validator
from workbench.lexicon import UNSPACED_LANGUAGES, Lexicon, LexiconError, load_lexicon
from workbench.recipe import LabelSpec, ManifestSource, Recipe
from workbench.safe_write import TargetError, check_target, replace_folder
from workbench.schema import to_data

if TYPE_CHECKING:
    from workbench.models.loading import LoadedModel
    from workbench.transcribe import Transcriber

LABELS, KEPT, SUMMARY = "labels.jsonl", "kept.jsonl", "summary.json"
WRITER = "workbench label"
DEFAULT_TEACHER = "bundled:base"  # the largest bundled model
# Edges of the mean log-probability buckets the WER is reported in.
LOGPROB_EDGES = (-1.0, -0.7, -0.5, -0.3, -0.15)
# Candidate values of label.min_avg_logprob the WER of the kept clips is reported for.
LOGPROB_CANDIDATES = (-1.0, -0.8, -0.6, -0.5, -0.4, -0.3, -0.2)
CHUNK = 32  # clips decoded between progress lines (their audio held at once)


class LabelError(RuntimeError):
    """Labelling that cannot be done: no unlabeled audio, a teacher that does not load."""


@dataclass
class LabelResult:
    """Where the manifests are and what ``summary.json`` says."""

    folder: Path
    summary: dict

    @property
    def kept(self) -> Path:
        return self.folder / KEPT


def default_teacher(recipe: Recipe) -> str:
    """The largest model at hand: ``bundled:base`` when its packages are installed, else the
    recipe's own base model."""
    from workbench.models.bundled import BUNDLED, ModelPackageError, part_paths

    try:
        if all(p.is_file() for p in part_paths(BUNDLED["base"])):
            return DEFAULT_TEACHER
    except ModelPackageError:
        pass
    return recipe.base_model


def check_label_target(
    out: str | Path, *, recipes: list[str | Path] | None = None, force: bool = False
) -> Path:
    """``--out`` under the write rule (:mod:`workbench.safe_write`): a new or empty folder,
    one written by ``workbench label`` (labelled again), or anything else with ``force``;
    never a run, a recipe's folder, the working folder or its parents.

    A folder holding a person's review (``review.json``) is replaced only with ``force``.

    Raises:
        TargetError: the folder is refused, saying what would have been lost.
    """
    review = Path(out) / "review.json"
    if review.is_file() and not force and _written_by_label(Path(out)):
        raise TargetError(
            f"--out {out}: holds a person's review of these pseudo-labels ({review}); "
            "labelling again would lose it. Choose another --out, or pass --force to replace it"
        )
    return check_target(
        out,
        kind="folder",
        made_by_workbench=_written_by_label,
        force=force,
        recipes=recipes or (),
        writer="`workbench label`",
    )


def _written_by_label(folder: Path) -> bool:
    try:
        return json.loads((folder / SUMMARY).read_text()).get("written_by") == WRITER
    except (OSError, ValueError, AttributeError):
        return False


def reasons_to_drop(text: str, confidence: dict[str, float], spec: LabelSpec) -> list[str]:
    """Why a pseudo-label fails the recipe's ``label`` thresholds (none: it is kept)."""
    out = []
    if not text.strip():
        out.append("empty transcript (no speech)")
    value = confidence["avg_logprob"]
    if spec.min_avg_logprob is not None and value < spec.min_avg_logprob:
        out.append(f"avg_logprob {value:.3f} < {spec.min_avg_logprob:g}")
    value = confidence["compression_ratio"]
    if spec.max_compression_ratio is not None and value > spec.max_compression_ratio:
        out.append(f"compression_ratio {value:.2f} > {spec.max_compression_ratio:g}")
    value = confidence["no_speech_prob"]
    if spec.max_no_speech_prob is not None and value > spec.max_no_speech_prob:
        out.append(f"no_speech_prob {value:.3f} > {spec.max_no_speech_prob:g}")
    return out


def reason_kind(reason: str) -> str:
    """A drop reason without its figures, for counting: ``avg_logprob``, ``empty transcript``."""
    return "empty transcript" if reason.startswith("empty") else reason.split(" ")[0]


def _bucket(value: float) -> str:
    edges = (-math.inf, *LOGPROB_EDGES, math.inf)
    for low, high in itertools.pairwise(edges):
        if low <= value < high:
            if low == -math.inf:
                return f"< {high:g}"
            return f"[{low:g}, 0]" if high == math.inf else f"[{low:g}, {high:g})"
    return "?"


def _collect(recipe: Recipe, validator: Validator, ctx: PrepareContext, log) -> tuple:
    """The unlabeled clips that pass the audio checks, and the rows dropped (and why)."""
    utts: list[Utterance] = []
    problems: list[RowProblem] = []
    for index, spec in enumerate(recipe.data.unlabeled):
        log(f"unlabeled: reading source {index + 1} ({spec.source}: {spec.path})")
        try:
            rows = UNLABELED_PREPARERS[spec.source](spec, ctx)
        except (SourceError, OSError) as exc:
            raise LabelError(f"data.unlabeled[{index}]: {exc}") from None
        problems += rows.problems
        for cand in rows.candidates:
            result = validator.check(cand, "unlabeled", need_text=False)
            if isinstance(result, RowProblem):
                problems.append(result)
            else:
                utts.append(result)
    return utts, problems


def _references(check: Path, ctx: PrepareContext) -> dict[str, str]:
    """Transcripts of a labelled manifest (any accepted form), by resolved audio path."""
    if not check.exists():
        raise LabelError(f"--check {check}: no such file or folder")
    try:
        rows = PREPARERS["manifest"](ManifestSource(path=str(check.resolve())), ctx)
    except (SourceError, OSError, ValueError) as exc:
        raise LabelError(f"--check {check}: {exc}") from None
    out = {}
    for cand in rows.candidates:
        if cand.audio is not None and cand.text and cand.text.strip():
            out[str(Path(cand.audio).resolve())] = cand.text
    if not out:
        raise LabelError(f"--check {check}: no row with audio and a transcript")
    return out


def _wer_figures(rows: list[tuple[str, str]], normalize, spaced: bool) -> dict:
    from workbench.evaluate.metrics import score

    if not rows:
        return {"n": 0, "wer": None}
    result = score([r for r, _ in rows], [h for _, h in rows], normalize, spaced=spaced)
    return {"n": len(rows), "wer": round(result.wer, 4), "ref_words": result.ref_words}


def check_report(
    checked: list[tuple[Utterance, str, bool]], spec: LabelSpec, language: str | None
) -> dict:
    """The teacher's WER against the references: overall, for the clips kept and dropped,
    per mean log-probability bucket, and for candidate ``min_avg_logprob`` values (the other
    thresholds as the recipe sets them).

    ``checked``: (pseudo-labelled utterance, reference, kept) triples.
    """
    from workbench.evaluate.metrics import score
    from workbench.evaluate.normalize import get_normalizer

    normalize = get_normalizer(language or "en")
    spaced = (language or "en") not in UNSPACED_LANGUAGES
    pairs = [(ref, u.text) for u, ref, _ in checked]
    per = score([r for r, _ in pairs], [h for _, h in pairs], normalize, spaced=spaced)
    buckets: dict[str, list[tuple[str, str]]] = {}
    for u, ref, _ in checked:
        buckets.setdefault(_bucket(u.confidence["avg_logprob"]), []).append((ref, u.text))
    order = [_bucket(e - 1e-9) for e in LOGPROB_EDGES] + [_bucket(0.0)]
    candidates = []
    for threshold in LOGPROB_CANDIDATES:
        trial = LabelSpec(
            min_avg_logprob=threshold,
            max_compression_ratio=spec.max_compression_ratio,
            max_no_speech_prob=spec.max_no_speech_prob,
        )
        kept = [
            (r, u.text) for u, r, _ in checked if not reasons_to_drop(u.text, u.confidence, trial)
        ]
        candidates.append({"min_avg_logprob": threshold, **_wer_figures(kept, normalize, spaced)})
    return {
        "n": len(checked),
        "all": _wer_figures(pairs, normalize, spaced),
        "kept": _wer_figures([(r, u.text) for u, r, k in checked if k], normalize, spaced),
        "dropped": _wer_figures([(r, u.text) for u, r, k in checked if not k], normalize, spaced),
        "by_avg_logprob": [
            {"bucket": name, **_wer_figures(buckets[name], normalize, spaced)}
            for name in order
            if name in buckets
        ],
        "if_min_avg_logprob": candidates,
        "utterances": [
            {
                "id": u.id,
                "reference": ref,
                "teacher": u.text,
                "wer": round(per.utterance_wer(i), 4),
                "avg_logprob": u.confidence["avg_logprob"],
                "kept": kept,
            }
            for i, (u, ref, kept) in enumerate(checked)
        ],
    }


def _lexicon(recipe: Recipe, lexicon_path: str | Path | None, adapter: Path | None):
    if lexicon_path is not None:
        try:
            return load_lexicon(lexicon_path)
        except LexiconError as exc:
            raise LabelError(f"--lexicon: {exc}") from None
    try:
        lexicon = recipe_lexicon(recipe)
    except DataError as exc:
        raise LabelError(str(exc)) from None
    if lexicon is None and adapter is not None and (adapter / "lexicon.tsv").is_file():
        try:
            lexicon = load_lexicon(adapter / "lexicon.tsv")
        except LexiconError as exc:
            raise LabelError(f"--teacher-adapter: its lexicon.tsv: {exc}") from None
    return lexicon


def teacher_language(recipe: Recipe, loaded) -> str | None:
    """The language the teacher is told: the recipe's; English for an English-only student
    (a multilingual teacher would otherwise detect it per clip); none for an English-only
    teacher, which refuses one."""
    from workbench.models.bundled import ModelPackageError
    from workbench.models.info import ModelLoadError, language_code, model_info

    if not loaded.multilingual:
        if recipe.language and language_code(recipe.language) != "en":
            raise LabelError(
                f"teacher {loaded.spec} is English-only but the recipe's language is "
                f"{recipe.language!r}: choose a multilingual teacher (--teacher)"
            )
        return None
    if recipe.language:
        return recipe.language
    try:
        student = model_info(recipe.base_model)
    except (ModelLoadError, ModelPackageError, OSError, ValueError, KeyError):
        student = None  # checked with the recipe; here, unknown means no language forced
    return "en" if student is not None and not student.multilingual else None


def load_teacher(
    spec: str,
    recipe: Recipe,
    *,
    adapter: str | Path | None = None,
    foreign_adapter: bool = False,
    prompt: str | None = None,
    batch_size: int | None = None,
    names: tuple[str, str] = ("--teacher", "--teacher-adapter"),
) -> tuple[LoadedModel, Transcriber]:
    """The teacher model (its adapter, if any, applied and active) and a transcriber with
    the recipe's evaluation decoding in :func:`teacher_language`'s language.

    ``names`` are what the messages call the model and the adapter (the CLI's flags, or
    where else they came from).

    Raises:
        LabelError: the model or adapter does not load, or the language is refused.
    """
    from workbench.export.adapter_check import AdapterError
    from workbench.models.bundled import ModelPackageError
    from workbench.models.loading import ModelLoadError, load_model
    from workbench.transcribe import AdapterSet, DecodeOptions, Transcriber

    try:
        loaded = load_model(spec)
    except (ModelLoadError, ModelPackageError, OSError, ValueError) as exc:
        raise LabelError(f"{names[0]} {spec}: does not load ({exc})") from None
    try:
        adapters = AdapterSet(loaded, [adapter] if adapter else [], foreign=foreign_adapter)
    except AdapterError as exc:
        raise LabelError(f"{names[1]}: {exc}") from None
    adapters.activate(adapters.names[0] if adapters.names else None)
    options = DecodeOptions(
        decoding=recipe.eval.decoding_options(),
        language=teacher_language(recipe, loaded),
        prompt=prompt,
        max_new_tokens=recipe.eval.max_new_tokens,
        encoder_precision=recipe.eval.encoder_precision,
    )
    try:
        return loaded, Transcriber(loaded, options, batch_size=batch_size or recipe.eval.batch_size)
    except ValueError as exc:
        raise LabelError(f"language: {exc}") from None


def label_audio(
    recipe: Recipe,
    out: str | Path,
    *,
    teacher: str | None = None,
    adapter: str | Path | None = None,
    boost: float | None = None,
    lexicon_path: str | Path | None = None,
    check: str | Path | None = None,
    force: bool = False,
    foreign_adapter: bool = False,
    batch_size: int | None = None,
    recipes: list[str | Path] | None = None,
    log: Callable[[str], None] = print,
) -> LabelResult:
    """Have ``teacher`` transcribe ``recipe.data.unlabeled`` into ``out`` (module docstring).

    ``teacher`` defaults to :func:`default_teacher`; ``adapter`` is applied to it (checked
    as ``transcribe --adapter``); ``boost`` (default: the recipe's ``lexicon.boost``) biases
    decoding toward the lexicon's terms and rewrites their known misrecognitions. The folder
    is built beside ``out`` and swapped in whole: a failure leaves what was there.

    Raises:
        LabelError: nothing to label, a teacher or adapter that does not load, a refused
            ``out``, an unreadable ``check``.
    """
    import torch

    from workbench.decoding.boost import boost_processor
    from workbench.decoding.rewrite import Rewriter
    from workbench.evaluate.normalize import get_normalizer

    if not recipe.data.unlabeled:
        raise LabelError(
            f"recipe {recipe.name!r}: data.unlabeled is empty; list the audio to label, e.g. "
            "data: {unlabeled: [{source: audio, path: my/clips}]}"
        )
    out = Path(out)
    try:
        check_label_target(out, recipes=recipes, force=force)
    except TargetError as exc:
        raise LabelError(str(exc)) from None
    if boost is not None and boost < 0:
        raise LabelError(f"--boost: expected 0 (off) or more, got {boost}")
    adapter = Path(adapter) if adapter is not None else None
    lexicon: Lexicon | None = _lexicon(recipe, lexicon_path, adapter)
    boost = recipe.lexicon.boost if boost is None else boost
    if boost > 0 and lexicon is None:
        raise LabelError(
            "--boost needs a lexicon: --lexicon FILE, the recipe's lexicon, or an adapter "
            "package with its lexicon.tsv"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        ctx = PrepareContext(staging=staging, pack_dir=None, lexicon=lexicon, language=None)
        ctx.log = log
        validator = Validator(staging / "audio", recipe.data.max_duration_s)
        utts, problems = _collect(recipe, validator, ctx, log)
        if not utts:
            shown = "; ".join(str(p) for p in problems[:3])
            raise LabelError(f"data.unlabeled: no usable clip ({len(problems)} refused: {shown})")
        references = _references(Path(check), ctx) if check is not None else {}

        spec = teacher or default_teacher(recipe)
        log(f"teacher: {spec}" + (f" with adapter {adapter}" if adapter else ""))
        prompt = lexicon.prompt_text() if (recipe.lexicon.prompt and lexicon) else None
        loaded, transcriber = load_teacher(
            spec,
            recipe,
            adapter=adapter,
            foreign_adapter=foreign_adapter,
            prompt=prompt,
            batch_size=batch_size,
        )
        language = transcriber.options.language
        spaced = (language or "en") not in UNSPACED_LANGUAGES
        rewrite = None
        if boost > 0 and lexicon is not None:
            processor = boost_processor(lexicon, loaded.processor.tokenizer, boost, spaced=spaced)
            if processor is not None:
                transcriber.add_logits_processor(processor)
            rewrite = Rewriter(lexicon, spaced=spaced)
        normalize = get_normalizer(language or "en")

        from workbench.audio import load_audio

        labelled: list[Utterance] = []
        reasons: dict[str, list[str]] = {}
        seconds = 0.0
        torch_threads = torch.get_num_threads()
        for start in range(0, len(utts), CHUNK):
            chunk = utts[start : start + CHUNK]
            audios = [load_audio(u.audio) for u in chunk]
            began = time.perf_counter()
            results = transcriber.transcribe_windows(audios)
            seconds += time.perf_counter() - began
            for utt, result in zip(chunk, results, strict=True):
                text = rewrite(result.text) if rewrite else result.text
                kept = result.kept
                confidence = {
                    "avg_logprob": round(float(kept.avg_logprob), 4),
                    "compression_ratio": round(float(kept.compression_ratio), 4),
                    "no_speech_prob": round(float(kept.no_speech_prob), 4),
                }
                terms = (
                    [t.term for t in lexicon.find_terms(text, normalize, spaced=spaced)]
                    if lexicon is not None and text
                    else ([] if lexicon is not None else None)
                )
                labelled.append(
                    Utterance(
                        id=utt.id,
                        audio=utt.audio,
                        text=text,
                        duration=utt.duration,
                        lang=language or result.language,
                        label_source="teacher",
                        confidence=confidence,
                        terms=terms,
                    )
                )
                reasons[utt.id] = reasons_to_drop(text, confidence, recipe.label)
            log(f"labelled {min(start + CHUNK, len(utts))}/{len(utts)} clips")

        kept_utts = [u for u in labelled if not reasons[u.id]]
        write_manifest(staging / LABELS, labelled)
        write_manifest(staging / KEPT, kept_utts)
        audio_seconds = sum(u.duration or 0.0 for u in labelled)
        by_reason = Counter(reason_kind(r) for rs in reasons.values() for r in rs)
        checked = [
            (u, references[str(Path(u.audio).resolve())], not reasons[u.id])
            for u in labelled
            if str(Path(u.audio).resolve()) in references
        ]
        summary = {
            "written_by": WRITER,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "recipe": recipe.name,
            "teacher": spec,
            "teacher_adapter": str(adapter.resolve()) if adapter else None,
            "language": language,
            "prompt": prompt is not None,
            "boost": boost,
            "decoding": transcriber.options.decoding.describe(),
            "thresholds": to_data(recipe.label),
            "clips": len(labelled),
            "kept": len(kept_utts),
            "dropped": len(labelled) - len(kept_utts),
            "dropped_by_reason": dict(sorted(by_reason.items())),
            "dropped_clips": [
                {"id": u.id, "reasons": reasons[u.id]} for u in labelled if reasons[u.id]
            ],
            "refused_audio": [str(p) for p in problems],
            "converted_audio": validator.converted,
            "audio_seconds": round(audio_seconds, 2),
            "decode_seconds": round(seconds, 2),
            "clips_per_minute": round(len(labelled) / seconds * 60, 2) if seconds else None,
            "torch_threads": torch_threads,
            "decoding_stats": transcriber.stats.as_dict(),
            "check": (
                {
                    "manifest": str(Path(check).resolve()),
                    **check_report(checked, recipe.label, language),
                }
                if check is not None
                else None
            ),
        }
        (staging / SUMMARY).write_text(json.dumps(summary, indent=2, ensure_ascii=False))
        replace_folder(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return LabelResult(out, summary)
