"""Export tab: build and download the adapter package, the merged model, or a
faster-whisper (CTranslate2) folder, each as one zip."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import gradio as gr

from workbench.ui.common import Shared, in_place, require_run

FORMATS = {
    "adapter package (PEFT, with recipe, lexicon, report, model card)": "peft",
    "merged model (transformers)": "merged",
    "faster-whisper / CTranslate2 (int8)": "ct2",
}


def zip_folder(folder: Path) -> Path:
    """``folder.zip`` beside the folder, written under a temporary name and then renamed."""
    target = folder.with_suffix(".zip")
    tmp = folder.parent / f".{folder.name}.{os.getpid()}"
    made = Path(shutil.make_archive(str(tmp), "zip", root_dir=folder.parent, base_dir=folder.name))
    made.replace(target)
    return target


def build_export(run_dir: Path, fmt: str) -> Path:
    """Export a run in ``fmt`` (peft, merged, ct2) under ``run_dir/export``; the zip's path."""
    from workbench.export.package import export_ct2, export_merged, export_peft

    out = run_dir / "export" / fmt
    if fmt == "peft":
        _, archive = export_peft(run_dir, out)
        return archive
    folder = export_merged(run_dir, out) if fmt == "merged" else export_ct2(run_dir, out)
    return zip_folder(Path(folder))


def create_export_tab(shared: Shared) -> dict[str, Any]:
    """Build the tab; returns its components by name."""
    ws = shared.ws
    fmt = gr.Radio(list(FORMATS), value=next(iter(FORMATS)), label="format", elem_id="export-fmt")
    go = gr.Button("Build", variant="primary", elem_id="export-go")
    note = gr.Markdown(elem_id="export-message")
    download = gr.File(label="download", interactive=False, elem_id="export-file")

    @in_place(2)
    def on_go(run_id: str | None, label: str, progress: gr.Progress = gr.Progress()):
        from workbench.export.adapter_check import AdapterError
        from workbench.export.package import ExportError

        run = require_run(ws, run_id)
        progress(0.1, desc="exporting")
        try:
            archive = build_export(run.root, FORMATS[label])
        except (ExportError, AdapterError) as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        size = archive.stat().st_size / 1024**2
        return str(archive), f"built `{archive}` ({size:.1f} MB)"

    go.click(on_go, [shared.run, fmt], [download, note])
    return {"format": fmt, "go": go, "note": note, "download": download, "on_go": on_go}
