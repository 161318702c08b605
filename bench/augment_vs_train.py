"""Augmentation cost against a training step, measured side by side in one run.

    python bench/augment_vs_train.py [--recipe RECIPE] [--out FILE]

(default recipe: data_recipes/industrial_tiny-en_lora.yaml, machinery noise on most clips)

Times the recipe's augmentation (and the heaviest pipeline: speed, reverb, noise, telephone,
every transform applied) on real clips, and a LoRA training step of the recipe's model and
adapter on the same clips. Prints a table and the ratio of augmentation time to step time per
sample (goal: under 10%); writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
import transformers

from workbench.audio import load_audio
from workbench.augment.pipeline import build_augmenter
from workbench.demo import librivox_clips
from workbench.models.loading import load_model
from workbench.recipe import (
    AugmentSpec,
    NoiseSpec,
    ReverbSpec,
    SpeedSpec,
    TelephoneSpec,
    load_recipe,
)
from workbench.train.adapters import apply_lora
from workbench.train.batches import Collator, Example, LabelMaker

HEAVIEST = AugmentSpec(
    speed=SpeedSpec(p=1.0),
    reverb=ReverbSpec(p=1.0),
    noise=NoiseSpec(p=1.0, kinds=["machinery", "monitor", "pink"]),
    telephone=TelephoneSpec(p=1.0),
)


def per_sample(augment, clips: list[np.ndarray], rounds: int) -> float:
    augment(clips[0], 0)  # warm caches (impulse responses, imports)
    start = time.perf_counter()
    for r in range(rounds):
        for i, clip in enumerate(clips):
            augment(clip, (0, r, i))
    return (time.perf_counter() - start) / (rounds * len(clips))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", default="data_recipes/industrial_tiny-en_lora.yaml")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", default="bench/augment_vs_train.json")
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()
    recipe = load_recipe(args.recipe)
    texts = [c.text for c in librivox_clips()]
    clips = [load_audio(c.path) for c in librivox_clips()]
    batch = recipe.train.batch_size
    clips, texts = (clips * batch)[:batch], (texts * batch)[:batch]

    recipe_aug = per_sample(build_augmenter(recipe.augment), clips, 3)
    heavy_aug = per_sample(build_augmenter(HEAVIEST), clips, 3)

    loaded = load_model(recipe.base_model, device="cpu", dtype=torch.float32)
    model, _ = apply_lora(loaded.model, recipe.lora)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    collate = Collator(
        loaded.processor, LabelMaker(loaded.processor, multilingual=loaded.multilingual)
    )
    examples = [
        Example(str(i), c, t, False, {}) for i, (c, t) in enumerate(zip(clips, texts, strict=True))
    ]
    times = []
    for step in range(args.steps + 1):
        start = time.perf_counter()
        out = model(**{k: v for k, v in collate(examples).items() if k != "general"})
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step:  # the first step warms up
            times.append(time.perf_counter() - start)
    step_per_sample = float(np.median(times)) / batch

    cores = f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}"
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    figures = {
        "machine": f"{cores}, {gpu}",
        "recipe": recipe.name,
        "batch_size": batch,
        "train_step_s_per_sample": round(step_per_sample, 4),
        "recipe_augment_s_per_sample": round(recipe_aug, 4),
        "heaviest_augment_s_per_sample": round(heavy_aug, 4),
        "recipe_augment_share_of_step": round(recipe_aug / step_per_sample, 4),
        "heaviest_augment_share_of_step": round(heavy_aug / step_per_sample, 4),
    }
    print(f"{'what':<44}{'s/sample':>10}{'share of step':>15}")
    print(f"{'LoRA training step (' + recipe.name + ')':<44}{step_per_sample:>10.4f}{1:>15.1%}")
    print(
        f"{'augmentation, the recipe':<44}{recipe_aug:>10.4f}{recipe_aug / step_per_sample:>15.1%}"
    )
    heavy_share = heavy_aug / step_per_sample
    print(f"{'augmentation, all transforms every time':<44}{heavy_aug:>10.4f}{heavy_share:>15.1%}")
    Path(args.out).write_text(json.dumps(figures, indent=2))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
