"""Lexicon tab: view, search, add and edit terms, save the lexicon as a new file and use
it in the recipe; see which terms the base model misses on the eval set."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
import yaml

from workbench.lexicon import COLUMNS, Lexicon, LexiconError, load_lexicon
from workbench.schema import safe_yaml
from workbench.ui.common import Shared, friendly, require_recipe, run_of
from workbench.ui.recipe_editor import data_block
from workbench.ui.uploads import safe_name
from workbench.ui.workspace import Workspace

MISSED_COLUMNS = ["term", "category", "times missed by the base model"]


def lexicon_frame(lexicon: Lexicon | None) -> pd.DataFrame:
    rows = [
        [
            t.term,
            " | ".join(t.spoken),
            t.category,
            " | ".join(t.misrecognitions),
            "" if t.weight == 1 else f"{t.weight:g}",
        ]
        for t in (lexicon or [])
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def frame_to_tsv(frame: pd.DataFrame) -> str:
    """A lexicon table as ``lexicon.tsv`` text; rows with no term are left out."""
    lines = ["\t".join(COLUMNS)]
    for row in frame.fillna("").astype(str).itertuples(index=False):
        cells = [" ".join(c.replace("\t", " ").split()) for c in row[: len(COLUMNS)]]
        if cells[0]:
            lines.append("\t".join(cells))
    return "\n".join(lines) + "\n"


def search(frame: pd.DataFrame, query: str) -> pd.DataFrame:
    if not query.strip():
        return frame
    text = frame.fillna("").astype(str)
    hit = text.apply(lambda col: col.str.contains(query.strip(), case=False, regex=False))
    return frame[hit.any(axis=1)]


def missed_frame(missed: dict[str, int], lexicon: Lexicon | None) -> pd.DataFrame:
    rows = []
    for term, count in Counter(missed).most_common():
        entry = lexicon.get(term) if lexicon else None
        rows.append([term, entry.category if entry else "", count])
    return pd.DataFrame(rows, columns=MISSED_COLUMNS)


def base_misses(recipe, progress=None) -> dict[str, int]:
    """Transcribe the recipe's eval set with the base model; the terms it misses, counted."""
    from workbench.audio import load_audio
    from workbench.data.prepare import prepare_data, recipe_lexicon
    from workbench.evaluate.normalize import get_normalizer
    from workbench.evaluate.terms import term_recall
    from workbench.lexicon import UNSPACED_LANGUAGES
    from workbench.models.loading import load_model
    from workbench.transcribe import DecodeOptions, Transcriber

    lexicon = recipe_lexicon(recipe)
    if lexicon is None:
        raise gr.Error("the recipe has no lexicon", print_exception=False)
    utts = prepare_data(recipe, log=lambda m: None).utterances("eval")
    if not utts:
        raise gr.Error("the recipe has no eval set", print_exception=False)
    loaded = load_model(recipe.base_model)
    transcriber = Transcriber(
        loaded,
        DecodeOptions(
            decoding=recipe.eval.decoding_options(),
            language=recipe.language,
            max_new_tokens=recipe.eval.max_new_tokens,
        ),
        batch_size=recipe.eval.batch_size,
    )
    hyps: list[str] = []
    size = recipe.eval.batch_size
    for start in range(0, len(utts), size):
        if progress is not None:
            progress(start / len(utts), desc=f"base model: {start}/{len(utts)} clips")
        chunk = utts[start : start + size]
        hyps += transcriber.transcribe_arrays([load_audio(u.audio) for u in chunk])
    language = recipe.language or "en"
    recall = term_recall(
        [u.text for u in utts],
        hyps,
        lexicon,
        get_normalizer(language),
        spaced=language not in UNSPACED_LANGUAGES,
    )
    return dict(recall.missed)


def lexicon_target(ws: Workspace, label: str, replace: bool) -> Path:
    """Where a lexicon named ``label`` is saved; an existing one is replaced only when the
    user ticked "replace" (as recipes are)."""
    target = ws.lexicons / f"{safe_name(label or 'lexicon', 'lexicon')}.tsv"
    if target.exists() and not replace:
        raise gr.Error(
            f"{target} exists ({len(target.read_bytes())} bytes); choose another name or "
            "tick 'replace if it exists'",
            print_exception=False,
        )
    return target


def create_lexicon_tab(shared: Shared) -> dict[str, Any]:
    """Build the tab; returns its components by name."""
    ws = shared.ws
    source = gr.Markdown(elem_id="lexicon-source")
    query = gr.Textbox(label="search", placeholder="a term, a spoken form or a category")
    found = gr.Dataframe(interactive=False, label="matches", max_height=200, visible=False)
    table = gr.Dataframe(
        headers=list(COLUMNS),
        interactive=True,
        label="terms (edit cells; add rows at the end)",
        max_height=420,
        elem_id="lexicon-table",
    )
    with gr.Row():
        name = gr.Textbox(label="save as (name)", value="my-lexicon")
        replace = gr.Checkbox(label="replace if it exists", value=False)
        save_btn = gr.Button("Save and use in the recipe", variant="primary")
    gr.Markdown("### Terms the base model misses on the eval set")
    with gr.Row():
        from_run = gr.Button("From the chosen run's report")
        check_btn = gr.Button("Check the base model now (transcribes the eval set)")
    missed = gr.Dataframe(headers=MISSED_COLUMNS, interactive=False, elem_id="lexicon-missed")

    def _lexicon(recipe_path: str | None) -> Lexicon | None:
        from workbench.data.prepare import recipe_lexicon

        return recipe_lexicon(ws.load_recipe(require_recipe(recipe_path), check_model=False))

    @friendly
    def on_recipe(recipe_path: str | None):
        if not recipe_path:
            return "", lexicon_frame(None)
        lexicon = _lexicon(recipe_path)
        where = f"`{lexicon.path}` ({len(lexicon)} terms)" if lexicon else "none"
        return f"The recipe's lexicon: {where}", lexicon_frame(lexicon)

    @friendly
    def on_search(frame: pd.DataFrame, text: str):
        if not text.strip():
            return gr.update(visible=False)
        return gr.update(value=search(frame, text), visible=True)

    @friendly
    def on_save(frame: pd.DataFrame, label: str, replace: bool, text: str):
        target = lexicon_target(ws, label, replace)
        tmp = ws.scratch_file(".tsv", "lexicon-")
        try:
            tmp.write_text(frame_to_tsv(frame), encoding="utf-8")
            try:
                lexicon = load_lexicon(tmp)
            except LexiconError as exc:
                message = str(exc).replace(str(tmp), "table row")
                raise gr.Error(f"not saved: {message}", print_exception=False) from None
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        data = safe_yaml(text or "", "recipe") or {}
        if not isinstance(data, dict):
            raise gr.Error("the recipe YAML is not a mapping; fix it in the Recipes tab first")
        section = data.get("lexicon") if isinstance(data.get("lexicon"), dict) else {}
        section["path"] = str(target)
        data["lexicon"] = section
        gr.Info(f"saved {len(lexicon)} terms to {target}; save the recipe in the Recipes tab")
        new = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        return new, data_block(data)

    @friendly
    def on_from_run(run_id: str | None, recipe_path: str | None):
        import json

        run = run_of(ws, run_id)
        if run is None or not run.report.is_file():
            raise gr.Error("the chosen run has no report yet", print_exception=False)
        report = json.loads(run.report.read_text())
        counts: Counter = Counter()
        for data in report["sets"].values():
            counts.update(data.get("terms_missed_by_base", {}))
        return missed_frame(dict(counts), _lexicon(recipe_path) if recipe_path else None)

    @friendly
    def on_check(recipe_path: str | None, progress: gr.Progress = gr.Progress()):

        recipe = ws.load_recipe(require_recipe(recipe_path))
        return missed_frame(base_misses(recipe, progress), _lexicon(recipe_path))

    shared.recipe.change(on_recipe, [shared.recipe], [source, table])
    query.change(on_search, [table, query], [found])
    save_btn.click(on_save, [table, name, replace, shared.yaml], [shared.yaml, shared.data_code])
    from_run.click(on_from_run, [shared.run, shared.recipe], [missed])
    check_btn.click(on_check, [shared.recipe], [missed])
    return {
        "table": table,
        "missed": missed,
        "save": save_btn,
        "query": query,
        "name": name,
        "replace": replace,
        "on_save": on_save,
    }
