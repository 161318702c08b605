"""``workbench export RUN_DIR``: the adapter package, a merged model, a CTranslate2 folder.

Every format is written into a temporary folder and renamed into place, so an export that
fails half-way leaves nothing that looks complete.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from workbench.data.prepare import recipe_lexicon
from workbench.export.adapter_check import MARKER, read_adapter_info
from workbench.export.boost_setting import BOOST_FILE, boost_setting
from workbench.export.model_card import (
    HOTWORDS_FILE,
    ct2_model_card,
    model_card,
    read_hotwords_figures,
)
from workbench.recipe import Recipe, load_recipe
from workbench.runs import RunDir, write_json_atomic
from workbench.safe_write import TargetError, check_target, replace_folder, temp_sibling

if TYPE_CHECKING:
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

FORMATS = ("peft", "merged", "ct2")
CT2_QUANTIZATIONS = ("int8", "int8_float32", "float16", "float32")
CT2_MISSING = (
    "the ct2 (faster-whisper) format needs CTranslate2, which the default install leaves out: "
    "pip install 'ctranslate2>=4.4' (or pip install -e '.[ct2]'), then export again"
)


class ExportError(RuntimeError):
    """A run that cannot be exported (no adapter yet, a failed run)."""


MARKER_FILE = "EXPORT.yaml"  # in every export folder: what the workbench wrote there


def is_export_folder(path: Path) -> bool:
    """Whether ``path`` is a folder written by ``workbench export`` (it has EXPORT.yaml)."""
    return (path / MARKER_FILE).is_file()


def is_export_zip(path: Path) -> bool:
    """Whether ``path`` is a zip written by ``workbench export`` (EXPORT.yaml at its root)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return MARKER_FILE in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def check_export_target(
    run_dir: str | Path, out: str | Path, *, force: bool = False, archive: bool = False
) -> Path:
    """``out`` (and ``out.zip`` with ``archive``) checked against the write rule
    (:mod:`workbench.safe_write`): never a run, the working folder or its parents, nor what
    the workbench did not write unless ``force``.

    Raises:
        ExportError: the target is refused, saying what would have been lost.
    """
    try:
        path = check_target(
            out, kind="folder", made_by_workbench=is_export_folder, force=force, own_run=run_dir
        )
        if archive:
            check_target(
                f"{out}.zip",
                kind="file",
                made_by_workbench=is_export_zip,
                force=force,
                own_run=run_dir,
            )
    except TargetError as exc:
        raise ExportError(str(exc)) from None
    return path


def _atomic_folder(
    run_dir: str | Path,
    out: Path,
    build: Callable[[Path], None],
    *,
    fmt: str,
    force: bool = False,
    archive: bool = False,
) -> Path:
    """Build the export in a temporary sibling of ``out`` (checked first), then swap it in."""
    out = check_export_target(run_dir, out, force=force, archive=archive)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        build(tmp)
        if not (tmp / MARKER_FILE).is_file():
            files = sorted(p.name for p in tmp.iterdir())
            (tmp / MARKER_FILE).write_text(
                yaml.safe_dump({"format": fmt, "run": RunDir(run_dir).id, "files": files})
            )
        replace_folder(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _zip_folder(folder: Path) -> Path:
    """``folder.zip`` (its files at the zip's root), written beside it and renamed in."""
    target = folder.with_name(f"{folder.name}.zip")
    tmp = temp_sibling(target)
    tmp.unlink()
    try:
        made = Path(shutil.make_archive(str(tmp), "zip", root_dir=folder))
        made.replace(target)
    finally:
        Path(f"{tmp}.zip").unlink(missing_ok=True)
    return target


def _run_parts(run_dir: str | Path) -> tuple[RunDir, dict]:
    run = RunDir(run_dir)
    if not run.adapter.is_dir():
        state = run.status().get("state", "unknown")
        raise ExportError(f"{run.root}: no adapter yet (run state: {state}); train it first")
    return run, read_adapter_info(run.adapter)


def export_peft(run_dir: str | Path, out: str | Path, *, force: bool = False) -> tuple[Path, Path]:
    """The adapter package: folder and ``.zip`` with the adapter, recipe, lexicon, report
    and a model card. Loadable with ``PeftModel.from_pretrained(base, folder)``.

    ``out`` and ``out.zip`` may replace only an earlier export, unless ``force``.
    """
    run, info = _run_parts(run_dir)
    check_export_target(run_dir, out, force=force, archive=True)
    recipe = load_recipe(run.recipe, check_model=False)
    report = json.loads(run.report.read_text()) if run.report.is_file() else None

    def build(tmp: Path) -> None:
        for name in ("adapter_config.json", "adapter_model.safetensors", MARKER):
            if (run.adapter / name).is_file():
                shutil.copy2(run.adapter / name, tmp / name)
        shutil.copy2(run.recipe, tmp / "recipe.yaml")
        lexicon = recipe_lexicon(recipe)
        has_lexicon = lexicon is not None and bool(lexicon.path)
        if has_lexicon:
            shutil.copy2(lexicon.path, tmp / "lexicon.tsv")
        if report is not None:
            shutil.copy2(run.report, tmp / "report.json")
        boost = boost_setting(recipe, report, has_lexicon)
        write_json_atomic(tmp / BOOST_FILE, boost)
        status = run.status()
        (tmp / "README.md").write_text(model_card(recipe, info, report, status, boost=boost))
        (tmp / MARKER_FILE).write_text(
            yaml.safe_dump(
                {"format": "peft", "run": run.id, "files": sorted(p.name for p in tmp.iterdir())}
            )
        )

    folder = _atomic_folder(run_dir, Path(out), build, fmt="peft", force=force, archive=True)
    return folder, _zip_folder(folder)


def merged_model(
    run_dir: str | Path,
) -> tuple[WhisperForConditionalGeneration, WhisperProcessor, Recipe]:
    """The base model with the adapter merged in (``merge_and_unload``), and its processor."""
    import torch
    from peft import PeftModel

    from workbench.models.loading import load_model

    run, _ = _run_parts(run_dir)
    recipe = load_recipe(run.recipe, check_model=False)
    loaded = load_model(recipe.base_model, device="cpu", dtype=torch.float32)
    model = PeftModel.from_pretrained(loaded.model, str(run.adapter)).merge_and_unload()
    return model.eval(), loaded.processor, recipe


def export_merged(run_dir: str | Path, out: str | Path, *, force: bool = False) -> Path:
    """A standalone Hugging Face Whisper folder, for ``from_pretrained`` and pipelines."""
    check_export_target(run_dir, out, force=force)
    model, processor, _ = merged_model(run_dir)

    def build(tmp: Path) -> None:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)

    return _atomic_folder(run_dir, Path(out), build, fmt="merged", force=force)


def _merged_into(run_dir: str | Path, out: Path) -> None:
    """The merged model saved into ``out`` (a scratch folder of the caller's)."""
    model, processor, _ = merged_model(run_dir)
    model.save_pretrained(out)
    processor.save_pretrained(out)


def export_ct2(
    run_dir: str | Path, out: str | Path, quantization: str = "int8", *, force: bool = False
) -> Path:
    """A faster-whisper model folder: CTranslate2's converter on the merged model."""
    if quantization not in CT2_QUANTIZATIONS:
        raise ExportError(
            f"quantization {quantization!r}; expected one of {', '.join(CT2_QUANTIZATIONS)}"
        )
    check_export_target(run_dir, out, force=force)
    try:
        from ctranslate2.converters import TransformersConverter
    except ImportError:
        raise ExportError(CT2_MISSING) from None

    run, info = _run_parts(run_dir)
    recipe = load_recipe(run.recipe, check_model=False)
    report = json.loads(run.report.read_text()) if run.report.is_file() else None
    lexicon = recipe_lexicon(recipe)
    with tempfile.TemporaryDirectory() as merged:
        _merged_into(run_dir, Path(merged) / "model")

        def build(tmp: Path) -> None:
            converter = TransformersConverter(
                str(Path(merged) / "model"), copy_files=["tokenizer.json"]
            )
            converter.convert(str(tmp), quantization=quantization, force=True)
            if lexicon is not None and lexicon.path:
                shutil.copy2(lexicon.path, tmp / "lexicon.tsv")
            card = ct2_model_card(
                recipe,
                info,
                report,
                run.status(),
                terms=lexicon.prompt_text() if lexicon is not None else "",
                hotwords=read_hotwords_figures(run.root / HOTWORDS_FILE),
                quantization=quantization,
            )
            (tmp / "README.md").write_text(card)

        return _atomic_folder(run_dir, Path(out), build, fmt="ct2", force=force)
