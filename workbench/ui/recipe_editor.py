"""Editing a recipe as a form plus YAML, validating and saving it (no gradio here).

The YAML text is what gets saved; the form writes its changes into it
(:func:`compose`). Relative paths in a recipe are relative to its file, so every check and
every save rewrites them for the folder the text is written to.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from workbench.recipe import Recipe, RecipeError, load_recipe, read_recipe_data
from workbench.schema import Problem, safe_yaml
from workbench.ui.recipe_form import (
    DATA_LISTS,
    FormField,
    apply_form,
    form_fields,
    form_values,
    raw_values,
    rebase_paths,
)
from workbench.ui.workspace import Workspace

FIELDS: list[FormField] = form_fields()
DATA_SPLITS = DATA_LISTS  # the data lists edited as YAML, read from DataSpec


@dataclass
class Opened:
    """A recipe file as the editor shows it."""

    text: str  # the file's YAML
    data_text: str  # its data sources, as YAML
    values: dict[str, Any]  # what each form field shows
    problems: list[Problem]  # empty when it loads cleanly
    base_dir: str  # the folder its relative paths are relative to


def data_block(data: dict) -> str:
    """The data lists of recipe data (:data:`DATA_SPLITS`: train, eval, general, replay,
    general_dev, unlabeled) as YAML."""
    sources = data.get("data") if isinstance(data.get("data"), dict) else {}
    block = {s: sources[s] for s in DATA_SPLITS if s in sources}
    return yaml.safe_dump(block, sort_keys=False, allow_unicode=True) if block else ""


def open_text(text: str, base_dir: Path, ws: Workspace, *, check_inputs: bool = False) -> Opened:
    """Load YAML text whose relative paths are relative to ``base_dir``; with
    ``check_inputs``, read the files it names as ``recipe validate`` does."""
    recipe, problems, data = check_text(text, base_dir, ws, check_inputs=check_inputs)
    values = form_values(recipe, FIELDS) if recipe else raw_values(data or {}, FIELDS)
    return Opened(text, data_block(data or {}), values, problems, str(base_dir))


def open_recipe(path: Path, ws: Workspace) -> Opened:
    """Load a recipe file into the editor."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError([Problem(str(path), "", f"cannot read: {exc}")]) from None
    return open_text(text, path.parent, ws)


def check_text(
    text: str, base_dir: Path, ws: Workspace, *, check_inputs: bool = False
) -> tuple[Recipe | None, list[Problem], dict | None]:
    """Validate YAML text as ``load_recipe`` would: (recipe or None, problems, its data).

    ``check_inputs`` reads the files the recipe names (``recipe validate``), only once
    every path is known to stay inside the workspace.
    """
    scratch = ws.scratch_file(".yaml", "check-")
    try:
        scratch.write_text(text, encoding="utf-8")
        try:
            data = read_recipe_data(scratch)
        except RecipeError as exc:
            return None, _relabel(exc.problems, scratch), None
        scratch.write_text(_dump(rebase_paths(data, base_dir, scratch.parent)), encoding="utf-8")
        try:
            recipe = load_recipe(scratch, path_guard=ws.path_guard)
        except RecipeError as exc:
            problems = _relabel(exc.problems, scratch)
            # Paths that leave the workspace are worth saying even beside a bad model.
            with contextlib.suppress(RecipeError):
                problems += ws.outside(
                    load_recipe(scratch, check_model=False, path_guard=ws.path_guard)
                )
            return None, problems, data
        outside = ws.outside(recipe)
        if outside:
            return None, outside, data
        if check_inputs:
            try:
                recipe = load_recipe(scratch, check_inputs=True, path_guard=ws.path_guard)
            except RecipeError as exc:
                return None, _relabel(exc.problems, scratch), data
        return recipe, [], data
    finally:
        scratch.unlink(missing_ok=True)


def _relabel(problems: list[Problem], scratch: Path) -> list[Problem]:
    """Problems of the scratch copy, named as the editor's text."""
    return [
        Problem("recipe" if p.file == str(scratch) else p.file, p.key, p.message, p.line)
        for p in problems
    ]


def _dump(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def compose(
    text: str, shown: dict[str, Any], inputs: dict[str, Any], data_text: str
) -> tuple[str, dict[str, str]]:
    """The YAML text with the form's inputs and the data block written in.

    Returns the new text and input errors by key (``data`` for the data block). Comments
    of the original text are not kept.
    """
    errors: dict[str, str] = {}
    try:
        data = safe_yaml(text, "recipe") or {}
    except RecipeError as exc:
        return text, {"": f"the YAML does not parse: {exc.problems[0].message}"}
    if not isinstance(data, dict):
        return text, {"": "the YAML must be a mapping of recipe keys"}
    try:
        block = safe_yaml(data_text, "data sources") if data_text.strip() else {}
    except RecipeError as exc:
        block, errors["data"] = None, f"the data sources do not parse: {exc.problems[0].message}"
    if block is not None and not isinstance(block, dict):
        block = None
        errors["data"] = "expected lists named " + ", ".join(f"{s}:" for s in DATA_SPLITS)
    if block is not None:
        unknown = sorted(set(block) - set(DATA_SPLITS))
        if unknown:
            errors["data"] = f"unknown split {', '.join(unknown)}; expected {DATA_SPLITS}"
        else:
            section = data.setdefault("data", {}) if isinstance(data.get("data"), dict) else {}
            data["data"] = section
            for split in DATA_SPLITS:
                if block.get(split):
                    section[split] = block[split]
                else:
                    section.pop(split, None)
    data, input_errors = apply_form(data, shown, FIELDS, inputs)
    errors.update(input_errors)
    if isinstance(data.get("data"), dict) and not data["data"]:
        del data["data"]
    return _dump(data), errors


def save_recipe(
    ws: Workspace, name: str, text: str, base_dir: Path, *, overwrite: bool = False
) -> Path:
    """Save YAML text as a recipe of the workspace, its paths rewritten for its new folder.

    Raises:
        RecipeError: the text does not validate (nothing is written).
        WorkspaceError: a bad name, or a file that exists (without ``overwrite``).
    """
    _, problems, data = check_text(text, base_dir, ws)
    if problems or data is None:
        raise RecipeError(problems)
    rebased = rebase_paths(data, base_dir, ws.recipes)
    stem = name.strip().removesuffix(".yaml")
    rebased["name"] = stem  # the file's name is the recipe's name (and its runs')
    target = ws.recipes / f"{stem}.yaml"
    head = (
        f"# workbench run {target}\n# Saved from the web UI on {time.strftime('%Y-%m-%d %H:%M')}.\n"
    )
    return ws.save_recipe(stem, head + _dump(rebased), overwrite=overwrite)


def field_problems(problems: list[Problem]) -> tuple[dict[str, str], list[Problem]]:
    """Problems by form field (nearest field up the key path), and those of no field."""
    keys = {f.key for f in FIELDS}
    by_field: dict[str, str] = {}
    rest = []
    for p in problems:
        key = p.key
        if key.startswith("data.") and key.split(".")[1].split("[")[0] in DATA_SPLITS:
            key = "data"
        while key and key not in keys and key != "data":
            key = key.rsplit(".", 1)[0] if "." in key else ""
        if key:
            by_field[key] = (by_field[key] + "; " if key in by_field else "") + p.message
        else:
            rest.append(p)
    return by_field, rest
