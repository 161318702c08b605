"""The lexicon boost at several strengths: term recall, WER and term false alarms, side by side.

    python bench/boost_sweep.py [--recipe RECIPE] [--boost 0 1 2 4] [--beams 1] [--adapter DIR]
                                [--limit N] [--out FILE]

Prepares the recipe's data (cached), loads its base model (with ``--adapter``: adapted), decodes
the eval and general sets once per boost value on the same audio with the same settings (the
encoder's outputs computed once), and prints per set and strength: WER, term recall, term
false alarms (terms written that the reference lacks; per 1,000 reference words) and term
precision, before and after the misrecognition rewrite. Boost 0 is the system without the
boost. Writes every figure and transcript as JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
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
from workbench.evaluate.terms import term_false_alarms, term_recall
from workbench.lexicon import UNSPACED_LANGUAGES, load_lexicon
from workbench.models.loading import load_model
from workbench.recipe import load_recipe
from workbench.transcribe import DecodeOptions, EncoderCache, Transcriber


def figures(refs, texts, lexicon, normalize, spaced) -> dict:
    s = score(refs, texts, normalize, spaced=spaced)
    r = term_recall(refs, texts, lexicon, normalize, spaced=spaced)
    fa = term_false_alarms(refs, texts, lexicon, normalize, spaced=spaced)
    return {
        "wer": round(s.wer, 4),
        "term_recall": None if r.recall is None else round(r.recall, 4),
        "term_false_alarms": fa.false_alarms,
        "fa_per_1k_words": round(1000 * fa.false_alarms / s.ref_words, 2),
        "term_precision": None if fa.precision is None else round(fa.precision, 4),
        "false_alarm_terms": dict(fa.by_term.most_common()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", default="data_recipes/medical_tiny-en_lora.yaml")
    parser.add_argument("--boost", type=float, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--beams", type=int, default=1)
    parser.add_argument("--adapter", type=Path, help="decode with this adapter applied")
    parser.add_argument("--lexicon", type=Path, help="a lexicon other than the recipe's")
    parser.add_argument("--limit", type=int, help="at most N clips of the eval set")
    parser.add_argument("--general-limit", type=int, help="at most N clips of the general set")
    parser.add_argument("--out", type=Path, default=Path("bench/out/boost_sweep.json"))
    args = parser.parse_args()

    recipe = load_recipe(args.recipe)
    prepared = prepare_data(recipe, log=lambda m: None)
    lexicon = load_lexicon(args.lexicon) if args.lexicon else recipe_lexicon(recipe)
    loaded = load_model(recipe.base_model)
    if args.adapter:
        from peft import PeftModel

        loaded.model = PeftModel.from_pretrained(loaded.model, str(args.adapter)).eval()
        loaded.model.merge_adapter()
    language = recipe.language or "en"
    normalize = get_normalizer(language)
    spaced = language not in UNSPACED_LANGUAGES
    rewriter = Rewriter(lexicon, spaced=spaced)
    options = DecodeOptions(
        decoding=DecodingOptions(beam_size=args.beams), language=recipe.language
    )
    out: dict = {
        "recipe": args.recipe,
        "beams": args.beams,
        "adapter": str(args.adapter or ""),
        "sets": {},
    }
    for name in ("eval", "general"):
        utts = prepared.utterances(name)[: args.limit if name == "eval" else args.general_limit]
        if not utts:
            continue
        audio = [load_audio(u.audio) for u in utts]
        refs = [u.text for u in utts]
        cache = EncoderCache()  # the first strength computes the encoder outputs for all
        rows = {}
        out["sets"][name] = {"n": len(utts), "references": refs, "boost": rows}
        for boost in args.boost:
            processor = boost_processor(lexicon, loaded.processor.tokenizer, boost, spaced=spaced)
            transcriber = Transcriber(loaded, options, batch_size=8, logits_processor=processor)
            start = time.perf_counter()
            raw = transcriber.transcribe_arrays(audio, cache)
            seconds = time.perf_counter() - start - (cache.seconds if not rows else 0.0)
            row = figures(refs, raw, lexicon, normalize, spaced)
            row["decode_seconds"] = round(seconds, 2)
            row["texts"] = raw
            if boost > 0:
                rewritten = [rewriter(t) for t in raw]
                row["rewritten"] = figures(refs, rewritten, lexicon, normalize, spaced)
                row["rewritten"]["texts"] = rewritten
            rows[str(boost)] = row
            after = row.get("rewritten", row)
            print(
                f"{name:8} n={len(utts):4} boost {boost:4g}: WER {row['wer']:.3f} "
                f"recall {row['term_recall']} FA {row['term_false_alarms']} "
                f"({row['fa_per_1k_words']}/1k) prec {row['term_precision']} | +rewrite: "
                f"WER {after['wer']:.3f} recall {after['term_recall']} "
                f"FA {after['term_false_alarms']} | decode {seconds:.1f}s",
                flush=True,
            )
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(out, indent=1))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
