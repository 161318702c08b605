"""Training step: the shipped LoRA vs full fine-tuning vs LoRA on every layer, side by side.

    python bench/train_step.py [--models tiny.en base] [--steps 3] [--precision fp32|bf16]
                               [--out bench/out/train_step.json]

Same batch (8 real LibriVox clips with their transcripts), same model, same optimizer
(AdamW); each configuration runs in a fresh process so its peak memory (max RSS on CPU,
max allocated on a GPU) is its own. Prints seconds per step, samples per second, peak
memory and trainable parameters, and the ratios of the shipped default to full fine-tuning
(goals: time at most 0.5, memory at most 0.6). Writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

SHIPPED = "data_recipes/medical_tiny-en_lora.yaml"
CONFIGS = ("lora_default", "full", "lora_all_layers")


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(model_name: str, config: str, steps: int, batch: int, precision: str) -> dict:
    """One configuration's figures (runs in the child process)."""
    import resource
    import time

    import numpy as np
    import torch
    import transformers

    from workbench.audio import load_audio
    from workbench.demo import librivox_clips
    from workbench.models.info import model_info
    from workbench.models.loading import load_model
    from workbench.recipe import load_recipe
    from workbench.train.adapters import apply_lora
    from workbench.train.batches import Collator, Example, LabelMaker

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    spec = f"bundled:{model_name}"
    lora = load_recipe(SHIPPED, check_model=False).lora
    info = model_info(spec)
    lora.top_decoder_layers = min(lora.top_decoder_layers, info.decoder_layers)
    if config == "lora_all_layers":
        lora.top_encoder_layers, lora.top_decoder_layers = info.encoder_layers, info.decoder_layers
    loaded = load_model(spec, device=device, dtype=torch.float32)
    if config == "full":
        model = loaded.model
        for p in model.parameters():
            p.requires_grad_(True)
    else:
        model, _ = apply_lora(loaded.model, lora)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5)
    clips = librivox_clips()
    examples = [
        Example(str(i), load_audio(c.path), c.text, False, {})
        for i, c in enumerate((clips * batch)[:batch])
    ]
    collate = Collator(
        loaded.processor, LabelMaker(loaded.processor, multilingual=loaded.multilingual)
    )
    inputs = {k: v.to(device) for k, v in collate(examples).items() if k != "general"}
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16")
    before = _rss_mib() if device == "cpu" else torch.cuda.memory_allocated() / 1024**2
    times = []
    for step in range(steps + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with autocast:
            loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if device == "cuda":
            torch.cuda.synchronize()
        if step:  # the first step warms up
            times.append(time.perf_counter() - start)
    seconds = float(np.median(times))
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 1024**2
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
    return {
        "model": model_name,
        "config": config,
        "device": device,
        "precision": precision,
        "batch": batch,
        "s_per_step": round(seconds, 3),
        "samples_per_s": round(batch / seconds, 2),
        "peak_mib": round(peak),
        "training_mib": round(peak - before),  # over the loaded model and batch
        "trainable_params": sum(p.numel() for p in trainable),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["tiny.en", "base"])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--out", type=Path, default=Path("bench/out/train_step.json"))
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "CONFIG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        row = measure(*args.child, args.steps, args.batch, args.precision)
        print(json.dumps(row))
        return

    rows = []
    for model_name in args.models:
        for config in CONFIGS:
            command = [
                sys.executable,
                __file__,
                "--child",
                model_name,
                config,
                "--steps",
                str(args.steps),
                "--batch",
                str(args.batch),
                "--precision",
                args.precision,
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"{model_name} {config}: failed\n{done.stderr[-2000:]}")
                continue
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"{model_name:8} {config:16} {rows[-1]['s_per_step']:.2f} s/step", flush=True)

    head = (
        f"{'model':8} {'config':16} {'s/step':>7} {'samples/s':>9} {'peak MiB':>9} "
        f"{'train MiB':>9} {'trainable':>11}"
    )
    print("\n" + head)
    ratios = {}
    for r in rows:
        print(
            f"{r['model']:8} {r['config']:16} {r['s_per_step']:>7.2f} {r['samples_per_s']:>9.2f} "
            f"{r['peak_mib']:>9} {r['training_mib']:>9} {r['trainable_params']:>11,}"
        )
    for model_name in args.models:
        by = {r["config"]: r for r in rows if r["model"] == model_name}
        if "lora_default" in by and "full" in by:
            ratios[model_name] = {
                "time_default_over_full": round(
                    by["lora_default"]["s_per_step"] / by["full"]["s_per_step"], 3
                ),
                "memory_default_over_full": round(
                    by["lora_default"]["peak_mib"] / by["full"]["peak_mib"], 3
                ),
                "training_memory_default_over_full": round(
                    by["lora_default"]["training_mib"] / max(1, by["full"]["training_mib"]), 3
                ),
            }
            print(
                f"{model_name}: default LoRA / full fine-tuning: time "
                f"{ratios[model_name]['time_default_over_full']:.2f} (goal <= 0.5), peak memory "
                f"{ratios[model_name]['memory_default_over_full']:.2f} (goal <= 0.6)"
            )
    machine = {"cpus": os.cpu_count(), "platform": platform.platform()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine, "rows": rows, "ratios": ratios}, indent=2))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
