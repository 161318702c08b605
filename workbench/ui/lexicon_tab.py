"""Lexicon tab: view, search, add and edit terms, save the lexicon as a new file and use
it in the recipe; see which terms the base model misses on the eval set."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
import yaml

from workbench.lexicon import COLUMNS, DEFAULT_CATEGORY, Lexicon, LexiconError, load_lexicon
from workbench.recipe import RecipeError
from workbench.schema import safe_yaml
from workbench.ui.common import Shared, friendly, in_place, require_recipe, run_of
from workbench.ui.recipe_editor import data_block
from workbench.ui.uploads import discard_upload, safe_name
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


def blank_rows(frame: pd.DataFrame) -> tuple[list[int], list[int]]:
    """Row numbers (from 1) of the table's empty rows, and of rows with cells but no term."""
    empty, termless = [], []
    for number, row in enumerate(frame.fillna("").astype(str).itertuples(index=False), 1):
        cells = [c.strip() for c in row[: len(COLUMNS)]]
        if not cells[0]:
            (termless if any(cells) else empty).append(number)
    return empty, termless


def _rows_text(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")


def read_terms(path: Path, shown_name: str) -> Lexicon:
    """A term list as the lexicon readers take it: a ``lexicon.tsv``, a CSV or TSV whose
    header names its columns (``term`` required, the others optional), or one term a line.

    Raises:
        gr.Error: what is wrong, naming the file by ``shown_name`` and the line.
    """
    try:
        return load_lexicon(path)
    except LexiconError as exc:
        at_line = re.compile(re.escape(str(path)) + r":(\d+):")
        problems = [
            at_line.sub(lambda m: f"{shown_name}, line {m.group(1)}:", p).replace(
                str(path), shown_name
            )
            for p in exc.problems
        ]
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise gr.Error("; ".join(problems[:3]) + more, print_exception=False) from None


def blank_lines(text: str) -> list[int]:
    """Line numbers (from 1) of empty lines between the first and the last line of text."""
    lines = text.splitlines()
    filled = [n for n, line in enumerate(lines, 1) if line.strip()]
    if not filled:
        return []
    return [n for n in range(filled[0], filled[-1]) if not lines[n - 1].strip()]


def pasted_terms(ws: Workspace, text: str, category: str) -> tuple[Lexicon, list[int]]:
    """The terms of a pasted list (one a line, or a table with a header row), those of the
    plain list given ``category``; and the empty lines found among them.

    Raises:
        gr.Error: nothing pasted, or a line that is not a term (named by its number).
    """
    if not text.strip():
        raise gr.Error("paste some terms first, one a line", print_exception=False)
    category = " ".join((category or "").split()) or DEFAULT_CATEGORY
    tmp = ws.scratch_file(".txt", "pasted-")
    try:
        tmp.write_text(text, encoding="utf-8")
        lexicon = read_terms(tmp, "the pasted list")
    finally:
        tmp.unlink(missing_ok=True)
    terms = [
        dataclasses.replace(t, category=category) if t.category == DEFAULT_CATEGORY else t
        for t in lexicon
    ]
    return Lexicon(terms, "pasted list"), blank_lines(text)


def merge_terms(frame: pd.DataFrame, lexicon: Lexicon) -> tuple[pd.DataFrame, int, list[str]]:
    """The table with the terms of ``lexicon`` it lacks added at the end; (table, how many
    added, the terms already there, which keep their rows)."""
    have = {str(t).strip().casefold() for t in frame.get("term", pd.Series(dtype=str)).fillna("")}
    fresh = [t for t in lexicon if t.term.casefold() not in have]
    already = [t.term for t in lexicon if t.term.casefold() in have]
    added = lexicon_frame(Lexicon(fresh, lexicon.path))
    base = frame.reindex(columns=list(COLUMNS)).fillna("")
    empty, _ = blank_rows(base)
    base = base.drop(index=base.index[[n - 1 for n in empty]])
    merged = pd.concat([base, added], ignore_index=True) if len(base) else added
    return merged, len(fresh), already


def describe_terms(lexicon: Lexicon) -> str:
    """What was read, in a line: how many terms, their categories, spoken forms."""
    counts = Counter(t.category for t in lexicon)
    cats = ", ".join(f"{c} ({n})" for c, n in counts.most_common(6))
    if len(counts) > 6:
        cats += f" and {len(counts) - 6} more"
    spoken = sum(1 for t in lexicon if t.spoken)
    return f"{len(lexicon)} terms; categories: {cats}; {spoken} with spoken forms"


def editor_lexicon(ws: Workspace, recipe_path: str | None, text: str | None) -> Lexicon | None:
    """The lexicon the recipe in the editor names (saved or not: a lexicon just saved in this
    tab is in the editor before the recipe is saved); else the saved recipe's.

    Raises:
        gr.Error: a lexicon path outside the workspace, or a lexicon with problems.
    """
    from workbench.data.prepare import recipe_lexicon

    try:
        data = safe_yaml(text or "", "recipe") if (text or "").strip() else None
    except RecipeError:
        data = None  # being typed: the saved recipe says
    section = data.get("lexicon") if isinstance(data, dict) else None
    path = section.get("path") if isinstance(section, dict) else None
    if isinstance(path, str) and path.strip():
        where = Path(path).expanduser()
        if not where.is_absolute() and recipe_path:
            where = Path(recipe_path).parent / where
        if refused := ws.path_guard(where):
            raise gr.Error(f"lexicon.path: {refused}", print_exception=False)
        return read_terms(where, where.name)
    if not recipe_path:
        return None
    return recipe_lexicon(ws.load_recipe(require_recipe(recipe_path), check_model=False))


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
    message = gr.Markdown(elem_id="lexicon-message")
    query = gr.Textbox(label="search", placeholder="a term, a spoken form or a category")
    found = gr.Dataframe(interactive=False, label="matches", max_height=200, visible=False)
    table = gr.Dataframe(
        headers=list(COLUMNS),
        interactive=True,
        label="terms (edit cells; a file dropped here is read as a term list below)",
        max_height=420,
        elem_id="lexicon-table",
    )
    with gr.Row():
        add_row = gr.Button("Add an empty row", size="sm", elem_id="lexicon-add-row")
    with gr.Accordion("Add terms: paste a list, or read a file", open=True), gr.Row():
        with gr.Column():
            paste = gr.Textbox(
                label="paste terms, one a line (or a table whose header names `term`)",
                lines=6,
                elem_id="lexicon-paste",
            )
            with gr.Row():
                category = gr.Dropdown(
                    [DEFAULT_CATEGORY],
                    value=DEFAULT_CATEGORY,
                    allow_custom_value=True,
                    label="category of pasted names",
                    info="'term' fits every pack: each has sentences for a term of any kind",
                    elem_id="lexicon-paste-category",
                )
                paste_btn = gr.Button("Add these terms", elem_id="lexicon-paste-add")
        with gr.Column():
            import_file = gr.File(
                label="a term list: CSV or TSV with a header naming its columns (term "
                "required; spoken, category, misrecognitions, weight optional), or one "
                "term a line",
                file_types=[".csv", ".tsv", ".txt"],
                elem_id="lexicon-import",
            )
            read_note = gr.Markdown(elem_id="lexicon-read-note")
            preview = gr.Dataframe(
                headers=list(COLUMNS),
                interactive=False,
                label="what was read",
                max_height=200,
                visible=False,
                elem_id="lexicon-preview",
            )
            with gr.Row():
                merge_btn = gr.Button(
                    "Merge into the table", interactive=False, elem_id="lexicon-merge"
                )
                replace_btn = gr.Button(
                    "Replace the table", interactive=False, elem_id="lexicon-replace"
                )
    read = gr.State(None)  # the terms read from the last file, as table rows
    with gr.Row():
        name = gr.Textbox(label="save as (name)", value="my-lexicon")
        replace = gr.Checkbox(label="replace if it exists", value=False)
        save_btn = gr.Button(
            "Save and use in the recipe", variant="primary", elem_id="lexicon-save"
        )
    gr.Markdown("### Terms the base model misses on the eval set")
    with gr.Row():
        from_run = gr.Button("From the chosen run's report")
        check_btn = gr.Button("Check the base model now (transcribes the eval set)")
    missed = gr.Dataframe(headers=MISSED_COLUMNS, interactive=False, elem_id="lexicon-missed")

    def _lexicon(recipe_path: str | None) -> Lexicon | None:
        from workbench.data.prepare import recipe_lexicon

        return recipe_lexicon(ws.load_recipe(require_recipe(recipe_path), check_model=False))

    def _categories(frame: pd.DataFrame | None) -> Any:
        cats = Counter()
        if frame is not None and "category" in frame:
            cats.update(c for c in frame["category"].fillna("").astype(str) if c.strip())
        return gr.update(choices=sorted({DEFAULT_CATEGORY, *cats}))

    @in_place(4)
    def on_recipe(recipe_path: str | None):
        if not recipe_path:
            return "", lexicon_frame(None), _categories(None), ""
        lexicon = _lexicon(recipe_path)
        where = f"`{lexicon.path}` ({len(lexicon)} terms)" if lexicon else "none"
        frame = lexicon_frame(lexicon)
        return f"The recipe's lexicon: {where}", frame, _categories(frame), ""

    @friendly
    def on_search(frame: pd.DataFrame, text: str):
        if not text.strip():
            return gr.update(visible=False)
        return gr.update(value=search(frame, text), visible=True)

    @in_place(2)
    def on_add_row(frame: pd.DataFrame | None):
        frame = frame if frame is not None else lexicon_frame(None)
        frame = frame.reindex(columns=list(COLUMNS))
        row = pd.DataFrame([[""] * len(COLUMNS)], columns=list(COLUMNS))
        return pd.concat([frame, row], ignore_index=True), (
            f"row {len(frame) + 1} added at the end of the table: type its term"
        )

    @in_place(3)
    def on_paste(frame: pd.DataFrame | None, text: str, category_name: str):
        lexicon, blanks = pasted_terms(ws, text or "", category_name)
        merged, added, already = merge_terms(
            frame if frame is not None else lexicon_frame(None), lexicon
        )
        parts = [f"{added} term(s) added at the end of the table"]
        if already:
            names = ", ".join(already[:5]) + (" ..." if len(already) > 5 else "")
            parts.append(f"{len(already)} already there, kept as they were ({names})")
        if blanks:
            parts.append(f"empty line(s) {_rows_text(blanks)} left out")
        return merged, "", "; ".join(parts) + ". Save to keep them."

    @in_place(6)
    def on_import(path: str | None, frame: pd.DataFrame | None):
        off = gr.update(interactive=False)
        if not path:
            return None, gr.update(visible=False), off, off, None, ""
        shown = Path(path).name
        try:
            lexicon = read_terms(Path(path), shown)
        finally:
            discard_upload(path)
        have = {
            str(t).casefold()
            for t in (frame["term"] if frame is not None and "term" in frame else [])
        }
        new = sum(1 for t in lexicon if t.term.casefold() not in have)
        note = (
            f"Read `{shown}`: {describe_terms(lexicon)}. {new} not in the table yet. "
            "**Merge** adds those; **Replace** puts these terms in place of the table's."
        )
        rows = lexicon_frame(lexicon)
        on = gr.update(interactive=True)
        return note, gr.update(value=rows, visible=True), on, on, rows, ""

    @in_place(6)
    def on_merge(frame: pd.DataFrame | None, rows: pd.DataFrame | None):
        if rows is None or not len(rows):
            raise gr.Error("read a term list first", print_exception=False)
        incoming = _frame_lexicon(ws, rows)
        merged, added, already = merge_terms(
            frame if frame is not None else lexicon_frame(None), incoming
        )
        off = gr.update(interactive=False)
        text = f"{added} term(s) added to the table; {len(already)} already there kept"
        text += ". Save to keep them."
        return merged, off, off, None, gr.update(visible=False), text

    @in_place(6)
    def on_replace(rows: pd.DataFrame | None):
        if rows is None or not len(rows):
            raise gr.Error("read a term list first", print_exception=False)
        off = gr.update(interactive=False)
        text = f"the table now holds the {len(rows)} term(s) read. Save to keep them."
        return rows, off, off, None, gr.update(visible=False), text

    @in_place(3)
    def on_save(frame: pd.DataFrame, label: str, replace: bool, text: str):
        empty, termless = blank_rows(frame)
        if termless:
            raise gr.Error(
                f"not saved: row(s) {_rows_text(termless)} have cells but no term; type the "
                "term or clear the row",
                print_exception=False,
            )
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
        note = f"saved {len(lexicon)} terms to `{target}`"
        if empty:
            note += f"; empty row(s) {_rows_text(empty)} left out"
        note += "; save the recipe in the Recipes tab"
        new = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        return new, data_block(data), note

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

    shared.recipe.change(on_recipe, [shared.recipe], [source, table, category, message])
    query.change(on_search, [table, query], [found])
    add_row.click(on_add_row, [table], [table, message])
    paste_btn.click(on_paste, [table, paste, category], [table, paste, message])
    import_file.upload(
        on_import, [import_file, table], [read_note, preview, merge_btn, replace_btn, read, message]
    )
    merge_btn.click(
        on_merge, [table, read], [table, merge_btn, replace_btn, read, preview, message]
    )
    replace_btn.click(on_replace, [read], [table, merge_btn, replace_btn, read, preview, message])
    save_btn.click(
        on_save, [table, name, replace, shared.yaml], [shared.yaml, shared.data_code, message]
    )
    from_run.click(on_from_run, [shared.run, shared.recipe], [missed])
    check_btn.click(on_check, [shared.recipe], [missed])
    return {
        "table": table,
        "missed": missed,
        "save": save_btn,
        "query": query,
        "name": name,
        "replace": replace,
        "message": message,
        "on_save": on_save,
        "on_paste": on_paste,
        "on_import": on_import,
        "on_merge": on_merge,
        "on_replace": on_replace,
        "on_add_row": on_add_row,
    }


def _frame_lexicon(ws: Workspace, rows: pd.DataFrame) -> Lexicon:
    """Table rows (as :func:`lexicon_frame` makes them) read back as a checked lexicon."""
    tmp = ws.scratch_file(".tsv", "read-")
    try:
        tmp.write_text(frame_to_tsv(rows), encoding="utf-8")
        return read_terms(tmp, "the list read")
    finally:
        tmp.unlink(missing_ok=True)
