"""The recipe form, described from the recipe dataclasses (no gradio here).

Every scalar field of :class:`~workbench.recipe.Recipe` and its sections becomes one
:class:`FormField` (key path, kind, choices, default, help), so the form can never drift
from the schema: a field added to a spec appears in the form. The data sources (the lists
of :class:`~workbench.recipe.DataSpec` whose items are specs of several kinds: train, eval,
general, replay, general_dev, unlabeled; :data:`DATA_LISTS`) are edited as a YAML block
instead. :func:`apply_form` writes the
form's values into the recipe's own YAML data, touching only what changed, and
:func:`rebase_paths` keeps relative paths right when a recipe is saved in another folder.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from workbench.augment.checks import NOISE_KINDS, ROOMS
from workbench.recipe import WHISPER_LINEAR_MODULES, DataSpec, Recipe
from workbench.schema import REGISTRIES

# Choices for list fields whose items are plain strings in the schema.
LIST_CHOICES: dict[str, tuple[str, ...]] = {
    "lora.targets": WHISPER_LINEAR_MODULES,
    "augment.noise.kinds": NOISE_KINDS,
    "augment.reverb.rooms": ROOMS,
}


def source_lists(cls: type = DataSpec) -> tuple[str, ...]:
    """The fields of ``cls`` that are lists of specs of several kinds (``source: ...``)."""
    hints = get_type_hints(cls)
    return tuple(
        f.name
        for f in dataclasses.fields(cls)
        if get_origin(hints[f.name]) is list and get_args(hints[f.name])[0] in REGISTRIES
    )


DATA_LISTS = source_lists()  # train, eval, general, replay, general_dev, unlabeled
SKIPPED = tuple(f"data.{name}" for name in DATA_LISTS)  # edited as YAML
Kind = Literal["bool", "int", "float", "str", "choice", "multi", "floats", "section"]


@dataclass(frozen=True)
class FormField:
    """One form input: ``key`` is the recipe key path (``train.learning_rate``)."""

    key: str
    kind: Kind
    default: Any
    optional: bool = False  # an empty input means null
    choices: tuple[Any, ...] = ()
    help: str = ""

    @property
    def section(self) -> str:
        return self.key.split(".")[0] if "." in self.key else "recipe"

    @property
    def label(self) -> str:
        return self.key.split(".", 1)[1] if "." in self.key else self.key


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _source_lines(cls: type) -> list[str]:
    import inspect

    try:
        return inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return []


def _comments(cls: type) -> dict[str, str]:
    """Help text per field: the trailing ``# comment`` on its line in the class source."""
    out = {}
    for line in _source_lines(cls):
        code, _, comment = line.partition("  # ")
        name = code.strip().split(":")[0]
        if comment and name.isidentifier():
            out[name] = comment.strip()
    return out


def comment_above(cls: type) -> dict[str, str]:
    """Help text per field from the ``# comment`` lines just above it in the class source
    (for fields whose comment is too long for the end of the line)."""
    out, block = {}, []
    for line in _source_lines(cls):
        text = line.strip()
        if text.startswith("# "):
            block.append(text[2:])
            continue
        name = text.split(":")[0]
        if block and name.isidentifier():
            out[name] = " ".join(block)
        block = []
    return out


def data_list_help() -> dict[str, str]:
    """What each data list is for, from :class:`~workbench.recipe.DataSpec` (the comment
    above the field, else the one after it)."""
    above, after = comment_above(DataSpec), _comments(DataSpec)
    return {name: above.get(name) or after.get(name, "") for name in DATA_LISTS}


def form_fields(cls: type = Recipe, prefix: str = "") -> list[FormField]:
    """The form's fields for dataclass ``cls``, depth first, in declaration order."""
    out: list[FormField] = []
    hints = get_type_hints(cls)
    notes = _comments(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        if key in SKIPPED:
            continue
        tp, optional = _unwrap_optional(hints[f.name])
        default = _default(f)
        note = notes.get(f.name, "")
        origin = get_origin(tp)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp) and tp not in REGISTRIES:
            if optional:  # an optional section: switched on and off as a whole
                out.append(FormField(key, "section", default is not None, help=tp.__doc__ or ""))
            out += form_fields(tp, key)
        elif tp is bool:
            out.append(FormField(key, "bool", default, optional, help=note))
        elif tp is int:
            out.append(FormField(key, "int", default, optional, help=note))
        elif tp is float:
            out.append(FormField(key, "float", default, optional, help=note))
        elif tp is str:
            out.append(FormField(key, "str", default, optional, help=note))
        elif origin is Literal:
            out.append(FormField(key, "choice", default, optional, get_args(tp), note))
        elif origin is list:
            (item,) = get_args(tp)
            if get_origin(item) is Literal:
                out.append(FormField(key, "multi", default, optional, get_args(item), note))
            elif key in LIST_CHOICES:
                out.append(FormField(key, "multi", default, optional, LIST_CHOICES[key], note))
            elif item is float:
                out.append(FormField(key, "floats", default, optional, help=note))
    return out


def get_key(data: Any, key: str) -> Any:
    """The value at ``key`` in nested dicts (or dataclasses); None where absent."""
    for part in key.split("."):
        if dataclasses.is_dataclass(data):
            data = getattr(data, part, None)
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


def set_key(data: dict, key: str, value: Any) -> None:
    """Set ``key`` in nested dicts, creating the mappings on the way."""
    parts = key.split(".")
    for part in parts[:-1]:
        if not isinstance(data.get(part), dict):
            data[part] = {}
        data = data[part]
    data[parts[-1]] = value


def form_values(recipe: Recipe, fields: list[FormField]) -> dict[str, Any]:
    """What each field shows for ``recipe`` (a section's value: whether it is on)."""
    values = {}
    for f in fields:
        value = get_key(recipe, f.key)
        if f.kind == "section":
            values[f.key] = value is not None
        elif value is None and "." in f.key and get_key(recipe, f.key.rsplit(".", 1)[0]) is None:
            values[f.key] = f.default  # inside a section that is off: show its defaults
        else:
            values[f.key] = value
    return values


def parse_input(f: FormField, raw: Any) -> tuple[Any, str | None]:
    """The recipe value for what a form input holds, or an error message for the field."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if f.optional or f.kind in ("str",):
            return None if f.optional else "", None
        if f.kind in ("multi",):
            return [], None
        return None, "expected a value"
    if f.kind == "int":
        try:
            number = float(raw)
        except (TypeError, ValueError):
            return None, f"expected a whole number, got {raw!r}"
        if number != int(number):
            return None, f"expected a whole number, got {raw!r}"
        return int(number), None
    if f.kind == "float":
        try:
            return float(raw), None
        except (TypeError, ValueError):
            return None, f"expected a number, got {raw!r}"
    if f.kind == "floats":
        items = raw if isinstance(raw, (list, tuple)) else str(raw).replace(",", " ").split()
        try:
            return [float(x) for x in items], None
        except ValueError:
            return None, f"expected numbers separated by commas, got {raw!r}"
    if f.kind == "multi":
        return list(raw), None
    return raw, None


def apply_form(
    data: dict, shown: dict[str, Any], fields: list[FormField], inputs: dict[str, Any]
) -> tuple[dict, dict[str, str]]:
    """``data`` (the recipe file's YAML) with the form's changes written in.

    ``shown`` is what the form showed when the recipe was loaded (:func:`form_values`);
    only inputs that differ from it are written, so the YAML stays as small as the user
    made it. Returns the new data and the input errors by key.
    """
    import copy

    out = copy.deepcopy(data)
    errors: dict[str, str] = {}
    sections = {f.key: bool(inputs.get(f.key)) for f in fields if f.kind == "section"}
    for f in fields:
        if f.kind == "section":
            if sections[f.key] != bool(shown.get(f.key)):
                set_key(out, f.key, {} if sections[f.key] else None)
            continue
        parent = f.key.rsplit(".", 1)[0]
        if parent in sections and not sections[parent]:
            continue  # a switched-off section keeps no values
        value, error = parse_input(f, inputs.get(f.key))
        if error:
            errors[f.key] = error
            continue
        switched_on = parent in sections and not shown.get(parent)
        if value != shown.get(f.key) or (switched_on and value != f.default):
            set_key(out, f.key, value)
    return out, errors


def raw_values(data: dict, fields: list[FormField]) -> dict[str, Any]:
    """What the form shows for recipe data that does not load: its values, else defaults."""
    values = {}
    for f in fields:
        value = get_key(data, f.key)
        if f.kind == "section":
            parent, name = f.key.rsplit(".", 1)
            holder = get_key(data, parent)
            given = isinstance(holder, dict) and name in holder
            values[f.key] = (value is not None) if given else f.default
        else:
            values[f.key] = f.default if value is None else value
    return values


def _rebase(data: dict, cls: type, src: Path, dst: Path) -> None:
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        value = data.get(f.name)
        tp, _ = _unwrap_optional(hints[f.name])
        if f.metadata.get("path") and isinstance(value, str):
            if not Path(value).expanduser().is_absolute():
                data[f.name] = os.path.relpath((src / value).resolve(), dst.resolve())
        elif isinstance(value, dict) and isinstance(tp, type) and dataclasses.is_dataclass(tp):
            _rebase(value, tp, src, dst)
        elif isinstance(value, list) and get_origin(tp) is list and get_args(tp)[0] in REGISTRIES:
            discriminator, registry = REGISTRIES[get_args(tp)[0]]
            for item in value:
                if isinstance(item, dict) and item.get(discriminator) in registry:
                    _rebase(item, registry[item[discriminator]], src, dst)


def rebase_paths(data: dict, src: Path, dst: Path) -> dict:
    """``data`` with its relative paths rewritten from folder ``src`` to folder ``dst``."""
    import copy

    out = copy.deepcopy(data)
    _rebase(out, Recipe, src, dst)
    return out
