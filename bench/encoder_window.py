"""The encoder's 30-second window on short clips: what can be saved without changing results.

    python bench/encoder_window.py [--model tiny.en] [--run RUN_DIR] [--out FILE]

Whisper's encoder always reads a 30-second window, so on clips of a few seconds it is most of
the decoding cost. Measured side by side, each with a check that the results stay the same:

- where the time goes: the log-mel, the encoder (its convolutional front end and each
  layer), the decoder; what sharing the frozen lower layers could save;
- evaluation of base and a decoder-only adapter (the shipped default; the adapter of RUN_DIR
  when given, default: the run bench/accuracy_per_minute.py leaves): one encoder pass shared
  by both against one each (transcripts must be identical);
- a training step with replay and distillation: the frozen encoder run once for the student
  and the teacher against once each (the losses must agree to float precision);
- the encoder in bf16 (the default where the CPU has native bf16) against fp32;
- SDPA against eager attention (transcripts must be identical);
- batches of clips of like length against batches in arrival order (identical transcripts).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_speed import clips

SHIPPED = "data_recipes/medical_tiny-en_lora.yaml"


def timed(fn, rounds: int = 2):
    """Best wall time of ``rounds`` calls, and the last call's result."""
    best, result = float("inf"), None
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def where_time_goes(loaded, arrays) -> dict:
    """Seconds in log-mel, encoder front end, each encoder layer and decoding, for all clips
    (with the default encoder precision)."""
    from workbench.features import log_mel
    from workbench.transcribe import DecodeOptions, Transcriber

    model = loaded.model
    encoder = model.get_encoder()
    parts: dict[str, float] = {}
    starts: dict[str, float] = {}
    handles = []

    def watch(module, name: str) -> None:
        def before(*_):
            starts[name] = time.perf_counter()

        def after(*_):
            parts[name] = parts.get(name, 0.0) + time.perf_counter() - starts[name]

        handles.append(module.register_forward_pre_hook(before))
        handles.append(module.register_forward_hook(after))

    watch(encoder, "encoder")
    watch(encoder.layers[0], "layer 0")
    for i, layer in enumerate(encoder.layers[1:], 1):
        watch(layer, f"layer {i}")
    start = time.perf_counter()
    log_mel(loaded.processor.feature_extractor, arrays)
    mel = time.perf_counter() - start
    start = time.perf_counter()
    Transcriber(loaded, DecodeOptions()).transcribe_arrays(arrays)
    total = time.perf_counter() - start
    for handle in handles:
        handle.remove()
    layers = {k: round(v, 3) for k, v in parts.items() if k.startswith("layer")}
    front = parts["encoder"] - sum(layers.values())
    return {
        "log_mel_s": round(mel, 3),
        "encoder_s": round(parts["encoder"], 3),
        "encoder_front_end_and_norm_s": round(front, 3),
        "encoder_layers_s": layers,
        "decode_total_s": round(total, 3),
        "encoder_share": round(parts["encoder"] / total, 3),
    }


def shared_evaluation(loaded, adapter: Path, arrays) -> dict:
    """Base then adapted (decoder-only adapter), with and without one shared encoder pass."""
    from peft import PeftModel

    from workbench.transcribe import DecodeOptions, EncoderCache, Transcriber

    loaded.model = PeftModel.from_pretrained(loaded.model, str(adapter)).eval()
    transcriber = Transcriber(loaded, DecodeOptions())

    def both(cache) -> tuple[list[str], list[str]]:
        with loaded.model.disable_adapter():
            base = transcriber.transcribe_arrays(arrays, cache)
        return base, transcriber.transcribe_arrays(arrays, cache)

    apart_s, apart = timed(lambda: both(None))
    shared_s, shared = timed(lambda: both(EncoderCache()))
    loaded.model = loaded.model.unload()
    changed = sum(a != b for a, b in zip(apart[1], shared[1], strict=True))
    changed += sum(a != b for a, b in zip(apart[0], shared[0], strict=True))
    return {
        "apart_s": round(apart_s, 3),
        "shared_s": round(shared_s, 3),
        "ratio": round(shared_s / apart_s, 3),
        "transcripts_changed": changed,
        "adapted_differs_from_base": sum(a != b for a, b in zip(*shared, strict=True)),
    }


def distillation_step(steps: int) -> dict:
    """The shipped recipe's training step (replay + distillation) with and without sharing."""
    from workbench.recipe import load_recipe
    from workbench.runs import RunDir
    from workbench.train.loop import Trainer

    recipe = load_recipe(SHIPPED)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(recipe, RunDir(Path(tmp) / "run"), log=lambda m: None)
        trainer.model.eval()  # no dropout: both ways see the same forward
        batches = [trainer._batch(i) for i in range(steps)]
        figures = {}
        for share in (False, True):
            trainer.share_encoder = share
            times, losses = [], []
            for batch in batches:
                start = time.perf_counter()
                loss, _ = trainer._loss(dict(batch))
                loss.backward()
                trainer.optimizer.zero_grad()
                times.append(time.perf_counter() - start)
                losses.append(float(loss.detach()))
            figures[share] = (statistics.median(times[1:]), losses)
    apart, shared = figures[False], figures[True]
    return {
        "replay_clips_per_batch": round(recipe.train.replay_ratio * recipe.train.batch_size),
        "apart_s_per_step": round(apart[0], 3),
        "shared_s_per_step": round(shared[0], 3),
        "ratio": round(shared[0] / apart[0], 3),
        "max_loss_difference": max(abs(a - b) for a, b in zip(apart[1], shared[1], strict=True)),
    }


def versus(before: tuple[str, float, list[str]], after: tuple[str, float, list[str]]) -> dict:
    """Two ways of decoding the same clips: (name, seconds, transcripts) each, and the ratio."""
    (name_a, seconds_a, texts_a), (name_b, seconds_b, texts_b) = before, after
    return {
        f"{name_a}_s": round(seconds_a, 3),
        f"{name_b}_s": round(seconds_b, 3),
        "ratio": round(seconds_b / seconds_a, 3),
        "transcripts_changed": sum(a != b for a, b in zip(texts_a, texts_b, strict=True)),
    }


def attention(loaded, arrays) -> dict:
    """SDPA against eager attention: time of the whole decoding, and transcripts."""
    from workbench.transcribe import DecodeOptions, Transcriber

    out = []
    for kind in ("eager", "sdpa"):
        loaded.model.set_attn_implementation(kind)
        transcriber = Transcriber(loaded, DecodeOptions())
        out.append((kind, *timed(lambda t=transcriber: t.transcribe_arrays(arrays))))
    return versus(*out)


def encoder_bf16(model_name: str, arrays) -> dict:
    """The encoder in bf16 (the default where the CPU has it natively) against fp32."""
    from workbench.models.loading import load_model
    from workbench.transcribe import DecodeOptions, Transcriber

    out = []
    for precision in ("fp32", "bf16"):
        loaded = load_model(f"bundled:{model_name}", device="cpu")  # bf16 is not undone
        transcriber = Transcriber(loaded, DecodeOptions(encoder_precision=precision))
        out.append((precision, *timed(lambda t=transcriber: t.transcribe_arrays(arrays))))
    return versus(*out)


def batching(loaded, arrays) -> dict:
    """Batches of like length (the workbench's way) against batches in arrival order."""
    from workbench.transcribe import DecodeOptions, Transcriber

    transcriber = Transcriber(loaded, DecodeOptions())

    def arrival() -> list[str]:
        texts = []
        for start in range(0, len(arrays), transcriber.batch_size):
            texts += transcriber._decode_short(arrays[start : start + transcriber.batch_size])
        return texts

    return versus(
        ("arrival_order", *timed(arrival)),
        ("by_length", *timed(lambda: transcriber.transcribe_arrays(arrays))),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--run", type=Path, default=Path("bench/out/accuracy_per_minute/run"))
    parser.add_argument("--steps", type=int, default=4, help="training steps to time")
    parser.add_argument("--out", type=Path, default=Path("bench/out/encoder_window.json"))
    args = parser.parse_args()

    import torch
    import transformers

    from workbench.models.loading import load_model
    from workbench.transcribe import DecodeOptions, Transcriber

    transformers.logging.set_verbosity_error()
    arrays = [a for _, a in clips()]
    seconds = sum(len(a) for a in arrays) / 16000
    loaded = load_model(f"bundled:{args.model}", device="cpu")
    result: dict = {
        "machine": {"cpus": os.cpu_count(), "threads": torch.get_num_threads()},
        "platform": platform.platform(),
        "model": args.model,
        "clips": len(arrays),
        "audio_s": round(seconds, 1),
    }
    with torch.inference_mode():
        Transcriber(loaded, DecodeOptions()).transcribe_arrays(arrays[:8])  # warm-up
        result["time"] = where_time_goes(loaded, arrays)
        result["encoder_bf16"] = encoder_bf16(args.model, arrays)
        result["attention"] = attention(loaded, arrays)
        result["batching"] = batching(loaded, arrays)
        adapter = args.run / "adapter"
        if adapter.is_dir():
            result["shared_evaluation"] = shared_evaluation(loaded, adapter, arrays)
        else:
            print(f"no adapter in {args.run}: shared evaluation skipped")
    if args.model == "tiny.en":
        result["distillation_step"] = distillation_step(args.steps + 1)

    t = result["time"]
    print(f"{args.model}, {len(arrays)} clips, {seconds:.0f} s of audio, {os.cpu_count()} CPUs")
    print(
        f"where the time goes: encoder {t['encoder_s']:.2f} s of {t['decode_total_s']:.2f} s "
        f"({100 * t['encoder_share']:.0f}%); front end {t['encoder_front_end_and_norm_s']:.2f} s, "
        + ", ".join(f"{k} {v:.2f} s" for k, v in t["encoder_layers_s"].items())
        + f"; log-mel {t['log_mel_s']:.2f} s"
    )
    rows = [
        ("encoder: bf16 / fp32", result["encoder_bf16"]),
        ("attention: SDPA / eager", result["attention"]),
        ("batching: by length / arrival", result["batching"]),
    ]
    if "shared_evaluation" in result:
        rows.append(("evaluation: shared / apart", result["shared_evaluation"]))
    for label, row in rows:
        print(
            f"{label:34} time ratio {row['ratio']:.2f}, transcripts changed: "
            f"{row['transcripts_changed']}"
        )
    if "distillation_step" in result:
        d = result["distillation_step"]
        print(
            f"{'distillation step: shared / apart':34} time ratio {d['ratio']:.2f} "
            f"({d['shared_s_per_step']:.2f} vs {d['apart_s_per_step']:.2f} s), "
            f"largest loss difference {d['max_loss_difference']:.1e}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
