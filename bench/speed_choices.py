"""Do torch's thread count and SDPA vs eager attention change transcription speed?

    python bench/speed_choices.py [--model tiny.en] [--clips 4] [--rounds 3]

The workbench leaves both to their defaults (torch: one thread per core; transformers: SDPA).
This times, interleaved round by round so that load from other processes hits every setting
alike, one encoder forward of a 30-s window and the transcription of a few real clips (fp32
encoder) with 1 and all threads, SDPA and eager attention; it prints the best of --rounds for
each. A setting worth probing per machine (as `encoder_precision: auto` is) would differ by
more than 5% on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import transformers
from eval_speed import clips

from workbench.models.loading import load_model
from workbench.transcribe import DecodeOptions, Transcriber


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()

    arrays = [clip[1] for clip in clips()][: args.clips]
    seconds = sum(len(a) for a in arrays) / 16000
    loaded = load_model(f"bundled:{args.model}", device="cpu")
    transcriber = Transcriber(loaded, DecodeOptions(encoder_precision="fp32"))
    encoder = loaded.model.get_encoder()
    window = torch.randn(1, loaded.model.config.num_mel_bins, 3000)
    settings = [(n, a) for n in sorted({1, torch.get_num_threads()}) for a in ("sdpa", "eager")]
    times: dict[tuple[int, str], dict[str, list[float]]] = {
        s: {"enc": [], "rtf": []} for s in settings
    }

    def use(setting: tuple[int, str]) -> None:
        torch.set_num_threads(setting[0])
        loaded.model.set_attn_implementation(setting[1])

    with torch.inference_mode():
        for setting in settings:  # warm-up
            use(setting)
            encoder(window)
            transcriber.transcribe_arrays(arrays[:1])
        for _ in range(args.rounds):
            for setting in settings:
                use(setting)
                start = time.perf_counter()
                encoder(window)
                times[setting]["enc"].append(time.perf_counter() - start)
                start = time.perf_counter()
                transcriber.transcribe_arrays(arrays)
                times[setting]["rtf"].append((time.perf_counter() - start) / seconds)
    print(f"{args.model}, {len(arrays)} clips, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    print(f"{'threads':>7} {'attention':9} {'encoder ms':>10} {'RTF':>7}")
    for (threads, attention), t in times.items():
        print(f"{threads:>7} {attention:9} {min(t['enc']) * 1000:>10.0f} {min(t['rtf']):>7.4f}")


if __name__ == "__main__":
    main()
