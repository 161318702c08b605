"""The model card (``README.md`` with YAML metadata) of an exported adapter."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from workbench.evaluate.compare import difference_lines, figure_rows
from workbench.recipe import Recipe


def _figures_table(report: dict) -> str:
    lines = [
        "| set | n | system | WER | CER | term recall |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in figure_rows(report)]
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {line}" for line in difference_lines(report))


def _serve_section(recipe: Recipe) -> list[str]:
    """How to serve the package (the OpenAI audio API) and how to call it."""
    name = recipe.name
    return [
        "## Serve",
        "",
        "An OpenAI-compatible endpoint (`/v1/audio/transcriptions`); the package's lexicon "
        "prompt applies when its recipe decodes with it, and its lexicon boost at the "
        "package's strength (send `lexicon=false` to turn both off, `boost=X` for another "
        "strength, `term_gate=true` for the adapter's transcript only where it changes a "
        "lexicon term):",
        "",
        "```bash",
        f"workbench serve --model {recipe.base_model} --adapter {name}=path/to/this/folder",
        "# listens on http://127.0.0.1:8000; another --host needs --api-key-env VAR",
        "curl http://127.0.0.1:8000/v1/audio/transcriptions \\",
        f"  -F file=@clip.wav -F model={name} -F response_format=text",
        "```",
        "",
        "```python",
        "from openai import OpenAI",
        "",
        'client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused-on-loopback")',
        'with open("clip.wav", "rb") as f:',
        f'    print(client.audio.transcriptions.create(model="{name}", file=f).text)',
        "```",
        "",
    ]


def boost_section(boost: dict | None) -> list[str]:
    """The package's default lexicon boost (``lexicon_boost.json``), and its tuning table."""
    if not boost:
        return []
    lines = ["## Lexicon boost", ""]
    if boost.get("boost"):
        lines.append(
            f"`workbench transcribe --adapter` and `workbench serve` decode this package with the "
            f"lexicon boost at strength **{boost['boost']:g}** by default ({boost['source']}): "
            "a bonus for tokens that continue one of `lexicon.tsv`'s terms, taken back when the "
            "match is abandoned, and the lexicon's known misrecognitions rewritten to their "
            "terms. `--boost 0` (a request's `boost=0` or `lexicon=false`) turns it off; "
            "`--boost X` sets another strength."
        )
    else:
        lines.append(
            f"This package decodes without the lexicon boost by default ({boost['source']}). "
            "`--boost X` turns it on with the package's `lexicon.tsv`."
        )
    tuning = boost.get("tuning")
    if tuning:
        lines += ["", f"Chosen by tuning: {tuning['why']}."]
    if boost.get("near_miss"):
        lines += [
            "",
            f"Near misses of a term are rewritten to it after decoding (spelling similarity "
            f'**{boost["near_miss"]:g}** or more: "deloxetine" becomes "duloxetine"; never '
            "a run of everyday words, never a term shorter than six letters). `--boost 0` (a "
            "request's `lexicon=false`) turns it off with the boost.",
        ]
    return [*lines, ""]


def tuning_table(report: dict | None) -> list[str]:
    """The tuning's table (``report["boost_tuning"]``) as markdown, or nothing."""
    tuning = (report or {}).get("boost_tuning")
    if not tuning:
        return []
    name = tuning.get("constraint", {}).get("set", "general")
    lines = [
        f"| boost | dev term recall | dev WER | {name} WER | {name} WER rise "
        f"| {name} term false alarms | within the limits |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in tuning["table"]:
        recall = "-" if row["dev_term_recall"] is None else f"{row['dev_term_recall']:.3f}"
        lines.append(
            f"| {row['boost']:g} | {recall} | {row['dev_wer']:.3f} | {row['general_wer']:.3f} "
            f"| {100 * row['general_wer_rise']:+.1f} pt | {row['general_term_false_alarms']} "
            f"| {'yes' if row['meets_constraint'] else 'no'} |"
        )
    return [*lines, "", tuning["note"], ""]


# A general-set WER rise (points) above which the card recommends the term gate.
GATE_ADVICE_RISE = 1.0


def gate_advice(report: dict | None, recipe: Recipe) -> list[str]:
    """A section recommending the term gate when the adapter costs everyday speech more than
    :data:`GATE_ADVICE_RISE` points on the report's general set, with the gated figures."""
    general = ((report or {}).get("sets") or {}).get("general") or {}
    if "adapted_gated" not in general:
        return []
    rise = 100 * (general["adapted"]["wer"] - general["base"]["wer"])
    if rise <= GATE_ADVICE_RISE:
        return []
    name = recipe.name
    lines = [
        "## Everyday speech: the term gate",
        "",
        f"On the general set (everyday speech never trained on, n={general['n']}) this adapter "
        f"raises WER by {rise:.1f} points over the base model "
        f"({general['base']['wer']:.3f} -> {general['adapted']['wer']:.3f}). The term gate "
        "keeps the adapter's transcript only where it changes a lexicon term and the base "
        "model's elsewhere, so everyday speech stays as the base model writes it:",
        "",
        "| set | n | system | WER | CER | term recall |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    shown = ("base", "adapted", "adapted_gated", "adapted_gated_boost")
    lines += ["| " + " | ".join(row) + " |" for row in figure_rows(report) if row[2] in shown]
    lines += [
        "",
        "Decode with it (a decoder-only adapter shares one encoder pass between the two):",
        "",
        "```bash",
        f"workbench transcribe AUDIO --model {recipe.base_model} --adapter path/to/this/folder "
        "--term-gate",
        f"curl ... -F model={name} -F term_gate=true   # workbench serve",
        "```",
        "",
    ]
    return lines


def model_card(
    recipe: Recipe, info: dict, report: dict | None, status: dict, *, boost: dict | None = None
) -> str:
    """Markdown with YAML front matter: base model and hash, domain, data, figures, limits;
    with ``boost`` (``lexicon_boost.json``), the lexicon boost it decodes with by default."""
    meta = info["meta"] or {}
    front = {
        "library_name": "peft",
        "base_model": recipe.base_model,
        "base_model_sha256": meta.get("base_sha256"),
        "pipeline_tag": "automatic-speech-recognition",
        "language": [recipe.language or "en"],
        "tags": [
            "whisper",
            "lora",
            "domain-adaptation",
            *([recipe.domain] if recipe.domain else []),
        ],
        "license": "mit",
    }
    adapter = info["config"]
    sources = {
        split: [s.source for s in getattr(recipe.data, split)]
        for split in ("train", "eval", "general", "replay")
    }
    body = [
        f"# {recipe.name}: a LoRA adapter for {recipe.base_model}",
        "",
        f"Adapts Whisper ({recipe.base_model}) to the **{recipe.domain or 'custom'}** domain with LoRA "
        f"(rank {adapter.get('r')}, alpha {adapter.get('lora_alpha')}) on "
        f"{len(meta.get('adapted_modules', []))} modules of the top {recipe.lora.top_encoder_layers} "
        f"encoder and top {recipe.lora.top_decoder_layers} decoder layers; "
        f"{meta.get('trainable_params', 0):,} trainable parameters, all other weights frozen. "
        f"Trained {status.get('step')} steps (state: {status.get('state')}).",
        "",
        "## Data",
        "",
        *(f"- {split}: {', '.join(kinds)}" for split, kinds in sources.items() if kinds),
        "",
        "See `recipe.yaml` for every setting, and `lexicon.tsv` for the domain's terms.",
        "",
        "## Base model against adapted model",
        "",
        _figures_table(report) if report else "_No evaluation was run for this adapter._",
        "",
        *gate_advice(report, recipe),
        *boost_section(boost),
        *tuning_table(report),
        "## Intended use and limits",
        "",
        "For transcribing speech of this domain with the base model named above, where the base "
        "model gets the domain's terms wrong. Check the general set's figures before deploying: "
        "an adapter can cost accuracy on everyday speech. Figures measured on synthetic speech "
        "show that the vocabulary was learnt, not how the model fares on real speakers: evaluate on "
        "held-out recordings of your own users (`workbench eval RECIPE --adapter DIR --data YOUR_DATA`). "
        "Not for medical, legal or safety decisions without human review of every transcript.",
        "",
        "## Use",
        "",
        "```python",
        "from peft import PeftModel",
        "from transformers import WhisperForConditionalGeneration",
        "",
        "base = WhisperForConditionalGeneration.from_pretrained(BASE_MODEL_FOLDER)",
        "model = PeftModel.from_pretrained(base, 'path/to/this/folder')",
        "```",
        "",
        f"or `workbench transcribe AUDIO --model {recipe.base_model} --adapter path/to/this/folder`.",
        "",
        *_serve_section(recipe),
    ]
    return (
        "---\n"
        + yaml.safe_dump(front, sort_keys=False, allow_unicode=True)
        + "---\n\n"
        + "\n".join(body)
    )


# Written by bench/boost_hotwords.py into the run folder; read by the ct2 export's card.
HOTWORDS_FILE = "boost_hotwords.json"
HOTWORDS_SYSTEMS = ("faster_whisper", "faster_whisper_hotwords", "workbench", "workbench_boost")


def read_hotwords_figures(path: Path) -> tuple[dict | None, str]:
    """The figures ``bench/boost_hotwords.py`` measured, or None and why there are none."""
    if not path.is_file():
        return None, f"not measured (no {path.name} in the run folder)"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        recall, wer = data["term_recall"], data["wer"]
        for system in HOTWORDS_SYSTEMS:
            float(recall[system])
            float(wer[system])
        int(data["clips"])
        float(data["boost"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        return None, f"not measured ({path.name} is unreadable: {exc!r})"
    return data, ""


def hotwords_section(terms: str, figures: dict | None, why_not: str) -> list[str]:
    """What a faster-whisper model loses of the lexicon boost, its closest equivalent
    (``hotwords``), and the difference ``bench/boost_hotwords.py`` measured, if it ran."""
    lines = [
        "## Lexicon boost: what this format loses",
        "",
        "faster-whisper (CTranslate2) gives no hook into the decoder's scores at each step, so "
        "the workbench's lexicon boost (a bonus for tokens that continue a term of "
        "`lexicon.tsv`, taken back when the match is abandoned, weighted per term) does not "
        "run here, nor does the rewrite of the lexicon's known misrecognitions. The closest "
        "equivalent is faster-whisper's `hotwords`: the terms placed in the prompt, as earlier "
        "text (at most 223 tokens). It is a prompt, not a boost: nothing is taken back, no "
        "term weighs more than another, and a model trained without the lexicon prompt may do "
        "worse with it.",
        "",
        "```python",
        "from faster_whisper import WhisperModel",
        "",
        'model = WhisperModel("path/to/this/folder")',
        f"hotwords = {terms!r}",
        'segments, _ = model.transcribe("clip.wav", hotwords=hotwords)',
        "```",
        "",
    ]
    if figures is None:
        return [*lines, f"The difference from the workbench's boost: {why_not}.", ""]
    r, w = figures["term_recall"], figures["wer"]
    return [
        *lines,
        f"Measured by `bench/boost_hotwords.py` on {figures['clips']} clips "
        f"({figures.get('set', 'held-out')}), greedy with Whisper's fallback: term recall "
        f"{r['faster_whisper']:.3f} without `hotwords` and {r['faster_whisper_hotwords']:.3f} "
        f"with them ({100 * (r['faster_whisper_hotwords'] - r['faster_whisper']):+.1f} points); "
        f"the workbench's boost at {figures['boost']:g} (with the rewrite) "
        f"{r['workbench_boost']:.3f} against {r['workbench']:.3f} without "
        f"({100 * (r['workbench_boost'] - r['workbench']):+.1f} points). WER "
        f"{w['faster_whisper']:.3f} / {w['faster_whisper_hotwords']:.3f} (faster-whisper "
        f"without / with `hotwords`), {w['workbench']:.3f} / {w['workbench_boost']:.3f} "
        "(workbench without / with the boost).",
        "",
    ]


def ct2_model_card(
    recipe: Recipe,
    info: dict,
    report: dict | None,
    status: dict,
    *,
    terms: str,
    hotwords: tuple[dict | None, str],
    quantization: str,
) -> str:
    """The card of a faster-whisper folder: the adapter merged in, its figures, what the
    format loses of the lexicon boost and what stands in for it (:func:`hotwords_section`)."""
    meta = info["meta"] or {}
    front = {
        "library_name": "ctranslate2",
        "base_model": recipe.base_model,
        "base_model_sha256": meta.get("base_sha256"),
        "pipeline_tag": "automatic-speech-recognition",
        "language": [recipe.language or "en"],
        "tags": ["whisper", "faster-whisper", *([recipe.domain] if recipe.domain else [])],
        "license": "mit",
    }
    body = [
        f"# {recipe.name}: {recipe.base_model} with its LoRA adapter merged, for faster-whisper",
        "",
        f"CTranslate2 weights ({quantization}) of the base model with the adapter merged in "
        f"(trained {status.get('step')} steps, state: {status.get('state')}). The figures below "
        "were measured with the workbench's decoder on the unquantized model.",
        "",
        "## Base model against adapted model",
        "",
        _figures_table(report) if report else "_No evaluation was run for this adapter._",
        "",
        *hotwords_section(terms, *hotwords),
    ]
    if not terms:
        body = body[: body.index("## Lexicon boost: what this format loses")]
    return (
        "---\n"
        + yaml.safe_dump(front, sort_keys=False, allow_unicode=True)
        + "---\n\n"
        + "\n".join(body)
    )
