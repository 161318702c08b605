"""The side-by-side evaluation: base and adapted model on the same audio, same decoding.

One model is loaded and the adapter applied without merging; the base model is the same
weights with the adapter disabled. Both decode with the same settings and are scored with
the same normalizer. The result is ``report.json`` (a contract, DESIGN.md section 9),
``utterances.csv`` and ``report.html``.
"""

from __future__ import annotations

import csv
import dataclasses
import gc
import time
from collections.abc import Callable
from pathlib import Path

from peft import PeftModel

from workbench.audio import SAMPLE_RATE, load_audio
from workbench.data.manifest import Utterance
from workbench.data.prepare import PreparedData, prepare_data, recipe_lexicon
from workbench.decoding.boost import boost_processor
from workbench.decoding.gate import GATED, gate
from workbench.decoding.snap import lexicon_rewriter
from workbench.decoding.tuning import tune_boost as tune_boost_on_dev
from workbench.evaluate.groups import SYSTEMS, group_figures, group_lines
from workbench.evaluate.metrics import SetScore, score, wer_difference_interval
from workbench.evaluate.normalize import get_normalizer
from workbench.evaluate.teacher import decode_teacher, find_teacher
from workbench.evaluate.terms import TermRecall, term_false_alarms, term_recall
from workbench.export.adapter_check import (
    base_digest,
    check_adapter_fits,
    check_base_untouched,
    read_adapter_info,
    touches_encoder,
)
from workbench.lexicon import UNSPACED_LANGUAGES, Lexicon, load_lexicon
from workbench.models.info import model_fingerprint
from workbench.models.loading import LoadedModel, load_model
from workbench.models.precision import encoder_precision
from workbench.recipe import DataSpec, ManifestSource, Recipe
from workbench.runs import write_json_atomic
from workbench.transcribe import DecodeOptions, EncoderCache, Transcriber


class EvalError(RuntimeError):
    """An evaluation that cannot run: no sets to evaluate."""


def _figures(s: SetScore, recall: TermRecall | None, seconds: float, audio_s: float) -> dict:
    return {
        "wer": round(s.wer, 4),
        "cer": round(s.cer, 4),
        "substitutions": s.substitutions,
        "deletions": s.deletions,
        "insertions": s.insertions,
        "ref_words": s.ref_words,
        "term_recall": None if recall is None or recall.recall is None else round(recall.recall, 4),
        "term_recall_by_category": {}
        if recall is None
        else {k: round(v, 4) for k, v in recall.category_recall().items()},
        "rtf": round(seconds / audio_s, 4) if audio_s else None,
    }


def _term_figures(
    refs: list[str],
    texts: list[str],
    s: SetScore,
    lexicon: Lexicon,
    normalize: Callable[[str], str],
    spaced: bool,
) -> dict:
    """Term false alarms (terms written that the reference lacks) and term precision."""
    fa = term_false_alarms(refs, texts, lexicon, normalize, spaced=spaced)
    return {
        "term_false_alarms": fa.false_alarms,
        "term_false_alarms_per_1k_words": round(1000 * fa.false_alarms / s.ref_words, 3)
        if s.ref_words
        else None,
        "term_precision": None if fa.precision is None else round(fa.precision, 4),
        "term_false_alarms_by_term": dict(fa.by_term.most_common()),
    }


def compare_set(
    utts: list[Utterance],
    hyps: dict[str, list[str]],
    timing: dict[str, float],
    normalize: Callable[[str], str],
    lexicon: Lexicon | None,
    spaced: bool,
    before_rewrite: dict[str, tuple[list[str], int]] | None = None,
) -> dict:
    """Figures and per-utterance detail for one set. ``hyps`` maps system name to texts;
    it holds ``base`` and ``adapted`` and, with prompting, ``base_prompt``/``adapted_prompt``,
    with the lexicon boost ``base_boost``/``adapted_boost``, with a lexicon the term gate
    ``adapted_gated`` (and with the boost ``adapted_gated_boost``,
    :mod:`workbench.decoding.gate`), and with a teacher ``teacher``
    (:mod:`workbench.evaluate.teacher`). ``before_rewrite`` maps a boosted
    system to its texts before the misrecognition rewrite and the number of rewrites."""
    refs = [u.text for u in utts]
    audio_s = sum(u.duration or 0.0 for u in utts)
    scores = {name: score(refs, texts, normalize, spaced=spaced) for name, texts in hyps.items()}
    recalls = {
        name: term_recall(refs, texts, lexicon, normalize, spaced=spaced) if lexicon else None
        for name, texts in hyps.items()
    }
    figures = {name: _figures(scores[name], recalls[name], timing[name], audio_s) for name in hyps}
    if lexicon:
        for name, texts in hyps.items():
            figures[name].update(
                _term_figures(refs, texts, scores[name], lexicon, normalize, spaced)
            )
        for name, (texts, rewrites) in (before_rewrite or {}).items():
            s = score(refs, texts, normalize, spaced=spaced)
            r = term_recall(refs, texts, lexicon, normalize, spaced=spaced)
            step = _term_figures(refs, texts, s, lexicon, normalize, spaced)
            step.pop("term_false_alarms_by_term")
            figures[name]["rewrites"] = rewrites
            figures[name]["before_rewrite"] = {
                "wer": round(s.wer, 4),
                "term_recall": None if r.recall is None else round(r.recall, 4),
                **step,
            }
    extra = [
        n
        for n in ("base_boost", "adapted_boost", "adapted_gated", "adapted_gated_boost", "teacher")
        if n in hyps
    ]
    base, adapted = scores["base"], scores["adapted"]
    diff, low, high = wer_difference_interval(base, adapted)
    status = []
    utterances = []
    for i, utt in enumerate(utts):
        b, a = base.errors[i], adapted.errors[i]
        state = "fixed" if a < b else "broken" if a > b else "unchanged"
        status.append(state)
        row = {
            "id": utt.id,
            "audio": utt.audio,
            "reference": utt.text,
            "base": hyps["base"][i],
            "adapted": hyps["adapted"][i],
            "base_wer": round(base.utterance_wer(i), 4),
            "adapted_wer": round(adapted.utterance_wer(i), 4),
            "status": state,
            "base_alignment": base.alignments[i],
            "adapted_alignment": adapted.alignments[i],
        }
        if utt.part:
            row["part"] = utt.part
        for name in extra:
            row[name] = hyps[name][i]
            row[f"{name}_wer"] = round(scores[name].utterance_wer(i), 4)
        if lexicon:
            said = [t.term for t in lexicon.find_terms(utt.text, normalize, spaced=spaced)]
            got = {
                name: {t.term for t in lexicon.find_terms(hyps[name][i], normalize, spaced=spaced)}
                for name in ("base", "adapted", *extra)
            }
            row["terms"] = said
            row["terms_missed_by_base"] = [t for t in said if t not in got["base"]]
            row["terms_missed_by_adapted"] = [t for t in said if t not in got["adapted"]]
            row["terms_recovered"] = [
                t for t in said if t not in got["base"] and t in got["adapted"]
            ]
            for name in extra:
                row[f"terms_missed_by_{name}"] = [t for t in said if t not in got[name]]
        utterances.append(row)
    out = {
        "n": len(utts),
        "audio_seconds": round(audio_s, 2),
        **figures,
        "wer_difference": {"value": round(diff, 4), "ci95": [round(low, 4), round(high, 4)]},
        "fixed": status.count("fixed"),
        "broken": status.count("broken"),
        "unchanged": status.count("unchanged"),
        "utterances": utterances,
    }
    if "teacher" in hyps:
        out["teacher_gap"] = teacher_gap(base.wer, adapted.wer, scores["teacher"].wer)
    groups = group_figures(utts, hyps, normalize, lexicon, spaced)
    if groups:
        out["groups"] = groups
    if lexicon and recalls["base"] is not None:
        out["terms_missed_by_base"] = dict(recalls["base"].missed.most_common())
    return out


def teacher_gap(base_wer: float, adapted_wer: float, teacher_wer: float) -> dict:
    """How far the student was from its teacher (WER points, positive: behind it) before
    and after training, and the share of that gap training closed (None when the student
    was not behind the teacher to begin with)."""
    before, after = base_wer - teacher_wer, adapted_wer - teacher_wer
    return {
        "before": round(before, 4),
        "after": round(after, 4),
        "closed": round((before - after) / before, 4) if before > 0 else None,
    }


def _sets(
    recipe: Recipe, data: list[str] | None, log: Callable[[str], None]
) -> tuple[dict[str, list[Utterance]], dict | None, list[Utterance]]:
    """The sets to evaluate, what preparation found of the general set's independence, and
    ``data.general_dev`` (not evaluated: it holds the boost tuning's constraint)."""
    if data:
        sets = {}
        for path in data:
            one = dataclasses.replace(
                recipe,
                data=DataSpec(
                    eval=[ManifestSource(path=str(Path(path).resolve()))], eval_fraction=0
                ),
            )
            name = Path(path).stem or "data"
            prepared = prepare_data(one, log=log)
            _say_dropped(prepared, "eval", name, log)
            sets[name] = prepared.utterances("eval")
        return sets, None, []
    prepared = prepare_data(recipe, log=log)
    for name in ("eval", "general"):
        _say_dropped(prepared, name, name, log)
    sets = {
        name: prepared.utterances(name) for name in ("eval", "general") if prepared.utterances(name)
    }
    independence = prepared.report.get("general_independence")
    guarded = recipe.train.max_general_loss_increase is not None and not recipe.data.general_dev
    if independence is not None and guarded:
        # Allowed by data.allow_dependent_general (Recipe.check refuses it otherwise).
        independence = {
            "independent": False,
            "overlaps": [
                *independence["overlaps"],
                "the forgetting guard (train.max_general_loss_increase) stopped training "
                "on this set's loss: it chose what the set reports (give data.general_dev)",
            ],
        }
    return sets, independence, prepared.utterances("general_dev")


def _say_dropped(prepared: PreparedData, split: str, name: str, log: Callable[[str], None]) -> None:
    """One line per row the evaluation leaves out (bad audio, empty text, ...), with why."""
    problems = prepared.report["splits"].get(split, {}).get("problems", [])
    if problems:
        log(f"{name}: left out {len(problems)} row(s):")
        for problem in problems:
            log(f"  {problem}")


def evaluate_adapter(
    recipe: Recipe,
    adapter: str | Path,
    *,
    data: list[str] | None = None,
    prompt: bool | None = None,
    boost: float | None = None,
    lexicon_path: str | Path | None = None,
    foreign: bool = False,
    tune_boost: bool | None = None,
    teacher: bool | None = None,
    log: Callable[[str], None] = print,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Decode every set with base and adapted model; return the report (see module doc).

    ``prompt`` (default: the recipe's ``lexicon.prompt``) adds both systems decoded with the
    lexicon as prompt, so prompting alone can be compared with training. ``boost`` (default:
    the recipe's ``lexicon.boost``) above 0, or the recipe's ``lexicon.near_miss`` above 0, adds
    both systems with lexicon-aware decoding: the boost, then the misrecognition rewrite and
    the near-miss rewrite (``base_boost``, ``adapted_boost``; at boost 0 the plain systems'
    texts rewritten, no decoding of their own). ``lexicon_path`` takes a
    lexicon other than the recipe's. ``tune_boost`` (default: the recipe's
    ``lexicon.tune_boost`` unless ``boost`` is given) chooses the boost on a dev part of the
    eval set, which is then not scored (:mod:`workbench.decoding.tuning`). ``foreign``: the
    adapter was made elsewhere (no workbench marker; see :func:`check_adapter_fits`).
    ``teacher`` (default: the recipe's ``eval.teacher``) adds the teacher that labelled the
    training data or that ``train.teacher`` names as a third system, ``teacher``, decoded
    after the student with the same options (:mod:`workbench.evaluate.teacher`). The
    base weights are proved bit for bit untouched by loading the adapter before any base
    figure is computed. ``progress(done, total)`` counts clips decoded over all sets and
    systems (called with 0 before the first, then after each batch).
    """
    adapter = Path(adapter)
    info = read_adapter_info(adapter)  # refuse a broken or pickled package before any work
    # An adapter that leaves the encoder alone gives base and adapted the same encoder
    # outputs: compute them once per clip (most of a CPU's decoding time).
    share_encoder = not touches_encoder(info["config"])
    sets, independence, general_dev = _sets(recipe, data, log)
    if not sets:
        raise EvalError(
            f"recipe {recipe.name!r} has no eval or general data, and no --data was given"
        )
    lexicon = load_lexicon(lexicon_path) if lexicon_path else recipe_lexicon(recipe)
    prompt = recipe.lexicon.prompt if prompt is None else prompt
    if tune_boost is None:
        tune_boost = recipe.lexicon.tune_boost and boost is None
    if tune_boost and data:
        raise EvalError("tuning the boost needs the recipe's eval and general sets, not --data")
    boost = recipe.lexicon.boost if boost is None else boost
    near_miss = recipe.lexicon.near_miss
    teacher = recipe.eval.teacher if teacher is None else teacher
    teacher_spec = find_teacher(recipe, log) if teacher else None
    loaded = load_model(recipe.base_model)
    base_sha = model_fingerprint(recipe.base_model, loaded.path)
    check_adapter_fits(adapter, recipe.base_model, loaded.model, base_sha, foreign=foreign)
    before = base_digest(loaded.model)
    loaded.model = PeftModel.from_pretrained(loaded.model, str(adapter)).eval()
    check_base_untouched(loaded.model, before, adapter)
    # bf16 on an adapted encoder would merge the adapter into bf16 weights and lose precision
    # when unmerging it for the base model: auto keeps such an encoder in fp32.
    precision = recipe.eval.encoder_precision
    if precision == "auto" and not share_encoder:
        precision = "fp32"
    decoding = recipe.eval.decoding_options()
    options = DecodeOptions(
        decoding=decoding,
        language=recipe.language,
        max_new_tokens=recipe.eval.max_new_tokens,
        encoder_precision=precision,
    )
    mergeable = share_encoder or precision == "fp32"
    language = recipe.language or "en"
    normalize = get_normalizer(language)
    spaced = language not in UNSPACED_LANGUAGES
    tuning = None
    if tune_boost:  # on the adapted model as loaded, before any merge
        constraint = {"general_dev": general_dev} if general_dev else {}
        tuning, sets = tune_boost_on_dev(
            loaded, options, {**sets, **constraint}, lexicon, normalize, spaced,
            grid=recipe.lexicon.boost_grid, batch_size=recipe.eval.batch_size, log=log,
            near_miss=near_miss,
        )  # fmt: skip
        boost = tuning.chosen
    # Base systems first (adapter disabled), then adapted ones, with the adapter merged into
    # the weights when that gives the same output (checked on logits), for speed.
    systems = {"base": (False, None)}
    text = lexicon.prompt_text() if (prompt and lexicon) else None
    if text:
        systems["base_prompt"] = (False, text)
    processor = rewriter = None
    if (boost or near_miss) and lexicon:
        tokenizer = loaded.processor.tokenizer
        processor = boost_processor(lexicon, tokenizer, boost, spaced=spaced) if boost else None
        rewriter = lexicon_rewriter(lexicon, tokenizer, spaced=spaced, near_miss=near_miss)
        systems["base_boost"] = (False, None)
    systems["adapted"] = (True, None)
    if text:
        systems["adapted_prompt"] = (True, text)
    if rewriter is not None:
        systems["adapted_boost"] = (True, None)
    report: dict = {
        "recipe": recipe.name,
        "base_model": recipe.base_model,
        "adapter": str(adapter.resolve()),
        "decoding": {
            "num_beams": decoding.beam_size,
            "language": recipe.language,
            "normalizer": language,
            "boost": boost if processor is not None else 0,
            "near_miss": near_miss if rewriter is not None and rewriter.snap is not None else 0,
            **decoding.describe(),
            "summary": decoding.summary(),
        },
        "sets": {},
    }
    if tuning is not None:
        report["boost_tuning"] = tuning.as_dict()
    merged = False
    passes = len(systems) + (teacher_spec is not None)
    total, clips_done = passes * sum(len(utts) for utts in sets.values()), 0

    def decoded(n: int) -> None:
        nonlocal clips_done
        clips_done += n
        if progress is not None:
            progress(clips_done, total)

    decoded(0)
    done: dict[str, tuple] = {}  # per set: hyps, timing, before_rewrite, stats, gated
    for name, utts in sets.items():
        audio = [load_audio(u.audio) for u in utts]
        for u, a in zip(utts, audio, strict=True):
            u.duration = u.duration or len(a) / SAMPLE_RATE
        hyps, timing, before_rewrite, stats = {}, {}, {}, {}
        cache = EncoderCache() if share_encoder else None
        for system, (with_adapter, prompt_text) in systems.items():
            boosted = system.endswith("_boost")
            if boosted and processor is None:
                # Boost 0: the plain system's texts, rewritten; no decoding of its own.
                plain = system.removesuffix("_boost")
                rewritten = [rewriter.rewrite(t) for t in hyps[plain]]
                hyps[system] = [t for t, _ in rewritten]
                before_rewrite[system] = (hyps[plain], sum(n for _, n in rewritten))
                timing[system], stats[system] = timing[plain], stats[plain]
                decoded(len(utts))
                continue
            if with_adapter and not merged and mergeable:
                merged = _merge_if_same(loaded, audio[:2])
            elif not with_adapter and merged:
                loaded.model.unmerge_adapter()
                merged = False
            log(f"{name}: decoding {len(utts)} clips with the {system.replace('_', ' + ')} model")
            transcriber = Transcriber(
                loaded,
                dataclasses.replace(options, prompt=prompt_text),
                batch_size=recipe.eval.batch_size,
                logits_processor=[processor] if boosted and processor is not None else (),
            )
            saved = cache.seconds if (cache is not None and cache.outputs) else 0.0
            start = time.perf_counter()
            if with_adapter:
                hyps[system] = transcriber.transcribe_arrays(audio, cache, decoded)
            else:
                with loaded.model.disable_adapter():
                    hyps[system] = transcriber.transcribe_arrays(audio, cache, decoded)
            # A system that reused the encoder outputs is charged their cost, so each RTF
            # is what that system would take on its own.
            if boosted and rewriter is not None:
                raw = hyps[system]
                rewritten = [rewriter.rewrite(t) for t in raw]
                hyps[system] = [t for t, _ in rewritten]
                before_rewrite[system] = (raw, sum(n for _, n in rewritten))
            timing[system] = time.perf_counter() - start + saved
            stats[system] = transcriber.stats.as_dict()
            _say_guards(name, system, stats[system], log)
        gated: dict[str, int] = {}
        for system, (base_side, adapted_side) in GATED.items():
            if lexicon is None or base_side not in hyps or adapted_side not in hyps:
                continue
            # Both sides together: the adapted side only where it changes a term. No extra
            # decoding; charged both sides' time, the shared encoder pass once.
            hyps[system], took = gate(
                hyps[base_side], hyps[adapted_side], lexicon, normalize, spaced=spaced
            )
            saved = cache.seconds if cache is not None else 0.0
            timing[system] = timing[base_side] + timing[adapted_side] - saved
            gated[system] = sum(took)
        done[name] = (hyps, timing, before_rewrite, stats, gated)
    report["decoding"]["adapted_merged"] = merged
    report["decoding"]["encoder_shared"] = share_encoder
    report["decoding"]["encoder_precision"] = encoder_precision(loaded.model)
    if merged:
        loaded.model.unmerge_adapter()
    if teacher_spec is not None:
        # After the student, one model in memory at a time on a small machine.
        del loaded, transcriber, cache
        gc.collect()
        texts, seconds, counts, report["teacher"] = decode_teacher(
            teacher_spec, recipe, sets, log=log, progress=decoded
        )
        for name, (hyps, timing, _, stats, _) in done.items():
            if name in texts:
                hyps["teacher"], timing["teacher"] = texts[name], seconds[name]
                stats["teacher"] = counts[name]
    for name, utts in sets.items():
        hyps, timing, before_rewrite, stats, gated = done[name]
        report["sets"][name] = compare_set(
            utts, hyps, timing, normalize, lexicon, spaced, before_rewrite
        )
        for system, counts in stats.items():
            report["sets"][name][system]["decoding"] = counts
        for system, taken in gated.items():
            report["sets"][name][system]["adapted_taken"] = taken
        if name == "general" and independence is not None:
            # Kept with data.allow_dependent_general: its figures measure what training saw.
            report["sets"][name]["independent"] = independence["independent"]
            if not independence["independent"]:
                report["sets"][name]["not_independent_because"] = independence["overlaps"]
    return report


def _say_guards(name: str, system: str, counts: dict, log: Callable[[str], None]) -> None:
    """One line when the guards acted: windows that fell back or were dropped."""
    if counts["fell_back"] or counts["dropped_no_speech"]:
        by = ", ".join(f"{k}: {v}" for k, v in counts["fell_back_by_temperature"].items())
        log(
            f"{name}: {system.replace('_', ' + ')}: {counts['fell_back']} of "
            f"{counts['windows']} windows fell back ({by}); "
            f"{counts['dropped_no_speech']} dropped as silence"
        )


def _merge_if_same(loaded: LoadedModel, audio: list) -> bool:
    """Merge the adapter into the weights if the logits stay the same (within float error)."""
    import torch

    from workbench.features import log_mel

    model = loaded.model
    features = log_mel(loaded.processor.feature_extractor, audio).to(model.device, model.dtype)
    start = loaded.model.generation_config.decoder_start_token_id
    ids = torch.full((features.shape[0], 1), start, device=model.device)
    with torch.no_grad():
        before = model(input_features=features, decoder_input_ids=ids).logits
        model.merge_adapter()
        after = model(input_features=features, decoder_input_ids=ids).logits
    if torch.allclose(before, after, rtol=1e-3, atol=1e-3):
        return True
    model.unmerge_adapter()
    return False


UTTERANCE_COLUMNS = [
    "set",
    "id",
    "status",
    "base_wer",
    "adapted_wer",
    "reference",
    "base",
    "adapted",
    "terms_recovered",
]


def report_paths(out: str | Path) -> list[Path]:
    """The files an evaluation writes: ``out`` and, beside it, utterances.csv, report.html."""
    out = Path(out)
    return [out, out.with_name("utterances.csv"), out.with_name("report.html")]


def _is_report_file(path: Path) -> bool:
    """Whether ``path`` is a report.json, utterances.csv or report.html the workbench wrote."""
    import json

    from workbench.evaluate.html import is_report_page

    try:
        with open(path, encoding="utf-8") as f:
            head = f.read(1 << 16)
    except (OSError, UnicodeDecodeError):
        return False
    if path.suffix == ".csv":
        return head.splitlines()[:1] == [",".join(UTTERANCE_COLUMNS)]
    if path.suffix in (".html", ".htm"):
        return is_report_page(head)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "sets" in data and "base_model" in data


def check_report_targets(
    out: str | Path, *, force: bool = False, own_run: str | Path | None = None
) -> list[Path]:
    """``out`` and its siblings checked against the write rule (:mod:`workbench.safe_write`):
    each may replace only a report the workbench wrote, unless ``force``.

    Raises:
        TargetError: one of them is refused, saying what would have been lost.
    """
    from workbench.safe_write import check_target

    return [
        check_target(
            path,
            kind="file",
            made_by_workbench=_is_report_file,
            force=force,
            own_run=own_run,
            option="--out" if i == 0 else f"--out (beside it, {path.name})",
        )
        for i, path in enumerate(report_paths(out))
    ]


def write_report(
    report: dict, out: str | Path, *, force: bool = False, own_run: str | Path | None = None
) -> list[Path]:
    """``report.json`` at ``out``, with ``utterances.csv`` and ``report.html`` beside it,
    each written whole; checked first (:func:`check_report_targets`)."""
    import io

    from workbench.evaluate.html import render_report
    from workbench.fileio import write_text_atomic

    out, table, page = check_report_targets(out, force=force, own_run=own_run)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(UTTERANCE_COLUMNS)
    for name, data in report["sets"].items():
        for u in data["utterances"]:
            writer.writerow(
                [
                    name,
                    u["id"],
                    u["status"],
                    u["base_wer"],
                    u["adapted_wer"],
                    u["reference"],
                    u["base"],
                    u["adapted"],
                    "; ".join(u.get("terms_recovered", [])),
                ]
            )
    write_json_atomic(out, report)
    write_text_atomic(table, buffer.getvalue())
    write_text_atomic(page, render_report(report))
    return [out, table, page]


def set_label(name: str, data: dict) -> str:
    """The set's name, marked when its figures are not independent of training."""
    return f"{name} (NOT INDEPENDENT)" if data.get("independent") is False else name


def figure_rows(report: dict) -> list[tuple[str, str, str, str, str, str]]:
    """(set, n, system, WER, CER, term recall) for every set and system, as text."""
    rows = []
    for name, data in report["sets"].items():
        name = set_label(name, data)
        for system in SYSTEMS:
            if system in data:
                f = data[system]
                recall = "-" if f["term_recall"] is None else f"{f['term_recall']:.3f}"
                rows.append(
                    (name, str(data["n"]), system, f"{f['wer']:.3f}", f"{f['cer']:.3f}", recall)
                )
    return rows


def difference_lines(report: dict) -> list[str]:
    """One sentence per set: the WER difference, its interval, fixed and broken counts."""
    lines = []
    for name, data in report["sets"].items():
        d = data["wer_difference"]
        lines.append(
            f"{set_label(name, data)}: WER {100 * d['value']:+.1f} points "
            f"(95% CI {100 * d['ci95'][0]:+.1f} to "
            f"{100 * d['ci95'][1]:+.1f}); fixed {data['fixed']}, broken {data['broken']}, "
            f"unchanged {data['unchanged']}"
        )
    return lines


def summary_table(report: dict) -> str:
    """The figures of every set as a plain-text table, base beside adapted."""
    rows = [("SET", "N", "SYSTEM", "WER", "CER", "TERM RECALL"), *figure_rows(report)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(
        lines
        + difference_lines(report)
        + teacher_lines(report)
        + false_alarm_lines(report)
        + group_lines(report)
    )


def teacher_lines(report: dict) -> list[str]:
    """The teacher's model, then per set the student's WER before and after against the
    teacher's, and the share of the gap closed; a line saying why, where it was skipped."""
    about = report.get("teacher")
    if not about:
        return []
    if about.get("skipped"):
        return [f"teacher {about['model']}: not compared ({about['skipped']})"]
    lines = [f"teacher: {about['model']} ({_named_by(about)})"]
    for name, data in report["sets"].items():
        if "teacher" not in data:
            continue
        gap = data["teacher_gap"]
        if gap["closed"] is None:
            closed = "the student was not behind the teacher before training" + (
                f"; after, {100 * gap['after']:.1f} points behind" if gap["after"] > 0 else ""
            )
        elif gap["closed"] >= 0:
            closed = f"training closed {100 * gap['closed']:.0f}% of the gap to the teacher"
        else:
            closed = (
                f"training widened the gap to the teacher by "
                f"{100 * (gap['after'] - gap['before']):.1f} points"
            )
        lines.append(
            f"{set_label(name, data)}: WER teacher {data['teacher']['wer']:.3f}, student before "
            f"{data['base']['wer']:.3f}, after {data['adapted']['wer']:.3f}; {closed}"
        )
    return lines


def _named_by(about: dict) -> str:
    if about.get("named_by") == "train.teacher":
        return "train.teacher"
    return f"labelled the training data; {about.get('named_by')}"


def false_alarm_lines(report: dict) -> list[str]:
    """One line per set: each system's term false alarms (per 1,000 words) and precision."""
    lines = []
    for name, data in report["sets"].items():
        parts = []
        for system in SYSTEMS:
            f = data.get(system)
            if f is None or "term_false_alarms" not in f:
                continue
            precision = "-" if f["term_precision"] is None else f"{f['term_precision']:.3f}"
            parts.append(
                f"{system} {f['term_false_alarms']} "
                f"({f['term_false_alarms_per_1k_words']}/1k words, precision {precision})"
            )
        if parts:
            lines.append(f"{name}: term false alarms: " + "; ".join(parts))
    return lines
