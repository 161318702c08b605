"""Recipes tab: pick a recipe, edit it in a form built from the recipe dataclasses, see its
YAML, validate (errors next to their fields), save as a new file, or upload a YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from workbench.recipe import RecipeError, available_domains
from workbench.schema import Problem
from workbench.ui.common import Shared, in_place
from workbench.ui.recipe_editor import (
    DATA_SPLITS,
    FIELDS,
    Opened,
    compose,
    field_problems,
    open_recipe,
    open_text,
    save_recipe,
)
from workbench.ui.recipe_form import FormField, data_list_help
from workbench.ui.workspace import WorkspaceError

SECTION_TITLES = {
    "recipe": "Recipe: name, domain pack, base model",
    "lora": "LoRA: which layers adapt (everything else stays frozen)",
    "train": "Training",
    "augment": "Augmentation (training clips only)",
    "lexicon": "Lexicon",
    "data": "Data",
    "eval": "Evaluation decoding",
}
MODELS = ["bundled:tiny.en", "bundled:base", "openai/whisper-small"]
DATA_LABEL = f"data sources ({', '.join(DATA_SPLITS)})"
MAX_YAML_BYTES = 1_000_000


def _show(f: FormField, value: Any) -> Any:
    """A recipe value as the component holds it."""
    if f.kind == "floats":
        return ", ".join(f"{x:g}" for x in value) if value else ""
    if f.kind in ("str",) and value is None:
        return ""
    return value


def _component(f: FormField, value: Any) -> gr.components.Component:
    label, info = f.label, (f.help or None)
    common: dict[str, Any] = {"label": label, "info": info, "elem_id": f"field-{f.key}"}
    if f.key == "domain":
        choices = ["", *available_domains()]
        return gr.Dropdown(choices, value=value or "", allow_custom_value=True, **common)
    if f.key == "base_model":
        return gr.Dropdown(MODELS, value=value, allow_custom_value=True, **common)
    if f.kind == "section":
        return gr.Checkbox(value=bool(value), **{**common, "label": f"use {label}"})
    if f.kind == "bool":
        return gr.Checkbox(value=bool(value), **common)
    if f.kind == "int":
        return gr.Number(value=value, precision=0, **common)
    if f.kind == "float":
        return gr.Number(value=value, **common)
    if f.kind == "choice":
        return gr.Dropdown(list(f.choices), value=value, **common)
    if f.kind == "multi":
        return gr.CheckboxGroup(list(f.choices), value=value or [], **common)
    return gr.Textbox(value=_show(f, value), **common)


def data_lists_markdown() -> str:
    """One line per data list the YAML block takes, saying what it is for (DataSpec's own
    comments), with an example of each kind of list."""
    lines = [f"- `{name}:` {text}" for name, text in data_list_help().items()]
    lines.append(
        "\nEach list holds sources, e.g. `train: [{source: manifest, path: data/train.jsonl}]`; "
        "`unlabeled` takes audio alone: `unlabeled: [{source: audio, path: my/clips}]` "
        "(a folder, or a text file listing audio paths)."
    )
    return "\n".join(lines)


def problems_markdown(problems: list[Problem], title: str = "") -> str:
    if not problems:
        return ""
    lines = [f"**{title or f'{len(problems)} problem(s)'}**", ""]
    for p in problems:
        where = f"line {p.line}: " if p.line else ""
        lines.append(f"- {where}`{p.key or '(file)'}`: {p.message}")
    return "\n".join(lines)


def create_recipes_tab(shared: Shared) -> dict[str, Any]:
    """Build the tab; returns its components by name."""
    ws = shared.ws
    comps: dict[str, gr.components.Component] = {}
    shown = gr.State({})
    base_dir = gr.State(str(ws.recipes))
    message = gr.Markdown(elem_id="recipe-message")
    with gr.Row():
        validate_btn = gr.Button("Validate", variant="primary", elem_id="recipe-validate")
        save_name = gr.Textbox(label="save as (name)", scale=2, elem_id="recipe-save-name")
        overwrite = gr.Checkbox(label="replace if it exists", value=False)
        save_btn = gr.Button("Save as new recipe", elem_id="recipe-save")
    with gr.Row():
        with gr.Column(scale=3):
            sections: dict[str, list[FormField]] = {}
            for f in FIELDS:
                sections.setdefault(f.section, []).append(f)
            data_code = None
            for name, fields in sections.items():
                with gr.Accordion(SECTION_TITLES.get(name, name), open=name in ("recipe", "lora")):
                    for start in range(0, len(fields), 4):
                        with gr.Row():
                            for f in fields[start : start + 4]:
                                comps[f.key] = _component(f, f.default)
                    if name == "data":
                        data_code = gr.Code(
                            language="yaml",
                            label=DATA_LABEL,
                            interactive=True,
                            lines=10,
                            elem_id="recipe-data",
                        )
                        gr.Markdown(data_lists_markdown(), elem_id="recipe-data-help")
        with gr.Column(scale=2):
            yaml_code = gr.Code(
                language="yaml",
                label="recipe YAML",
                interactive=True,
                lines=30,
                elem_id="recipe-yaml",
            )
            with gr.Row():
                reload_btn = gr.Button("Form ← YAML (after editing the YAML)")
                upload = gr.File(label="upload a recipe YAML", file_types=[".yaml", ".yml"])
    shared.yaml = yaml_code
    shared.data_code = data_code
    field_keys = [f.key for f in FIELDS]
    field_comps = [comps[k] for k in field_keys]

    def _fill(opened: Opened, note: str = "") -> list[Any]:
        by_field, _ = field_problems(opened.problems)
        updates = []
        for f in FIELDS:
            error = by_field.get(f.key)
            updates.append(
                gr.update(
                    value=_show(f, opened.values.get(f.key)),
                    info=f"⚠ {error}" if error else (f.help or None),
                    elem_classes=["field-error"] if error else [],
                )
            )
        data_error = by_field.get("data")
        data_update = gr.update(
            value=opened.data_text,
            label=f"data sources ⚠ {data_error}" if data_error else DATA_LABEL,
        )
        if opened.problems:
            text = problems_markdown(opened.problems, f"{len(opened.problems)} problem(s):")
            text = f"{note}\n\n{text}" if note else text
        else:
            text = note or "✓ valid"
        return [opened.text, data_update, *updates, opened.values, opened.base_dir, text]

    outputs = [yaml_code, data_code, *field_comps, shown, base_dir, message]
    n_out = len(outputs)

    @in_place(n_out)
    def on_open(path: str | None) -> list[Any]:
        if not path:
            return [gr.update()] * len(outputs)
        return _fill(open_recipe(Path(path), ws), f"opened `{path}`")

    @in_place(n_out)
    def on_validate(text: str, data_text: str, shown_values: dict, folder: str, *values: Any):
        inputs = dict(zip(field_keys, values, strict=True))
        new_text, errors = compose(text or "", shown_values, inputs, data_text or "")
        opened = open_text(new_text, Path(folder), ws, check_inputs=True)
        extra = [Problem("form", k or "", v) for k, v in errors.items()]
        opened.problems = extra + opened.problems
        if extra:  # keep what the user typed where it did not parse
            for key in errors:
                if key in inputs:
                    opened.values[key] = inputs[key]
        return _fill(opened)

    @in_place(n_out)
    def on_reload(text: str, folder: str) -> list[Any]:
        return _fill(open_text(text or "", Path(folder), ws), "form filled from the YAML")

    @in_place(n_out - 1)
    def on_follow(text: str, folder: str) -> list[Any]:
        """The form as the YAML says, whenever the YAML changes (typed, or set by another
        tab); the editor itself is left alone, and the message line only gets problems."""
        opened = open_text(text or "", Path(folder), ws)
        filled = _fill(opened)[1:]
        return [*filled[:-1], filled[-1] if opened.problems else gr.skip()]

    @in_place(n_out)
    def on_upload(file: str | None, folder: str) -> list[Any]:
        if not file:
            return [gr.update()] * len(outputs)
        path = Path(file)
        if path.stat().st_size > MAX_YAML_BYTES:
            raise gr.Error(f"{path.name}: larger than 1 MB; not a recipe", print_exception=False)
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise gr.Error(
                f"{path.name}: not UTF-8 text (byte {exc.start})", print_exception=False
            ) from None
        # Relative paths of an uploaded file mean nothing here: read them from the workspace.
        return _fill(open_text(text, ws.recipes, ws), f"uploaded `{path.name}` (not saved yet)")

    @in_place(2)
    def on_save(
        name: str,
        replace: bool,
        text: str,
        data_text: str,
        shown_values: dict,
        folder: str,
        *values: Any,
    ):
        inputs = dict(zip(field_keys, values, strict=True))
        name = (name or "").strip() or str(inputs.get("name") or "")
        new_text, errors = compose(text or "", shown_values, inputs, data_text or "")
        if errors:
            raise gr.Error(
                "fix the form first: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
                print_exception=False,
            )
        try:
            path = save_recipe(ws, name, new_text, Path(folder), overwrite=replace)
        except RecipeError as exc:
            raise gr.Error(
                f"not saved; the recipe has {len(exc.problems)} problem(s), press Validate "
                "to see them next to their fields",
                print_exception=False,
            ) from None
        except WorkspaceError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        gr.Info(f"saved {path}")
        return gr.update(choices=ws.recipe_choices(), value=str(path)), f"saved `{path}`"

    shared.recipe.change(on_open, [shared.recipe], outputs)
    form_inputs = [yaml_code, data_code, shown, base_dir, *field_comps]
    validate_btn.click(on_validate, form_inputs, outputs)
    reload_btn.click(on_reload, [yaml_code, base_dir], outputs)
    # The form follows the YAML (typed, or changed by the Lexicon or Augment tab).
    yaml_code.change(
        on_follow,
        [yaml_code, base_dir],
        outputs[1:],
        trigger_mode="always_last",
        show_progress="hidden",
    )
    upload.upload(on_upload, [upload, base_dir], outputs)
    save_btn.click(on_save, [save_name, overwrite, *form_inputs], [shared.recipe, message])
    return {
        "message": message,
        "yaml": yaml_code,
        "data": data_code,
        "fields": comps,
        "validate": validate_btn,
        "save": save_btn,
        "save_name": save_name,
        "on_save": on_save,
        "on_follow": on_follow,
    }
