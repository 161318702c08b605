"""Evaluation speed: the workbench's batched decoding vs faster-whisper, side by side.

    python bench/eval_speed.py [--models tiny.en base] [--rounds 2] [--out FILE]

The same real clips (pocketsphinx LibriVox and cards, Asterisk prompts) decoded greedily
without timestamps by: the workbench's Transcriber (transformers, batched, float32), and
faster-whisper on the same bundled CTranslate2 checkpoint in int8 and float32 (one clip at a
time, its usual use; no VAD, no previous-text conditioning). Prints the real-time factor of
each and the ratio workbench / faster-whisper int8 (goal: at most 1.0 on CPU), and how many
transcripts equal faster-whisper float32's (same decoding settings: expected all).
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


def clips(limit_asterisk: int = 10) -> list[tuple[str, np.ndarray]]:
    from workbench.audio import load_audio
    from workbench.demo import librivox_clips

    paths = [c.path for c in librivox_clips()]
    paths += sorted(Path("/usr/share/pocketsphinx/test/data/cards").glob("*.wav"))
    paths += sorted(ASTERISK.glob("*.wav"))[:limit_asterisk] if ASTERISK.is_dir() else []
    return [(str(p), load_audio(p)) for p in paths]


def best_of(rounds: int, run) -> tuple[float, list[str]]:
    best, texts = float("inf"), []
    for _ in range(rounds):
        start = time.perf_counter()
        texts = run()
        best = min(best, time.perf_counter() - start)
    return best, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["tiny.en", "base"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("bench/out/eval_speed.json"))
    args = parser.parse_args()

    import torch
    import transformers
    from faster_whisper import WhisperModel

    from workbench.models.bundled import BUNDLED, ct2_folder
    from workbench.models.loading import load_model
    from workbench.transcribe import DecodeOptions, Transcriber

    transformers.logging.set_verbosity_error()
    audio = clips()
    seconds = sum(len(a) for _, a in audio) / 16000
    threads = torch.get_num_threads()
    rows = []
    for name in args.models:
        loaded = load_model(f"bundled:{name}", device="cpu")
        language = "en" if loaded.multilingual else None
        transcriber = Transcriber(loaded, DecodeOptions(language=language), args.batch)
        ours_s, ours = best_of(
            args.rounds, lambda t=transcriber: t.transcribe_arrays([a for _, a in audio])
        )
        row = {
            "model": name,
            "clips": len(audio),
            "audio_s": round(seconds, 1),
            "workbench_rtf": round(ours_s / seconds, 4),
        }
        for compute in ("int8", "float32"):
            fw = WhisperModel(
                str(ct2_folder(BUNDLED[name])),
                device="cpu",
                compute_type=compute,
                cpu_threads=threads,
            )

            def run(fw=fw, language=language) -> list[str]:
                out = []
                for _, a in audio:
                    segments, _ = fw.transcribe(
                        a,
                        beam_size=1,
                        language=language,
                        temperature=0.0,
                        without_timestamps=True,
                        condition_on_previous_text=False,
                        vad_filter=False,
                    )
                    out.append(" ".join(s.text.strip() for s in segments).strip())
                return out

            fw_s, theirs = best_of(args.rounds, run)
            row[f"faster_whisper_{compute}_rtf"] = round(fw_s / seconds, 4)
            if compute == "float32":
                row["same_transcripts_as_fw_float32"] = sum(
                    a.strip() == b.strip() for a, b in zip(ours, theirs, strict=True)
                )
        row["ratio_workbench_over_fw_int8"] = round(
            row["workbench_rtf"] / row["faster_whisper_int8_rtf"], 3
        )
        rows.append(row)

    print(
        f"{'model':8} {'clips':>5} {'workbench RTF':>13} {'fw int8 RTF':>11} "
        f"{'fw fp32 RTF':>11} {'ratio/int8':>10} {'same as fp32':>12}"
    )
    for r in rows:
        print(
            f"{r['model']:8} {r['clips']:>5} {r['workbench_rtf']:>13.4f} "
            f"{r['faster_whisper_int8_rtf']:>11.4f} {r['faster_whisper_float32_rtf']:>11.4f} "
            f"{r['ratio_workbench_over_fw_int8']:>10.2f} "
            f"{r['same_transcripts_as_fw_float32']:>8}/{r['clips']}"
        )
    machine = {"cpus": os.cpu_count(), "threads": threads, "platform": platform.platform()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
