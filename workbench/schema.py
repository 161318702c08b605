"""Building checked dataclasses from YAML-like data, with every problem reported at once.

Specs are dataclasses that check their own values in ``__post_init__`` (raising
:class:`SpecError` with every bad field), so they are equally safe to build in Python.
:func:`build` turns plain data into a spec, collecting type errors, unknown keys (with a
"did you mean" hint) and the specs' own checks as :class:`Problem` records, each located by
key path and, where known, the file and line it came from.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import yaml

from workbench.fileio import special_kind


class SpecError(ValueError):
    """Raised by a spec's ``__post_init__``: one ``(field, message)`` per bad field."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{name}: {msg}" for name, msg in problems))


class Spec:
    """Base of the recipe sections: override ``check`` to return ``(field, message)`` pairs."""

    def __post_init__(self) -> None:
        problems = self.check()
        if problems:
            raise SpecError(problems)

    def check(self) -> list[tuple[str, str]]:
        return []


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a recipe: where it is and what was expected."""

    file: str
    key: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class RecipeError(ValueError):
    """A recipe with problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"{count} in recipe:\n" + "\n".join(f"  {p}" for p in problems))


def refuse_aliases(text: str, label: str) -> Problem | None:
    """A problem for the first YAML alias in ``text``: aliases can nest into an exponential
    "billion laughs" that no walk over the data survives, and recipes never need them."""
    alias = next((e for e in yaml.parse(text) if isinstance(e, yaml.AliasEvent)), None)
    if alias is None:
        return None
    return Problem(
        label,
        "",
        f"YAML alias *{alias.anchor} is not accepted in a recipe; write the value out",
        alias.start_mark.line + 1,
    )


def yaml_problem(exc: yaml.YAMLError, label: str, text: str) -> Problem:
    """A YAML parse error as one :class:`Problem` line, with its line number when known."""
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark else None
    if line is None and isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
    reason = " ".join(str(getattr(exc, "problem", None) or exc).split("\n")[0].split())
    return Problem(label, "", f"invalid YAML: {reason}", line)


def safe_yaml(text: str, label: str = "YAML") -> Any:
    """``yaml.safe_load`` of user text, refusing aliases.

    Raises:
        RecipeError: invalid YAML, or an alias.
    """
    try:
        problem = refuse_aliases(text, label)
        if problem:
            raise RecipeError([problem])
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecipeError([yaml_problem(exc, label, text)]) from None


# ---------------------------------------------------------------------------------------
# Where values came from: YAML line maps per layer (pack defaults, file, overrides).


def join_key(prefix: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{prefix}[{name}]"
    return f"{prefix}.{name}" if prefix else name


@dataclass
class Layer:
    """One source of recipe values: a file (with its line map) or a command-line override."""

    label: str
    base_dir: Path
    lines: dict[str, int] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)  # key paths this layer set


def yaml_line_map(text: str) -> tuple[dict[str, int], list[tuple[str, int, str]]]:
    """Map every key path in a YAML document to its 1-based line.

    Also returns duplicate keys as ``(key path, line, message)``: PyYAML keeps the last
    value silently, which hides mistakes.
    """
    lines: dict[str, int] = {}
    duplicates: list[tuple[str, int, str]] = []
    root = yaml.compose(text, Loader=yaml.SafeLoader)

    def walk(node: yaml.Node, key: str) -> None:
        lines.setdefault(key, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for k_node, v_node in node.value:
                name = str(k_node.value)
                child = join_key(key, name)
                line = k_node.start_mark.line + 1
                if name in seen:
                    duplicates.append((child, line, f"duplicate key (first on line {seen[name]})"))
                seen[name] = line
                lines[child] = line
                walk(v_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, join_key(key, i))

    if root is not None:
        walk(root, "")
    return lines, duplicates


def key_paths(data: Any, prefix: str = "") -> set[str]:
    """Every key path in nested dicts and lists."""
    out = {prefix} if prefix else set()
    if isinstance(data, dict):
        for k, v in data.items():
            out |= key_paths(v, join_key(prefix, str(k)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out |= key_paths(v, join_key(prefix, i))
    return out


class Collector:
    """Collects problems, locating each key path in the last layer that set it."""

    def __init__(
        self, layers: list[Layer], path_guard: Callable[[Path], str | None] | None = None
    ) -> None:
        self.layers = layers
        self.problems: list[Problem] = []
        # Says why a path may not be read (the UI: outside the workspace), before anything
        # about the path is looked at, so that no message tells whether it exists.
        self.path_guard = path_guard

    def origin(self, key: str) -> Layer:
        """The layer that set ``key`` (or its nearest parent); the last one if none did."""
        probe = key
        while True:
            for layer in reversed(self.layers):
                if probe in layer.keys:
                    return layer
            if not probe:
                return self.layers[-1]
            probe = _parent(probe)

    def resolve_paths(self, spec: Any, key: str) -> None:
        """Make the path fields of ``spec`` absolute and check that they exist.

        A relative path resolves against the folder of the file that set it (the working
        folder for command-line overrides). Fields carry ``metadata={"path": kind}`` with
        kind ``file``, ``dir`` or ``any``.
        """
        for f in dataclasses.fields(spec):
            kind = f.metadata.get("path")
            value = getattr(spec, f.name)
            if not kind or not isinstance(value, str):
                continue
            child = join_key(key, f.name)
            given = self.origin(child).base_dir / Path(value).expanduser()
            try:
                resolved = given.resolve()
            except (RuntimeError, OSError):  # a symbolic-link loop (Python < 3.13)
                refused = self.path_guard(given) if self.path_guard is not None else None
                self.add(child, refused or f"cannot resolve {given}: a symbolic-link loop")
                continue
            setattr(spec, f.name, str(resolved))
            if self.path_guard is not None and (refused := self.path_guard(resolved)):
                self.add(child, refused)
            elif special := special_kind(resolved):
                self.add(child, f"{special}, not a regular file or folder: {resolved}")
            elif not resolved.exists():
                self.add(child, f"no such {'folder' if kind == 'dir' else 'file'}: {resolved}")
            elif kind == "file" and not resolved.is_file():
                self.add(child, f"expected a file, got a folder: {resolved}")
            elif kind == "dir" and not resolved.is_dir():
                self.add(child, f"expected a folder, got a file: {resolved}")

    def sorted_problems(self) -> list[Problem]:
        """Problems in reading order: layer by layer, then by line."""
        order = {layer.label: i for i, layer in enumerate(self.layers)}
        return sorted(self.problems, key=lambda p: (order.get(p.file, -1), p.line or 0))

    def add(self, key: str, message: str) -> None:
        layer = self.origin(key)
        line = None
        probe = key
        while line is None and probe:
            line = layer.lines.get(probe)
            probe = _parent(probe)
        self.problems.append(Problem(layer.label, key, message, line))


def _parent(key: str) -> str:
    cut = max(key.rfind("."), key.rfind("["))
    return key[:cut] if cut > 0 else ""


# ---------------------------------------------------------------------------------------
# Building specs from data.

_INVALID = object()


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def describe(tp: Any) -> str:
    """A human name for a type hint, for 'expected ...' messages."""
    origin = get_origin(tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (list, tuple):
        return f"a list of {_plural(get_args(tp)[0])}"
    if origin is dict:
        return "a mapping"
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else describe(a) for a in get_args(tp))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return "a mapping with keys " + ", ".join(f.name for f in dataclasses.fields(tp))
    return getattr(tp, "__name__", str(tp))


def _plural(tp: Any) -> str:
    return {bool: "booleans", int: "integers", float: "numbers", str: "strings"}.get(
        tp, describe(tp)
    )


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# A field whose type is a base spec class is resolved through a registry: the value's
# ``source`` key (or other discriminator) names the concrete class. No dotted-path imports.
Registry = dict[str, type]
REGISTRIES: dict[type, tuple[str, Registry]] = {}


def register_union(base: type, discriminator: str, registry: Registry) -> None:
    """Let fields typed ``base`` take any class of ``registry``, chosen by ``discriminator``."""
    REGISTRIES[base] = (discriminator, registry)


def build(tp: Any, value: Any, key: str, out: Collector) -> Any:
    """Convert ``value`` to type ``tp``; record problems in ``out`` and return ``_INVALID``."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return build(inner[0], value, key, out)
        for option in inner:  # first member the value fits, without recording problems
            probe = Collector(out.layers, out.path_guard)
            result = build(option, value, key, probe)
            if result is not _INVALID:
                return result
        out.add(key, f"expected {describe(tp)}, got {_show(value)}")
        return _INVALID
    if origin is Literal:
        choices = get_args(tp)
        if value in choices:
            return value
        hint = did_you_mean(value, map(str, choices)) if isinstance(value, str) else ""
        out.add(key, f"expected {describe(tp)}, got {_show(value)}{hint}")
        return _INVALID
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin in (list, tuple):
        if isinstance(value, list):
            (item_tp,) = get_args(tp)[:1]
            items = [build(item_tp, v, join_key(key, i), out) for i, v in enumerate(value)]
            return [item for item in items if item is not _INVALID]
    elif origin is dict:
        if isinstance(value, dict):
            return dict(value)
    elif tp in REGISTRIES:
        return _build_registered(tp, value, key, out)
    elif isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return build_spec(tp, value, key, out)
    out.add(key, f"expected {describe(tp)}, got {_show(value)}")
    return _INVALID


def _build_registered(base: type, value: Any, key: str, out: Collector) -> Any:
    discriminator, registry = REGISTRIES[base]
    if not isinstance(value, dict):
        out.add(key, f"expected a mapping with a {discriminator!r} key, got {_show(value)}")
        return _INVALID
    kind = value.get(discriminator)
    if not isinstance(kind, str) or kind not in registry:
        choices = ", ".join(sorted(registry))
        hint = did_you_mean(kind, registry) if isinstance(kind, str) else ""
        what = "missing" if kind is None else f"unknown {discriminator} {kind!r}"
        out.add(join_key(key, discriminator), f"{what}; expected one of {choices}{hint}")
        return _INVALID
    return build_spec(registry[kind], value, key, out)


def build_spec(cls: type, value: Any, key: str, out: Collector) -> Any:
    """Build dataclass ``cls`` from a mapping; unknown keys and bad fields are problems."""
    if not isinstance(value, dict):
        out.add(key, f"expected {describe(cls)}, got {_show(value)}")
        return _INVALID
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for name in value:
        if name not in fields:
            hint = did_you_mean(str(name), fields) or f"; expected one of {', '.join(fields)}"
            out.add(join_key(key, str(name)), f"unknown key{hint}")
    kwargs: dict[str, Any] = {}
    flagged: set[str] = set()
    missing = False
    for name, f in fields.items():
        child = join_key(key, name)
        if name in value:
            built = build(hints[name], value[name], child, out)
            if built is _INVALID:
                flagged.add(name)
            else:
                kwargs[name] = built
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            out.add(child, f"missing required key; expected {describe(hints[name])}")
            missing = True
    required = {
        name
        for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    if missing or required & flagged:  # (already reported) nothing to build without them
        return _INVALID
    try:
        spec = cls(**kwargs)
    except SpecError as exc:
        # Report the spec's own checks, then go on with an unchecked instance so that checks
        # further on (paths, the model's layer counts) still run: every problem is reported
        # at once. The caller raises, so the unchecked instance never reaches a user.
        for name, message in exc.problems:
            if name not in flagged:
                out.add(join_key(key, name), message)
        spec = _unchecked(cls, kwargs)
    out.resolve_paths(spec, key)
    return spec


def _unchecked(cls: type, kwargs: dict[str, Any]) -> Any:
    """An instance of dataclass ``cls`` built without running its checks."""
    spec = object.__new__(cls)
    for f in dataclasses.fields(cls):
        if f.name in kwargs:
            value = kwargs[f.name]
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            value = f.default
        object.__setattr__(spec, f.name, value)
    return spec


def to_data(spec: Any) -> Any:
    """A spec as plain data (dicts, lists, scalars), ready for YAML or JSON."""
    if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
        return {f.name: to_data(getattr(spec, f.name)) for f in dataclasses.fields(spec) if f.init}
    if isinstance(spec, (list, tuple)):
        return [to_data(v) for v in spec]
    if isinstance(spec, dict):
        return {k: to_data(v) for k, v in spec.items()}
    if isinstance(spec, Path):
        return str(spec)
    return spec
