"""The web UI: one page, a header choosing the recipe and the run, one tab per step."""

from __future__ import annotations

import os

import gradio as gr

from workbench.runs import busy_run, list_runs
from workbench.ui.augment_tab import create_augment_tab
from workbench.ui.common import Shared
from workbench.ui.compare_tab import create_compare_tab
from workbench.ui.data_tab import create_data_tab
from workbench.ui.export_tab import create_export_tab
from workbench.ui.guided_tab import create_guided_tab
from workbench.ui.lexicon_tab import create_lexicon_tab
from workbench.ui.page_script import HEAD
from workbench.ui.recipes_tab import create_recipes_tab
from workbench.ui.review_tab import create_review_tab
from workbench.ui.runs_tab import create_runs_tab
from workbench.ui.train_tab import create_train_tab
from workbench.ui.try_tab import create_try_tab
from workbench.ui.workspace import Workspace

CSS = """
.wb-progress{height:14px;background:#e6e9ef;border-radius:7px;overflow:hidden}
.wb-progress>div{height:100%;background:#2f7de1;transition:width .5s}
.wb-progress-text{margin-top:.3rem;font-variant-numeric:tabular-nums}
.field-error .info, .field-error span[data-testid="block-info"]{color:#b3261e}
.sub{background:#ffe2a8}.del{background:#ffc9c9;text-decoration:line-through}.ins{background:#c9e7ff}
.fixed{color:#1d7a3a}.broken{color:#b3261e}.muted{color:#6b7280}
.wb-legend span{padding:0 .2rem}.wb-explain{margin:.3rem 0 .6rem}
table.wb-figures td, table.wb-figures th, table.wb-utterances td, table.wb-utterances th{
  border:1px solid #d5d9e0;padding:.25rem .5rem}
"""
MAX_UPLOAD_MB = 512
TABS = [
    "start",
    "recipes",
    "data",
    "lexicon",
    "review",
    "augment",
    "train",
    "compare",
    "try",
    "export",
    "runs",
]


def default_recipe(ws: Workspace) -> str | None:
    choices = ws.recipe_choices()
    shipped = [p for _, p in choices if p.endswith("medical_tiny-en_lora.yaml")]
    return (shipped or [p for _, p in choices] or [None])[0]


def current_run(ws: Workspace) -> str | None:
    """The run a fresh page shows: the one still going, else the newest."""
    run = busy_run(ws.runs)
    if run is None:
        runs = list_runs(ws.runs)
        run = runs[0] if runs else None
    return run.id if run else None


def build_app(ws: Workspace) -> gr.Blocks:
    """The Gradio app over workspace ``ws`` (launch it with :func:`launch_options`)."""
    # Uploads and files served back are deleted by Gradio an hour after they were made;
    # those an action consumes are deleted at once (uploads.discard_upload).
    with gr.Blocks(title="Whisper domain workbench", delete_cache=(600, 3600)) as app:
        gr.Markdown(
            "## Whisper domain workbench\nAdapt Whisper to your domain: describe it as a "
            "recipe, train an adapter, compare it with the base model, export it."
        )
        with gr.Row():
            # No value until the page loads (Gradio would pick the first choice, and the load
            # choosing that same recipe would then change nothing: the form stayed empty).
            recipe = gr.Dropdown(
                label="Recipe",
                choices=ws.recipe_choices(),
                value=None,
                scale=3,
                elem_id="header-recipe",
            )
            run = gr.Dropdown(label="Run", choices=[], scale=3, elem_id="header-run")
        shared = Shared(ws=ws, recipe=recipe, run=run)
        with gr.Tabs() as tabs:
            shared.tabs = tabs
            with gr.Tab("Start here", id="start", elem_id="tab-start"):
                guided = create_guided_tab(shared)
            with gr.Tab("Recipes", id="recipes", elem_id="tab-recipes"):
                create_recipes_tab(shared)
            with gr.Tab("Data", id="data", elem_id="tab-data"):
                create_data_tab(shared)
            with gr.Tab("Lexicon", id="lexicon", elem_id="tab-lexicon"):
                create_lexicon_tab(shared)
            with gr.Tab("Review labels", id="review", elem_id="tab-review"):
                create_review_tab(shared)
            with gr.Tab("Augment", id="augment", elem_id="tab-augment"):
                create_augment_tab(shared)
            with gr.Tab("Train", id="train", elem_id="tab-train"):
                create_train_tab(shared)
            with gr.Tab("Compare", id="compare", elem_id="tab-compare") as compare_tab:
                compare = create_compare_tab(shared)
            with gr.Tab("Try it", id="try", elem_id="tab-try"):
                create_try_tab(shared)
            with gr.Tab("Export", id="export", elem_id="tab-export"):
                create_export_tab(shared)
            with gr.Tab("Runs", id="runs", elem_id="tab-runs") as runs_tab:
                runs = create_runs_tab(shared)
        compare_tab.select(compare["on_run"], [run], compare["outputs"])
        guided["open_compare"].click(compare["on_run"], [run], compare["outputs"])
        runs_tab.select(runs["reload"], None, runs["table"])

        def on_load():
            from workbench.ui.common import run_choices, run_of

            run_id = current_run(ws)
            # A fresh page opens the current run's recipe when it is one of the choices.
            recipe_path = default_recipe(ws)
            if (chosen := run_of(ws, run_id)) is not None:
                path = chosen.status().get("recipe_path")
                if path in [p for _, p in ws.recipe_choices()]:
                    recipe_path = path
            return (
                gr.update(choices=ws.recipe_choices(), value=recipe_path),
                gr.update(choices=run_choices(ws), value=run_id),
            )

        app.load(on_load, None, [recipe, run])
    return app


def max_upload_bytes() -> int:
    """The largest upload the server takes: ``$WORKBENCH_MAX_UPLOAD_MB`` (default 512 MB).

    Gradio stops a larger upload while it streams in (HTTP 413) and deletes what it wrote.
    """
    raw = os.environ.get("WORKBENCH_MAX_UPLOAD_MB", str(MAX_UPLOAD_MB))
    try:
        megabytes = float(raw)
    except ValueError:
        raise ValueError(f"WORKBENCH_MAX_UPLOAD_MB: expected a number of MB, got {raw!r}") from None
    if not megabytes > 0:
        raise ValueError(f"WORKBENCH_MAX_UPLOAD_MB: expected a number above 0, got {raw!r}")
    return int(megabytes * 1024**2)


def launch_options(ws: Workspace) -> dict:
    """What ``launch`` needs besides host and port: styling, the page's script (the tab
    remembered), which files may be served, and the largest upload taken."""
    return {
        "css": CSS,
        "head": HEAD,
        "allowed_paths": [str(ws.runs)],
        "show_error": True,
        "max_file_size": max_upload_bytes(),
    }
