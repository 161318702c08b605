"""The adapter's weights scaled toward the base model: term recall against everyday speech.

    python bench/adapter_scale.py RUN_DIR [--scale 0.25 0.5 0.75 1] [--out FILE]

Weight-space interpolation (WiSE-FT): every LoRA delta of the run's adapter multiplied by
``s`` (0: the base model, 1: the adapter as trained). Decodes the run's eval and general sets
at each scale with the same settings (greedy with fallback; the encoder's outputs computed once
per set, so a decoder-only adapter is compared on the same encoder states) and prints WER, term
recall and term false alarms per set and scale. Writes every figure and transcript as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from boost_sweep import figures

from workbench.audio import load_audio
from workbench.data.prepare import prepare_data, recipe_lexicon
from workbench.evaluate.normalize import get_normalizer
from workbench.lexicon import UNSPACED_LANGUAGES
from workbench.models.loading import load_model
from workbench.recipe import load_recipe
from workbench.transcribe import DecodeOptions, EncoderCache, Transcriber


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a finished run folder (recipe.yaml, adapter/)")
    parser.add_argument("--scale", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--out", type=Path, help="default: RUN/adapter_scale.json")
    args = parser.parse_args()

    from peft import PeftModel
    from peft.tuners.lora import LoraLayer

    recipe = load_recipe(args.run / "recipe.yaml")
    prepared = prepare_data(recipe, log=lambda m: None)
    lexicon = recipe_lexicon(recipe)
    loaded = load_model(recipe.base_model)
    loaded.model = PeftModel.from_pretrained(loaded.model, str(args.run / "adapter")).eval()
    layers = [m for m in loaded.model.modules() if isinstance(m, LoraLayer)]
    trained = [dict(m.scaling) for m in layers]
    language = recipe.language or "en"
    normalize = get_normalizer(language)
    spaced = language not in UNSPACED_LANGUAGES
    options = DecodeOptions(language=recipe.language)
    out: dict = {"run": str(args.run), "sets": {}}
    for name in ("eval", "general"):
        utts = prepared.utterances(name)
        if not utts:
            continue
        audio = [load_audio(u.audio) for u in utts]
        refs = [u.text for u in utts]
        cache = EncoderCache()
        rows = out["sets"].setdefault(name, {"n": len(utts), "references": refs, "scale": {}})
        for scale in args.scale:
            for layer, scaling in zip(layers, trained, strict=True):
                for adapter, value in scaling.items():
                    layer.scaling[adapter] = value * scale
            start = time.perf_counter()
            texts = Transcriber(loaded, options, batch_size=8).transcribe_arrays(audio, cache)
            row = figures(refs, texts, lexicon, normalize, spaced)
            row["texts"] = texts
            rows["scale"][str(scale)] = row
            print(
                f"{name:8} n={len(utts):4} scale {scale:4g}: WER {row['wer']:.3f} "
                f"recall {row['term_recall']} FA {row['term_false_alarms']} "
                f"({row['fa_per_1k_words']}/1k) | {time.perf_counter() - start:.1f}s",
                flush=True,
            )
    path = args.out or args.run / "adapter_scale.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"written: {path}")


if __name__ == "__main__":
    main()
