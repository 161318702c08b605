"""The model card (``README.md`` with YAML metadata) of an exported adapter."""

from __future__ import annotations

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
        "prompt applies when its recipe decodes with it (send `lexicon=false` to turn it off):",
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


def model_card(recipe: Recipe, info: dict, report: dict | None, status: dict) -> str:
    """Markdown with YAML front matter: base model and hash, domain, data, figures, limits."""
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
