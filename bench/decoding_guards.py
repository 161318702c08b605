"""The decoding guards on a manifest: the workbench against faster-whisper, same settings.

    python bench/decoding_guards.py MANIFEST [--model tiny.en] [--out FILE] [--limit N]

Decodes every clip of MANIFEST with the bundled model (base, no adapter) by:
- the workbench without guards (greedy, as before the guards),
- the workbench greedy with fallback, and beam 5 with fallback (Whisper's thresholds), each
  with and without the workbench's tokens-per-second cap (faster-whisper has none),
- faster-whisper (float32, the same bundled CTranslate2 checkpoint) greedy with fallback and
  with its defaults (beam 5, fallback), both without timestamps, previous-text conditioning
  or VAD, one clip at a time;
and prints WER, insertions and seconds of each, scored with the project's normalizer.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

TEMPERATURES = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


def fw_transcribe(model, audio, beam_size: int, guards: bool = True) -> list[str]:
    """faster-whisper, clip by clip, with Whisper's fallback and thresholds (its defaults)."""
    settings = {
        "beam_size": beam_size,
        "best_of": 5,
        "temperature": TEMPERATURES if guards else 0.0,
        "compression_ratio_threshold": 2.4 if guards else None,
        "log_prob_threshold": -1.0 if guards else None,
        "no_speech_threshold": 0.6 if guards else None,
        "condition_on_previous_text": False,
        "without_timestamps": True,
        "vad_filter": False,
    }
    out = []
    for a in audio:
        segments, _ = model.transcribe(a, **settings)
        out.append(" ".join(s.text.strip() for s in segments).strip())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--limit", type=int, help="the first N clips only")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("bench/out/decoding_guards.json"))
    parser.add_argument(
        "--only", nargs="+", help="run only these systems (names as printed)", default=None
    )
    args = parser.parse_args()

    import torch
    import transformers
    from faster_whisper import WhisperModel

    from workbench.audio import load_audio
    from workbench.data.manifest import read_manifest
    from workbench.decoding import DecodingOptions
    from workbench.evaluate.metrics import score
    from workbench.evaluate.normalize import get_normalizer
    from workbench.models.bundled import BUNDLED, ct2_folder
    from workbench.models.loading import load_model
    from workbench.transcribe import DecodeOptions, Transcriber

    transformers.logging.set_verbosity_error()
    utts = read_manifest(args.manifest)[: args.limit]
    audio = [load_audio(u.audio) for u in utts]
    refs = [u.text for u in utts]
    normalize = get_normalizer("en")
    loaded = load_model(f"bundled:{args.model}", device="cpu")
    fw = WhisperModel(
        str(ct2_folder(BUNDLED[args.model])),
        device="cpu",
        compute_type="float32",
        cpu_threads=torch.get_num_threads(),
    )

    def ours(decoding: DecodingOptions):
        def run():
            options = DecodeOptions(decoding=decoding, encoder_precision="fp32")
            transcriber = Transcriber(loaded, options, args.batch)
            texts = transcriber.transcribe_arrays(audio)
            return texts, transcriber.stats.as_dict()

        return run

    systems = {
        "workbench_no_guards": ours(DecodingOptions.unguarded()),
        "workbench_greedy_fallback": ours(DecodingOptions(max_tokens_per_second=None)),
        "workbench_greedy_fallback_cap": ours(DecodingOptions()),
        "workbench_beam5_fallback": ours(DecodingOptions(beam_size=5, max_tokens_per_second=None)),
        "workbench_beam5_fallback_cap": ours(DecodingOptions(beam_size=5)),
        "fw_greedy_fallback": lambda: (fw_transcribe(fw, audio, 1), None),
        "fw_beam5_fallback": lambda: (fw_transcribe(fw, audio, 5), None),
    }
    rows = {}
    if args.out.is_file():  # earlier systems of the same run are kept
        rows = json.loads(args.out.read_text()).get("rows", {})
    for name, run in systems.items():
        if args.only and name not in args.only:
            continue
        start = time.perf_counter()
        texts, stats = run()
        seconds = time.perf_counter() - start
        s = score(refs, texts, normalize, spaced=True)
        rows[name] = {
            "wer": round(s.wer, 4),
            "insertions": s.insertions,
            "deletions": s.deletions,
            "substitutions": s.substitutions,
            "ref_words": s.ref_words,
            "seconds": round(seconds, 1),
            "guards": stats,
            "texts": texts,
        }
        guards = ""
        if stats:
            guards = f"  fell back {stats['fell_back']}, dropped {stats['dropped_no_speech']}"
        print(
            f"{name:32} WER {s.wer:.3f}  ins {s.insertions:5d}  {seconds:7.1f} s{guards}",
            flush=True,
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"manifest": str(args.manifest), "clips": len(utts), "rows": rows}
        args.out.write_text(json.dumps(payload, indent=2))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
