"""Reading every file a recipe names far enough to know that preparation will load it.

``recipe validate`` calls :func:`check_inputs` after the recipe itself checks out: the
lexicon is read whole (it is small); each data source is read through its own preparer up to
its first rows, and those rows' audio is decoded; a synth source fills its sentences (text
only, no voice) so that the templates the lexicon must fill are known to fill it. What this
calls valid prepares; the rows after the first few may still be dropped, one by one.
"""

from __future__ import annotations

import csv
import dataclasses
import tempfile
from pathlib import Path

from workbench.data.candidates import PrepareContext, RowProblem, SourceError
from workbench.data.prepare import DataError, pack_dir, recipe_lexicon
from workbench.data.sources import PREPARERS, UNLABELED_PREPARERS
from workbench.data.sources.synth import sentences_for
from workbench.data.templates import GENERIC, TemplateError, carriers, load_templates
from workbench.data.validate import Validator
from workbench.lexicon import Lexicon
from workbench.recipe import HubDatasetSource, Recipe, SourceSpec, SynthSource, UnlabeledSpec
from workbench.schema import join_key

PROBE_ROWS = 5  # rows read from each source's start


def check_inputs(recipe: Recipe) -> list[tuple[str, str]]:
    """Every problem a preparation of ``recipe`` would meet at once, as ``(key, message)``.

    Row-by-row problems past the first rows are not looked for: preparation drops those
    rows and says why.
    """
    out: list[tuple[str, str]] = []
    lexicon: Lexicon | None = None
    try:
        lexicon = recipe_lexicon(recipe)
    except DataError as exc:
        key = "lexicon.path" if recipe.lexicon.path or not recipe.domain else "domain"
        lines = str(exc).removeprefix("lexicon: ").splitlines()
        more = f" (and {len(lines) - 3} more)" if len(lines) > 3 else ""
        out.append((key, "; ".join(lines[:3]) + more))
    with tempfile.TemporaryDirectory(prefix="workbench-preflight-") as tmp:
        ctx = PrepareContext(
            staging=Path(tmp),
            pack_dir=pack_dir(recipe),
            lexicon=lexicon,
            language=recipe.language,
            log=lambda message: None,
        )
        validator = Validator(Path(tmp) / "audio", recipe.data.max_duration_s)
        for split in ("train", "eval", "general", "replay", "general_dev"):
            for index, spec in enumerate(getattr(recipe.data, split)):
                key = join_key(f"data.{split}", index)
                if isinstance(spec, SynthSource):
                    message = _check_synth(spec, ctx)
                elif isinstance(spec, HubDatasetSource):
                    message = _check_hub(spec, ctx)
                else:
                    message = _check_rows(spec, ctx, validator, split)
                if message:
                    out.append((key, message))
        for index, spec in enumerate(recipe.data.unlabeled):
            message = _check_rows(spec, ctx, validator, "unlabeled", unlabeled=True)
            if message:
                out.append((join_key("data.unlabeled", index), message))
    return out


def _check_rows(
    spec: SourceSpec | UnlabeledSpec,
    ctx: PrepareContext,
    validator: Validator,
    split: str,
    *,
    unlabeled: bool = False,
) -> str:
    """The source's first rows: read, and their audio decoded. '' when they load."""
    probe = dataclasses.replace(spec, limit=min(spec.limit or PROBE_ROWS, PROBE_ROWS))
    preparers = UNLABELED_PREPARERS if unlabeled else PREPARERS
    try:
        rows = preparers[spec.source](probe, ctx)
    except (SourceError, OSError, UnicodeError, ValueError, csv.Error) as exc:
        return str(exc)
    checked = [validator.check(c, split, need_text=not unlabeled) for c in rows.candidates]
    bad = [r for r in checked if isinstance(r, RowProblem)]
    if rows.candidates and len(bad) < len(rows.candidates):
        return ""
    problems = [*rows.problems, *bad]
    if not problems:
        return "no rows: the source lists no utterances"
    shown = "; ".join(str(p) for p in problems[:2])
    return f"none of its first {len(problems)} row(s) can be used: {shown}"


def _check_synth(spec: SynthSource, ctx: PrepareContext) -> str:
    """Templates that load and carry every chosen term's category; '' when they do."""
    if ctx.lexicon is None:
        return "synth needs a lexicon: set lexicon.path, or a domain whose pack has one"
    try:
        sentences = sentences_for(spec, ctx)
        path = Path(spec.templates) if spec.templates else ctx.pack_dir / "templates.txt"
        section = "train" if spec.split == "train" else "heldout"
        templates = [t for t in load_templates(path) if t.section == section]
    except (SourceError, TemplateError, TypeError) as exc:
        return str(exc)
    by_category, _ = carriers(templates, ctx.lexicon)
    wanted = spec.categories or ctx.lexicon.categories()
    unknown = [c for c in wanted if c not in by_category]
    if unknown:
        return f"categories {unknown} are not in the lexicon; it has {ctx.lexicon.categories()}"
    bare = [c for c in wanted if not by_category[c]]
    if bare:
        named = "" if bare == [GENERIC] else f"templates with {{{bare[0]}}}, or "
        plural = "y" if len(bare) == 1 else "ies"
        return (
            f"{path}: no [{section}] template can carry terms of categor{plural} "
            f"{', '.join(map(repr, bare))}: add {named}generic templates with {{term}} "
            "(e.g. 'We discussed {term}.')"
        )
    if not sentences:
        return f"{path}: the templates make no sentence for the lexicon's terms"
    return ""


def _check_hub(spec: HubDatasetSource, ctx: PrepareContext) -> str:
    """Offline: the dataset must be in the local cache (read from it, no network)."""
    from workbench.data.sources.hf_hub import load_hub_dataset, offline_reason

    if offline_reason() is None:
        return ""  # downloaded when prepared
    try:
        load_hub_dataset(spec)
    except SourceError as exc:
        return str(exc)
    return ""
