"""Data tab: prepare the recipe's data and see what was kept and what was refused; upload a
dataset (a zip of an audiofolder, or audio files plus a CSV) and add it to the recipe;
listen to samples; hear synthetic speech made from the lexicon."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
import yaml

from workbench.audio import SAMPLE_RATE, load_audio
from workbench.schema import safe_yaml
from workbench.ui.common import PREVIEW_SECONDS, Shared, friendly, in_place, require_recipe
from workbench.ui.lexicon_tab import editor_lexicon
from workbench.ui.recipe_editor import data_block
from workbench.ui.uploads import (
    UploadError,
    check_dataset,
    discard_upload,
    extract_zip,
    hold_uploads,
    import_files,
    safe_name,
)

VOICES = [
    "piper:joe",
    "espeak:en-us",
    "espeak:en-gb-x-rp",
    "espeak:en-gb-scotland",
    "espeak:en-us-nyc",
    "espeak:en-029",
    "espeak:cmn-latn-pinyin",
    "espeak:yue",
]
SPLIT_COLUMNS = ["split", "utterances", "hours", "speakers", "dropped"]


def prepared_tables(report: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(counts per split, every dropped row with its reason) from ``prepared.json``."""
    counts, dropped = [], []
    for split, info in report["splits"].items():
        hours = round(info["hours"], 3)
        counts.append([split, info["n"], hours, info["speakers"], info["dropped"]])
        for problem in info["problems"]:
            where, _, reason = problem.partition(": ")
            dropped.append([split, where, reason])
    return (
        pd.DataFrame(counts, columns=SPLIT_COLUMNS),
        pd.DataFrame(dropped, columns=["split", "row", "reason"]),
    )


def add_source(text: str, split: str, source: dict) -> str:
    """The recipe YAML ``text`` with ``source`` appended to ``data.<split>``."""
    data = safe_yaml(text or "", "recipe") or {}
    if not isinstance(data, dict):
        raise gr.Error("the recipe YAML is not a mapping; fix it in the Recipes tab first")
    section = data.get("data") if isinstance(data.get("data"), dict) else {}
    items = section.get(split) if isinstance(section.get(split), list) else []
    section[split] = [*items, source]
    data["data"] = section
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def create_data_tab(shared: Shared) -> dict[str, Any]:
    """Build the tab; returns its components by name."""
    ws = shared.ws
    gr.Markdown("### The recipe's data")
    prepare_btn = gr.Button("Prepare and check the recipe's data", elem_id="data-prepare")
    counts = gr.Dataframe(headers=SPLIT_COLUMNS, interactive=False, elem_id="data-counts")
    dropped = gr.Dataframe(
        headers=["split", "row", "reason"],
        interactive=False,
        label="rows left out, and why",
        max_height=240,
        elem_id="data-dropped",
    )
    with gr.Row():
        sample_pick = gr.Dropdown(label="listen to a training sample", choices=[], scale=2)
        sample_audio = gr.Audio(label="sample", interactive=False, scale=2)
    sample_text = gr.Textbox(label="its transcript", interactive=False)

    gr.Markdown("### Upload a dataset")
    gr.Markdown(
        "A **zip** of an audiofolder (audio files plus `metadata.csv` with `file_name` and "
        "`transcription`), or the **audio files plus one CSV** of transcripts. Each upload "
        "lands in a new folder of its own; archives with entries that would land outside it "
        "are refused."
    )
    with gr.Row():
        files = gr.File(label="files", file_count="multiple", elem_id="data-files")
        with gr.Column():
            name = gr.Textbox(label="dataset name", value="my-data", elem_id="data-name")
            import_btn = gr.Button("Import and check", variant="primary", elem_id="data-import")
    upload_note = gr.Markdown(elem_id="data-upload-note")
    refused = gr.Dataframe(
        headers=["file or row", "reason"],
        interactive=False,
        label="refused",
        elem_id="data-refused",
    )
    dataset = gr.State("")
    samples = gr.State({})  # audio path -> transcript of the listed training samples
    with gr.Row():
        split = gr.Radio(["train", "eval", "general"], value="train", label="use it as")
        add_btn = gr.Button("Add to the recipe (then save it in the Recipes tab)")

    gr.Markdown("### Synthetic speech from the lexicon")
    with gr.Row():
        voice = gr.Dropdown(VOICES, value="piper:joe", label="voice", allow_custom_value=True)
        term = gr.Dropdown(
            label="term (type to find any term of the lexicon)",
            choices=[],
            allow_custom_value=True,
            num_choices_shown=None,  # every term, not the first 100
            elem_id="data-term",
        )
        speak_btn = gr.Button("Say it in a sentence", elem_id="data-speak")
    synth_note = gr.Markdown(elem_id="data-synth-note")
    synth_text = gr.Textbox(label="sentence", interactive=False)
    synth_audio = gr.Audio(label="synthetic speech", interactive=False)

    @friendly
    def on_prepare(recipe_path: str | None, progress: gr.Progress = gr.Progress()):
        from workbench.data.prepare import prepare_data

        recipe = ws.load_recipe(require_recipe(recipe_path))
        prepared = prepare_data(
            recipe,
            log=lambda message: progress(None, desc=message[:80]),
            # clips synthesised / prepared of all, with the time left, on the page's bar
            progress=lambda c: progress((c.done, c.total), desc=c.line()[:100], unit="clips"),
        )
        count_frame, dropped_frame = prepared_tables(prepared.report)
        train = prepared.utterances("train")[:50]
        choices = [(f"{u.id}: {u.text[:60]}", str(u.audio)) for u in train]
        gr.Info(f"data ready{' (cached)' if prepared.cached else ''}: {prepared.folder}")
        listed = {str(u.audio): u.text for u in train}
        return count_frame, dropped_frame, gr.update(choices=choices, value=None), listed

    @friendly
    def on_sample(path: str | None, listed: dict[str, str]):
        if not path or path not in listed:  # only the clips listed above are played
            return None, ""
        return (SAMPLE_RATE, load_audio(path, max_seconds=PREVIEW_SECONDS, truncate=True)), listed[
            path
        ]

    @friendly
    def on_import(paths: list[str] | None, dataset_name: str):
        if not paths:
            raise gr.Error("choose a zip, or audio files and a CSV, first", print_exception=False)
        items = [Path(p) for p in paths]
        hold_uploads(items)
        label = safe_name(dataset_name or "dataset", "dataset")
        try:
            if len(items) == 1 and items[0].suffix.lower() == ".zip":
                result = extract_zip(items[0], ws.data)
            else:
                result = import_files(items, ws.data, label)
        except UploadError as exc:
            gr.Warning(str(exc))
            empty = pd.DataFrame([], columns=["file or row", "reason"])
            return f"⚠ {exc}", empty, "", None
        finally:
            for item in items:  # consumed: Gradio's copy goes, whatever came of it
                discard_upload(item)
        rows = [r.split(": ", 1) if ": " in r else [r, ""] for r in result.refused]
        check = check_dataset(result.folder) if result.folder is not None else None
        if check is not None:
            rows += [p.split(": ", 1) if ": " in p else [p, ""] for p in check.problems]
        frame = pd.DataFrame(rows, columns=["file or row", "reason"])
        if check is None or not check.n:
            if result.folder is not None:  # the import's own fresh folder: nothing to keep
                shutil.rmtree(result.folder, ignore_errors=True)
            note = f"**0 utterances** usable, {len(rows)} refused; nothing was kept."
            return note, frame, "", None
        note = (
            f"**{check.n} utterances** kept ({check.hours * 60:.1f} minutes, "
            f"{check.speakers} speakers), {len(rows)} refused; saved in `{result.folder}`."
        )
        return note, frame, str(result.folder), None

    @friendly
    def on_add(folder: str, split_name: str, text: str):
        if not folder or not Path(folder).is_dir() or not ws.owns(Path(folder)):
            raise gr.Error("import a dataset with at least one good utterance first")
        new = add_source(text, split_name, {"source": "audiofolder", "path": folder})
        gr.Info(f"added to data.{split_name}; save the recipe in the Recipes tab")
        return new, data_block(safe_yaml(new, "recipe"))

    @in_place(2)
    def on_terms(recipe_path: str | None, text: str | None, current: str | None):
        lexicon = editor_lexicon(ws, recipe_path, text)
        terms = [t.term for t in lexicon] if lexicon else []
        value = current if current in terms else (terms[0] if terms else None)
        note = f"{len(terms)} terms in the lexicon" if lexicon else "the recipe has no lexicon"
        return gr.update(choices=terms, value=value), note

    @in_place(3)
    def on_speak(recipe_path: str | None, text: str | None, voice_name: str, term_name: str | None):
        from workbench.data.prepare import pack_dir
        from workbench.data.templates import carriers, fill, load_templates
        from workbench.data.tts import VoiceError, get_voice

        recipe = ws.load_recipe(require_recipe(recipe_path), check_model=False)
        lexicon = editor_lexicon(ws, recipe_path, text)
        chosen = lexicon.get((term_name or "").strip()) if lexicon else None
        if chosen is None:
            raise gr.Error(
                f"{term_name!r} is not a term of the recipe's lexicon"
                if term_name
                else "choose a term of the recipe's lexicon",
                print_exception=False,
            )
        pack = pack_dir(recipe)
        sentence_text, spoken = chosen.term, chosen.spoken_forms[0]
        if pack and (pack / "templates.txt").is_file():
            by_category, _ = carriers(load_templates(pack / "templates.txt"), lexicon)
            templates = by_category.get(chosen.category, [])
            if templates:
                rng = random.Random()
                sentence = fill(rng.choice(templates), lexicon, rng, fixed=chosen)
                sentence_text, spoken = sentence.written, sentence.spoken
        try:
            samples, rate = get_voice(voice_name).synthesize(spoken)
        except VoiceError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return sentence_text, (rate, samples), ""

    prepare_btn.click(on_prepare, [shared.recipe], [counts, dropped, sample_pick, samples])
    sample_pick.change(on_sample, [sample_pick, samples], [sample_audio, sample_text])
    import_btn.click(on_import, [files, name], [upload_note, refused, dataset, files])
    add_btn.click(on_add, [dataset, split, shared.yaml], [shared.yaml, shared.data_code])
    shared.recipe.change(on_terms, [shared.recipe, shared.yaml, term], [term, synth_note])
    # A lexicon saved in the Lexicon tab lands in the editor first: its terms are offered.
    shared.yaml.change(
        on_terms,
        [shared.recipe, shared.yaml, term],
        [term, synth_note],
        trigger_mode="always_last",
        show_progress="hidden",
    )
    speak_btn.click(
        on_speak, [shared.recipe, shared.yaml, voice, term], [synth_text, synth_audio, synth_note]
    )
    return {
        "prepare": prepare_btn,
        "counts": counts,
        "dropped": dropped,
        "files": files,
        "import": import_btn,
        "note": upload_note,
        "refused": refused,
        "term": term,
        "on_terms": on_terms,
        "on_speak": on_speak,
    }
