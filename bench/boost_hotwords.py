"""faster-whisper's ``hotwords`` against the workbench's lexicon boost, on the same clips.

    python bench/boost_hotwords.py [--recipe RECIPE] [--run RUN_DIR] [--ct2 FOLDER]
                                   [--limit N] [--boost X] [--out FILE]

The ct2 (faster-whisper) export has no hook into the decoder's scores, so the lexicon boost
cannot run there; ``hotwords`` (the terms as a prompt) is the closest it has. This decodes the
first ``--limit`` clips of the recipe's eval set that hold a lexicon term four ways, greedy
with Whisper's usual guards on both sides (temperature fallback, compression-ratio and
log-prob checks, no-speech drop: as ``workbench transcribe`` and faster-whisper decode by
default), without conditioning on earlier text: faster-whisper without and
with ``hotwords`` (the lexicon's terms, as the model card shows them), and the workbench's
decoder without and with the boost (and the misrecognition rewrite). It prints term recall and
WER side by side and writes them as JSON.

Without ``--run``: the recipe's base model (a bundled model's own faster-whisper files serve
the faster-whisper side). With ``--run``: the run's adapter on our side and, on faster-whisper's,
``--ct2`` or else the run exported to ct2 (float32) in a temporary folder; the JSON then goes
to ``RUN/boost_hotwords.json`` by default, where ``workbench export --format ct2`` reads it for
the model card.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.audio import load_audio
from workbench.data.prepare import prepare_data, recipe_lexicon
from workbench.decoding.boost import boost_processor
from workbench.decoding.options import DecodingOptions
from workbench.decoding.rewrite import Rewriter
from workbench.evaluate.metrics import score
from workbench.evaluate.normalize import get_normalizer
from workbench.evaluate.terms import term_recall
from workbench.export.model_card import HOTWORDS_FILE
from workbench.lexicon import UNSPACED_LANGUAGES
from workbench.models.loading import load_model
from workbench.recipe import load_recipe
from workbench.transcribe import DecodeOptions, EncoderCache, Transcriber

# Whisper's usual decoding, the same on both sides: greedy, then fallback temperatures.
GUARDED = DecodingOptions()


def bundled_ct2_folder(spec: str) -> Path | None:
    """The faster-whisper folder inside a bundled model's package (one file, not parts)."""
    from workbench.models.bundled import BUNDLED, part_paths

    name = spec.removeprefix("bundled:")
    if not spec.startswith("bundled:") or name not in BUNDLED:
        return None
    parts = part_paths(BUNDLED[name])
    return parts[0].parent if len(parts) == 1 else None


def faster_whisper_texts(folder: Path, audio: list, hotwords: str | None, language: str) -> list:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(folder), device="cpu", compute_type="float32")
    texts = []
    for clip in audio:
        segments, _ = model.transcribe(
            clip,
            language=language,
            beam_size=GUARDED.beam_size,
            best_of=GUARDED.best_of,
            temperature=list(GUARDED.temperatures),
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
            compression_ratio_threshold=GUARDED.compression_ratio_threshold,
            log_prob_threshold=GUARDED.logprob_threshold,
            no_speech_threshold=GUARDED.no_speech_threshold,
            hotwords=hotwords,
        )
        texts.append(" ".join(s.text.strip() for s in segments))
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", default="data_recipes/medical_tiny-en_lora.yaml")
    parser.add_argument("--run", type=Path, help="a run folder: its adapter and its ct2 export")
    parser.add_argument("--ct2", type=Path, help="the faster-whisper folder (default: see doc)")
    parser.add_argument("--limit", type=int, default=12, help="clips with a term (default 12)")
    parser.add_argument("--boost", type=float, default=3.0, help="the boost's strength")
    parser.add_argument("--out", type=Path, help="JSON (default: RUN/boost_hotwords.json)")
    args = parser.parse_args()

    recipe = load_recipe(args.run / "recipe.yaml" if args.run else args.recipe)
    lexicon = recipe_lexicon(recipe)
    if lexicon is None:
        sys.exit(f"{args.recipe}: the recipe has no lexicon")
    language = recipe.language or "en"
    normalize = get_normalizer(language)
    spaced = language not in UNSPACED_LANGUAGES
    utts = [
        u
        for u in prepare_data(recipe, log=lambda m: None).utterances("eval")
        if lexicon.find_terms(u.text, normalize, spaced=spaced)
    ][: args.limit]
    if not utts:
        sys.exit("the eval set has no clip with a lexicon term")
    audio = [load_audio(u.audio) for u in utts]
    refs = [u.text for u in utts]
    hotwords = lexicon.prompt_text()

    loaded = load_model(recipe.base_model)
    if args.run:
        from peft import PeftModel

        loaded.model = PeftModel.from_pretrained(loaded.model, str(args.run / "adapter")).eval()
    options = DecodeOptions(decoding=GUARDED, language=recipe.language)
    processor = boost_processor(lexicon, loaded.processor.tokenizer, args.boost, spaced=spaced)
    rewriter = Rewriter(lexicon, spaced=spaced)
    texts, seconds = {}, {}
    cache = EncoderCache()
    for name, extra in (("workbench", ()), ("workbench_boost_no_rewrite", [processor])):
        start = time.perf_counter()
        texts[name] = Transcriber(loaded, options, logits_processor=extra).transcribe_arrays(
            audio, cache
        )
        seconds[name] = time.perf_counter() - start
    texts["workbench_boost"] = [rewriter(t) for t in texts["workbench_boost_no_rewrite"]]

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.ct2
        if folder is None and args.run:
            from workbench.export.package import export_ct2

            folder = export_ct2(args.run, Path(scratch) / "ct2", "float32")
        folder = folder or bundled_ct2_folder(recipe.base_model)
        if folder is None:
            sys.exit(f"no faster-whisper folder for {recipe.base_model}: give --ct2 FOLDER")
        for name, words in (("faster_whisper", None), ("faster_whisper_hotwords", hotwords)):
            start = time.perf_counter()
            texts[name] = faster_whisper_texts(folder, audio, words, language)
            seconds[name] = time.perf_counter() - start

    order = [
        "faster_whisper",
        "faster_whisper_hotwords",
        "workbench",
        "workbench_boost_no_rewrite",
        "workbench_boost",
    ]
    recall, wer = {}, {}
    for name in order:
        r = term_recall(refs, texts[name], lexicon, normalize, spaced=spaced).recall
        recall[name] = round(r or 0.0, 4)
        wer[name] = round(score(refs, texts[name], normalize, spaced=spaced).wer, 4)
        print(f"{name:28} term recall {recall[name]:.3f}  WER {wer[name]:.3f}")
    out = {
        "recipe": recipe.name,
        "model": recipe.base_model + (f" + {args.run / 'adapter'}" if args.run else ""),
        "set": f"{recipe.name} eval set, clips with a term",
        "clips": len(utts),
        "boost": args.boost,
        "hotwords": hotwords,
        "term_recall": recall,
        "wer": wer,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "utterances": [
            {"id": u.id, "reference": u.text, **{k: texts[k][i] for k in order}}
            for i, u in enumerate(utts)
        ],
        "command": "python bench/boost_hotwords.py " + " ".join(sys.argv[1:]),
    }
    target = args.out or (args.run / HOTWORDS_FILE if args.run else None)
    target = target or Path("bench/out/boost_hotwords.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, indent=1, ensure_ascii=False))
    print(f"written: {target}")


if __name__ == "__main__":
    main()
