"""Evaluation speed: the workbench's batched decoding vs faster-whisper, side by side.

    python bench/eval_speed.py [--models tiny.en base] [--rounds 2] [--out FILE]

The same real clips (pocketsphinx LibriVox and cards, Asterisk prompts) decoded without
timestamps by: the workbench's Transcriber (transformers, batched; its default encoder
precision, bf16 where the CPU has it natively, and float32 throughout), and faster-whisper
on the same bundled CTranslate2 checkpoint in int8 and float32 (one clip at a time, its
usual use; no VAD, no previous-text conditioning). Both decode greedily with Whisper's
fallback and thresholds (the workbench's default), so that speed is never bought with
loops. Prints the real-time factor and WER of each, the ratio workbench / faster-whisper
int8 (goal: at most 1.0 on CPU), and how many transcripts equal faster-whisper float32's.
Then both with faster-whisper's own defaults (beam 5, fallback): RTF and WER again.
`auto`'s probe is measured afresh (and kept, as a first use would) unless --keep-probe; the
bench prints what it chose and its timings.

With --run RUN_DIR (a finished `workbench run`, default: the one bench/accuracy_per_minute.py
leaves), also the whole evaluation as `workbench eval` does it: base against adapted on up to
--limit clips of each of the recipe's sets (scoring and the report included), against
faster-whisper decoding the same clips with the base model and with the adapter merged and
converted (as `workbench export --format ct2` does; the conversion is timed apart), with the
encoder precision of --eval-precision (default fp32, evaluation's default).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

ASTERISK = Path("/usr/share/asterisk/sounds/en")


def clips(limit_asterisk: int = 10) -> list[tuple[str, np.ndarray, str]]:
    """(path, audio, reference text): pocketsphinx LibriVox and cards, Asterisk prompts."""
    from workbench.audio import load_audio
    from workbench.data.sources.asterisk import prepare_asterisk
    from workbench.data.sources.pocketsphinx import prepare_pocketsphinx
    from workbench.recipe import AsteriskSource, PocketsphinxSource

    rows = prepare_pocketsphinx(PocketsphinxSource()).candidates
    if ASTERISK.is_dir():
        rows += prepare_asterisk(AsteriskSource(limit=limit_asterisk)).candidates
    return [(str(c.audio), load_audio(c.audio), c.text or "") for c in rows]


def wer(refs: list[str], texts: list[str]) -> float:
    from workbench.evaluate.metrics import score
    from workbench.evaluate.normalize import get_normalizer

    return round(score(refs, texts, get_normalizer("en"), spaced=True).wer, 4)


def best_of(rounds: int, run) -> tuple[float, list[str]]:
    best, texts = float("inf"), []
    for _ in range(rounds):
        start = time.perf_counter()
        texts = run()
        best = min(best, time.perf_counter() - start)
    return best, texts


def fw_decode(
    model, audio: list[np.ndarray], language: str | None, beam_size: int = 1
) -> list[str]:
    """faster-whisper, one clip at a time, no timestamps, VAD or previous text; otherwise
    its defaults: temperature fallback (0 to 1), compression-ratio, log-prob and no-speech
    thresholds, best of 5 when sampling; ``beam_size`` 5 is its default, 1 greedy."""
    out = []
    for a in audio:
        segments, _ = model.transcribe(
            a,
            beam_size=beam_size,
            language=language,
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        out.append(" ".join(s.text.strip() for s in segments).strip())
    return out


def _quiet(message: str) -> None:
    pass


def evaluation_row(run_dir: Path, limit: int, threads: int, precision: str) -> dict | None:
    """`workbench eval`'s base-against-adapted pass vs faster-whisper decoding both models."""
    import tempfile

    from workbench.data.prepare import prepare_data
    from workbench.models.bundled import BUNDLED
    from workbench.recipe import load_recipe

    recipe_path, adapter = run_dir / "recipe.yaml", run_dir / "adapter"
    if not (recipe_path.is_file() and adapter.is_dir()):
        print(f"no finished run in {run_dir}: evaluation row skipped")
        return None
    recipe = load_recipe(recipe_path, [f"eval.encoder_precision={precision}"])
    name = recipe.base_model.removeprefix("bundled:")
    if name not in BUNDLED:
        print(f"{recipe.base_model} is not bundled: evaluation row skipped")
        return None

    prepared = prepare_data(recipe, log=_quiet)
    utts = prepared.utterances("eval")[:limit] + prepared.utterances("general")[:limit]
    with tempfile.TemporaryDirectory(prefix="eval-speed-") as tmp:
        return _evaluation_row(recipe, name, run_dir, utts, Path(tmp), threads)


def _evaluation_row(recipe, name: str, run_dir: Path, utts: list, work: Path, threads: int) -> dict:
    from faster_whisper import WhisperModel

    from workbench.audio import load_audio
    from workbench.evaluate.compare import evaluate_adapter
    from workbench.export.package import export_ct2
    from workbench.models.bundled import BUNDLED, ct2_folder
    from workbench.models.info import language_code

    adapter = run_dir / "adapter"
    manifest = work / "clips.jsonl"
    manifest.write_text("".join(u.to_json() + "\n" for u in utts))
    evaluate_adapter(recipe, adapter, data=[str(manifest)], prompt=False, log=_quiet)  # warm-up
    start = time.perf_counter()
    report = evaluate_adapter(recipe, adapter, data=[str(manifest)], prompt=False, log=_quiet)
    ours = time.perf_counter() - start
    audio = [load_audio(u.audio) for u in utts]
    seconds = sum(len(a) for a in audio) / 16000
    language = language_code(recipe.language) if recipe.language else None
    row = {
        "model": name,
        "adapter": str(adapter),
        "clips": len(utts),
        "audio_s": round(seconds, 1),
        "encoder_shared": report["decoding"]["encoder_shared"],
        "encoder_precision": report["decoding"]["encoder_precision"],
        "workbench_eval_s": round(ours, 2),
    }
    for compute in ("int8", "float32"):
        start = time.perf_counter()
        adapted_dir = export_ct2(run_dir, work / f"adapted-{compute}", quantization=compute)
        row[f"fw_{compute}_conversion_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        for folder in (ct2_folder(BUNDLED[name]), adapted_dir):
            model = WhisperModel(
                str(folder), device="cpu", compute_type=compute, cpu_threads=threads
            )
            fw_decode(model, audio, language)
        row[f"fw_{compute}_eval_s"] = round(time.perf_counter() - start, 2)
    row["ratio_workbench_over_fw_int8"] = round(ours / row["fw_int8_eval_s"], 3)
    row["ratio_workbench_over_fw_float32"] = round(ours / row["fw_float32_eval_s"], 3)
    return row


def auto_precision(loaded, remeasure: bool) -> tuple[str, dict | None]:
    """What `auto` chooses for ``loaded`` here and why, measured again when ``remeasure``."""
    from workbench.models.precision import auto_candidates
    from workbench.models.probe import choose_encoder_precision, describe

    candidates = auto_candidates(loaded.device)
    if len(candidates) == 1:
        return f"{candidates[0]}: no native bf16 on this device, nothing to measure", None
    entry = choose_encoder_precision(loaded.model, loaded.identity, candidates, remeasure=remeasure)
    return describe(entry), entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["tiny.en", "base"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("bench/out/eval_speed.json"))
    parser.add_argument(
        "--run", type=Path, default=Path("bench/out/accuracy_per_minute/run"), help="a run folder"
    )
    parser.add_argument("--limit", type=int, default=30, help="clips per set for --run")
    parser.add_argument(
        "--eval-precision",
        choices=("auto", "fp32", "bf16"),
        default="fp32",
        help="the evaluation's encoder precision for --run (default: evaluation's default)",
    )
    parser.add_argument(
        "--keep-probe",
        action="store_true",
        help="let auto use the precision already measured on this machine (default: measure)",
    )
    args = parser.parse_args()

    import torch
    import transformers
    from faster_whisper import WhisperModel

    from workbench.decoding import DecodingOptions
    from workbench.models.bundled import BUNDLED, ct2_folder
    from workbench.models.loading import load_model
    from workbench.transcribe import DecodeOptions, Transcriber

    transformers.logging.set_verbosity_error()
    audio = clips()
    arrays = [a for _, a, _ in audio]
    refs = [t for _, _, t in audio]
    seconds = sum(len(a) for a in arrays) / 16000
    threads = torch.get_num_threads()
    rows = []
    for name in args.models:
        row = {"model": name, "clips": len(audio), "audio_s": round(seconds, 1)}
        texts = {}
        for precision in ("fp32", "auto"):  # a fresh model each: bf16 is not undone
            loaded = load_model(f"bundled:{name}", device="cpu")
            language = "en" if loaded.multilingual else None
            if precision == "auto":
                row["auto_why"], row["auto_probe"] = auto_precision(loaded, not args.keep_probe)
                print(f"{name}: encoder_precision auto -> {row['auto_why']}", flush=True)
            options = DecodeOptions(language=language, encoder_precision=precision)
            transcriber = Transcriber(loaded, options, args.batch)
            ours_s, texts[precision] = best_of(
                args.rounds, lambda t=transcriber: t.transcribe_arrays(arrays)
            )
            key = "workbench_rtf" if precision == "auto" else "workbench_fp32_rtf"
            row[key] = round(ours_s / seconds, 4)
            row[key.replace("_rtf", "_wer")] = wer(refs, texts[precision])
            row["encoder_precision"] = transcriber.encoder_precision
        ours = texts["auto"]
        row["same_transcripts_auto_as_fp32"] = sum(
            a == b for a, b in zip(texts["auto"], texts["fp32"], strict=True)
        )
        for compute in ("int8", "float32"):
            fw = WhisperModel(
                str(ct2_folder(BUNDLED[name])),
                device="cpu",
                compute_type=compute,
                cpu_threads=threads,
            )

            fw_s, theirs = best_of(
                args.rounds, lambda fw=fw, lang=language: fw_decode(fw, arrays, lang)
            )
            row[f"faster_whisper_{compute}_rtf"] = round(fw_s / seconds, 4)
            row[f"faster_whisper_{compute}_wer"] = wer(refs, theirs)
            if compute == "float32":
                row["same_transcripts_as_fw_float32"] = sum(
                    a.strip() == b.strip() for a, b in zip(ours, theirs, strict=True)
                )
                row["same_transcripts_fp32_as_fw_float32"] = sum(
                    a.strip() == b.strip() for a, b in zip(texts["fp32"], theirs, strict=True)
                )
        row["ratio_workbench_over_fw_int8"] = round(
            row["workbench_rtf"] / row["faster_whisper_int8_rtf"], 3
        )
        # faster-whisper's defaults (beam 5, fallback) against the workbench at beam 5.
        loaded = load_model(f"bundled:{name}", device="cpu")
        options = DecodeOptions(language=language, decoding=DecodingOptions(beam_size=5))
        transcriber = Transcriber(loaded, options, args.batch)
        ours_s, beam_texts = best_of(args.rounds, lambda t=transcriber: t.transcribe_arrays(arrays))
        row["workbench_beam5_rtf"] = round(ours_s / seconds, 4)
        row["workbench_beam5_wer"] = wer(refs, beam_texts)
        fw = WhisperModel(
            str(ct2_folder(BUNDLED[name])), device="cpu", compute_type="int8", cpu_threads=threads
        )
        fw_s, theirs = best_of(
            args.rounds, lambda fw=fw, lang=language: fw_decode(fw, arrays, lang, beam_size=5)
        )
        row["faster_whisper_int8_beam5_rtf"] = round(fw_s / seconds, 4)
        row["faster_whisper_int8_beam5_wer"] = wer(refs, theirs)
        rows.append(row)

    print(
        f"{'model':8} {'clips':>5} {'workbench RTF':>13} {'(fp32 enc.)':>11} {'fw int8 RTF':>11} "
        f"{'fw fp32 RTF':>11} {'ratio/int8':>10} {'same as fw fp32':>15} {'auto = fp32':>11}"
    )
    for r in rows:
        print(
            f"{r['model']:8} {r['clips']:>5} {r['workbench_rtf']:>9.4f} {r['encoder_precision']} "
            f"{r['workbench_fp32_rtf']:>11.4f} "
            f"{r['faster_whisper_int8_rtf']:>11.4f} {r['faster_whisper_float32_rtf']:>11.4f} "
            f"{r['ratio_workbench_over_fw_int8']:>10.2f} "
            f"{r['same_transcripts_as_fw_float32']:>5}/{r['clips']} "
            f"({r['same_transcripts_fp32_as_fw_float32']}/{r['clips']} fp32) "
            f"{r['same_transcripts_auto_as_fp32']:>8}/{r['clips']}"
        )
        print(f"  encoder_precision auto -> {r['auto_why']}")
    print("\nWER beside time (greedy with fallback; then beam 5 with fallback, fw's defaults):")
    for r in rows:
        print(
            f"{r['model']:8} greedy: workbench RTF {r['workbench_rtf']:.4f} WER "
            f"{r['workbench_wer']:.3f} | fw int8 RTF {r['faster_whisper_int8_rtf']:.4f} WER "
            f"{r['faster_whisper_int8_wer']:.3f} | fw fp32 WER "
            f"{r['faster_whisper_float32_wer']:.3f}"
        )
        print(
            f"{'':8} beam 5: workbench RTF {r['workbench_beam5_rtf']:.4f} WER "
            f"{r['workbench_beam5_wer']:.3f} | fw int8 RTF {r['faster_whisper_int8_beam5_rtf']:.4f}"
            f" WER {r['faster_whisper_int8_beam5_wer']:.3f}"
        )
    evaluation = None
    if args.run:
        evaluation = evaluation_row(args.run, args.limit, threads, args.eval_precision)
    if evaluation:
        e = evaluation
        print(
            f"\nevaluation, base against adapted ({e['model']}, {e['clips']} clips, "
            f"{e['audio_s']} s of audio, encoder shared: {e['encoder_shared']}, "
            f"encoder in {e['encoder_precision']}):\n"
            f"  workbench eval {e['workbench_eval_s']:.1f} s; faster-whisper base + adapted: "
            f"int8 {e['fw_int8_eval_s']:.1f} s, float32 {e['fw_float32_eval_s']:.1f} s "
            f"(+ {e['fw_int8_conversion_s']:.1f} s to convert the adapted model)\n"
            f"  ratio workbench / fw int8: {e['ratio_workbench_over_fw_int8']:.2f} "
            f"(goal <= 1.0), / fw float32: {e['ratio_workbench_over_fw_float32']:.2f}"
        )
    machine = {"cpus": os.cpu_count(), "threads": threads, "platform": platform.platform()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"machine": machine, "rows": rows, "evaluation": evaluation}, indent=2)
    )
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
