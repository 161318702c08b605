"""Start here: the guided way from "my terms and my recordings" to a comparison on her own
held-out recordings. Five steps on one page, each saying what is still missing; "Adapt"
writes a recipe (shown) and starts the same run the Train tab starts. The logic is in
:mod:`workbench.ui.guided`; this module only lays it out."""

from __future__ import annotations

import subprocess
from html import escape
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from workbench.evaluate.html import STYLE, utterance_table
from workbench.recipe import RecipeError
from workbench.runs import RunBusyError, start_pipeline
from workbench.ui.common import Shared, friendly, run_choices, run_of
from workbench.ui.guided import (
    DEFAULT_HELD_OUT,
    DEFAULT_STEPS,
    OWN_DOMAIN,
    GuidedError,
    Recordings,
    TermsRead,
    domain_choices,
    guided_recipe,
    guided_run,
    held_out_ids,
    held_out_note,
    her_results,
    hold_out,
    import_recordings,
    missing_steps,
    read_folder,
    read_terms,
    recipe_text,
    run_length_note,
    save_take,
    save_terms,
    take_prompt,
    templates_for,
    write_manifests,
)
from workbench.ui.train_tab import describe_run
from workbench.ui.uploads import discard_upload, hold_uploads, safe_name

MERGE = "add them to the pack's terms"
ALONE = "use only my terms"
INTRO = (
    "### Start here\nAdapt Whisper to your words in five steps: your domain, your terms, your "
    "recordings, how many of them to keep for testing, then **Adapt**. The model is trained "
    "on your recordings and on synthetic sentences with your terms, and then compared with "
    "the original model on the recordings you kept aside. (The detailed controls are in the "
    "other tabs.)"
)


def _missing_md(items: list[str]) -> str:
    """The checklist above Adapt: what must still be done; recordings are recommended."""
    needed = [i for i in items if not i.startswith("Step 3")]
    if not needed:
        ready = "✓ Ready: press **Adapt**."
        return ready + "".join(f"\n\nRecommended: {i}" for i in items)
    return "**Still missing:**\n" + "\n".join(f"- {i}" for i in items)


def create_guided_tab(shared: Shared) -> dict[str, Any]:
    """Build the tab; returns its components by name."""
    ws = shared.ws
    children: list[subprocess.Popen] = []  # reaped on every tick (no zombies)
    gr.Markdown(INTRO)

    gr.Markdown("#### 1. Your domain")
    domain = gr.Radio(
        domain_choices(),
        value=None,
        label="the pack closest to your work brings its own terms and example sentences",
        elem_id="guided-domain",
    )

    gr.Markdown("#### 2. Your terms")
    with gr.Row():
        terms_text = gr.Textbox(
            label="paste your terms, one a line (or a table whose first row names the "
            "columns: term,category,spoken)",
            lines=8,
            scale=2,
            elem_id="guided-terms-text",
        )
        with gr.Column(scale=1):
            terms_file = gr.File(
                label="or upload a CSV/TSV (a 'term' column; the others optional)",
                file_types=[".csv", ".tsv", ".txt"],
                elem_id="guided-terms-file",
            )
            merge = gr.Radio(
                [MERGE, ALONE],
                value=MERGE,
                label="with the pack's own terms",
                elem_id="guided-merge",
            )
            terms_btn = gr.Button("Check my terms", elem_id="guided-terms-check")
    terms_note = gr.Markdown(elem_id="guided-terms-note")
    terms_preview = gr.Dataframe(
        headers=["term", "spoken as", "category"],
        interactive=False,
        label="what was read (first rows)",
        elem_id="guided-terms-preview",
    )

    gr.Markdown("#### 3. Your recordings")
    with gr.Row():
        rec_files = gr.File(
            label="a zip of recordings and a CSV of what is said (file_name,transcription; "
            "speaker optional), or audio files and a CSV",
            file_count="multiple",
            scale=2,
            elem_id="guided-recordings",
        )
        with gr.Column(scale=1):
            rec_name = gr.Textbox(
                label="name of this dataset", value="my-recordings", elem_id="guided-name"
            )
            rec_btn = gr.Button("Check my recordings", elem_id="guided-recordings-check")
    rec_note = gr.Markdown(elem_id="guided-recordings-note")
    rec_refused = gr.Dataframe(
        headers=["file or row", "why it was left out"],
        interactive=False,
        label="left out",
        elem_id="guided-refused",
    )

    with gr.Accordion(
        "or record yourself: read sentences with your terms aloud",
        open=False,
        elem_id="guided-record",
    ):
        gr.Markdown(
            "A few minutes of your own voice teach the model more than hours of synthetic "
            "voices. Ask for a sentence, press record, read it, stop; listen back, record "
            "again to redo, or skip it. Your takes go into the dataset named above, for "
            "training (the sentences are the synthetic ones' kind, so they are never used "
            "to test)."
        )
        with gr.Row():
            next_btn = gr.Button("Give me a sentence", elem_id="guided-take-next")
            speaker = gr.Textbox(label="your name (the speaker)", value="me", scale=1)
        take_sentence = gr.Markdown(elem_id="guided-take-sentence")
        take_audio = gr.Audio(
            sources=["microphone"],
            type="filepath",
            label="your take",
            elem_id="guided-take-audio",
        )
        with gr.Row():
            keep_btn = gr.Button("Keep this take", variant="primary", elem_id="guided-take-keep")
            skip_btn = gr.Button("Skip this sentence", elem_id="guided-take-skip")
        take_note = gr.Markdown(elem_id="guided-take-note")
    take_state = gr.State({"number": 0, "sentence": ""})

    gr.Markdown("#### 4. Recordings kept for testing")
    share = gr.Slider(
        0,
        50,
        value=round(100 * DEFAULT_HELD_OUT),
        step=5,
        label="% of your recordings kept aside to test the adapted model (never trained on)",
        elem_id="guided-share",
    )
    share_note = gr.Markdown(held_out_note(None, DEFAULT_HELD_OUT), elem_id="guided-share-note")

    gr.Markdown("#### 5. Adapt")
    with gr.Accordion("advanced", open=False, elem_id="guided-advanced"), gr.Row():
        steps = gr.Number(
            value=DEFAULT_STEPS,
            precision=0,
            minimum=1,
            maximum=100_000,
            label="steps (training length; 100 take about 7 minutes on 2 CPU cores)",
            elem_id="guided-steps",
        )
        base_model = gr.Textbox(
            value="bundled:tiny.en", label="base model", elem_id="guided-base-model"
        )
        general = gr.Checkbox(
            value=True,
            label="also test everyday English (what adapting costs elsewhere)",
            elem_id="guided-general",
        )
    missing = gr.Markdown(_missing_md(missing_steps(None, None, None)), elem_id="guided-missing")
    adapt_btn = gr.Button("Adapt", variant="primary", elem_id="guided-adapt")
    message = gr.Markdown(elem_id="guided-message")
    recipe_code = gr.Code(
        language="yaml",
        label="the recipe written for you",
        interactive=False,
        max_lines=24,
        visible=False,
        elem_id="guided-recipe",
    )
    status = gr.Markdown(elem_id="guided-status")
    progress = gr.HTML(elem_id="guided-progress")
    results = gr.HTML(elem_id="guided-results")
    with gr.Row(visible=False) as done_row:
        adapter = gr.File(
            label="your adapter (a PEFT adapter for the base model), when the run is done",
            interactive=False,
            elem_id="guided-adapter",
        )
        compare_btn = gr.Button("Open the full comparison", elem_id="guided-open-compare")

    terms_state = gr.State(None)  # TermsRead
    rec_state = gr.State(None)  # Recordings
    run_state = gr.State({})  # {"run": id, "heldout": manifest path}
    timer = gr.Timer(2.0)

    @friendly
    def on_terms(text: str, upload: str | None, domain_name: str | None, recordings):
        if upload:
            hold_uploads([upload])
        try:
            read = read_terms(text or "", upload)
        except GuidedError as exc:
            empty = pd.DataFrame([], columns=["term", "spoken as", "category"])
            ready = _missing_md(missing_steps(domain_name, None, recordings))
            return f"⚠ {exc}", empty, None, ready, None
        finally:
            if upload:  # read: Gradio's copy goes (the preview says what was read)
                discard_upload(upload)
        lines = [read.summary() + (f" (from {escape(Path(upload).name)})" if upload else "")]
        lines += [f"- {n}" for n in read.notes]
        if read.problems:
            lines.append("\nLeft out:")
            lines += [f"- {escape(p)}" for p in read.problems[:20]]
            if len(read.problems) > 20:
                lines.append(f"- and {len(read.problems) - 20} more")
        frame = pd.DataFrame(read.preview(), columns=["term", "spoken as", "category"])
        ready = _missing_md(missing_steps(domain_name, read, recordings))
        return "\n".join(lines), frame, read, ready, None

    @friendly
    def on_recordings(paths: list[str] | None, name: str, fraction: float, domain_name, terms):
        items = [Path(p) for p in paths or []]
        hold_uploads(items)
        empty = pd.DataFrame([], columns=["file or row", "why it was left out"])
        try:
            recordings = import_recordings(items, ws.data, name)
        except GuidedError as exc:
            # The files stay in the page, to be checked again with what was missing (a CSV
            # beside the zip): Gradio's copies go in an hour, as its cache's do.
            for item in items:
                discard_upload(item, grace_s=3600)
            ready = _missing_md(missing_steps(domain_name, terms, None))
            note = held_out_note(None, fraction / 100)
            return f"⚠ {exc}", empty, None, note, ready, gr.update()
        for item in items:  # consumed: Gradio's copy goes
            discard_upload(item)
        frame = pd.DataFrame(recordings.refused, columns=["file or row", "why it was left out"])
        note = recordings.summary()
        if recordings.folder is not None:
            note += f" Saved as the dataset **{escape(recordings.folder.name)}**."
        ready = _missing_md(missing_steps(domain_name, terms, recordings))
        return note, frame, recordings, held_out_note(recordings, fraction / 100), ready, None

    @friendly
    def on_next(domain_name: str | None, terms: TermsRead | None, take: dict, skip: bool):
        number = take.get("number", 0) + (1 if skip and take.get("sentence") else 0)
        try:
            if not domain_name:
                raise GuidedError("choose your domain first (step 1)")
            sentence = take_prompt(domain_name, terms or TermsRead([]), ws.lexicons, number)[0]
        except GuidedError as exc:
            return f"⚠ {exc}", take, None
        shown = f"Read aloud:\n\n> **{escape(sentence)}**"
        return shown, {"number": number, "sentence": sentence}, None

    @friendly
    def on_keep(
        audio: str | None,
        take: dict,
        who: str,
        recordings: Recordings | None,
        name: str,
        fraction: float,
        domain_name,
        terms,
    ):
        folder = recordings.folder if recordings is not None else None
        try:
            folder = save_take(audio, take.get("sentence", ""), who, folder, ws.data, name)
        except GuidedError as exc:
            same = gr.update()
            return f"⚠ {exc}", same, same, recordings, same, same, take, same
        finally:
            if audio:
                discard_upload(audio)
        recordings = read_folder(folder, recordings.refused if recordings else [])
        takes = sum(1 for c in recordings.clips if c.get("recorded"))
        note = f"✓ Kept. {takes} take(s) of yours in **{escape(folder.name)}**."
        number = take.get("number", 0) + 1
        sentence = ""  # the next one, when her domain and terms are (still) given
        if domain_name and terms is not None and terms.terms:
            sentence = take_prompt(domain_name, terms, ws.lexicons, number)[0]
        shown = f"Read aloud:\n\n> **{escape(sentence)}**" if sentence else ""
        return (
            note,
            shown,
            None,
            recordings,
            held_out_note(recordings, (fraction or 0) / 100),
            _missing_md(missing_steps(domain_name, terms, recordings)),
            {"number": number, "sentence": sentence},
            recordings.summary() + f" Dataset **{escape(folder.name)}**.",
        )

    def on_share(fraction: float, recordings: Recordings | None) -> str:
        return held_out_note(recordings, (fraction or 0) / 100)

    def on_domain(domain_name: str | None, terms, recordings) -> str:
        return _missing_md(missing_steps(domain_name, terms, recordings))

    @friendly
    def on_adapt(
        domain_name: str | None,
        how: str,
        terms: TermsRead | None,
        recordings: Recordings | None,
        fraction: float,
        steps_n: float | None,
        model: str,
        with_general: bool,
    ):
        keep = gr.update(), gr.update(), {}
        todo = missing_steps(domain_name, terms, recordings)
        blocking = [t for t in todo if not t.startswith("Step 3")]
        if blocking or domain_name is None or terms is None:
            return (_missing_md(todo), _code(""), *keep)
        if not steps_n or steps_n < 1:
            return "⚠ steps: expected a whole number of 1 or more", _code(""), *keep
        stem = safe_name(
            recordings.folder.name if recordings and recordings.folder else "my-domain"
        )
        try:
            saved = save_terms(terms, domain_name, how == MERGE, ws.lexicons, stem)
        except GuidedError as exc:
            return f"⚠ Your terms: {exc}", _code(""), *keep
        train_path = eval_path = None
        held, way = [], "none"
        if recordings is not None and recordings.folder is not None:
            train, held, way = hold_out(recordings.clips, (fraction or 0) / 100)
            train_path, eval_path = write_manifests(recordings.folder, train, held)
        name = _free_recipe_name(ws.recipes, stem)
        try:
            recipe = guided_recipe(
                name=name,
                domain=domain_name,
                lexicon=saved.path,
                templates=templates_for(domain_name, ws.lexicons),
                terms=len(saved.lexicon),
                train_manifest=train_path,
                eval_manifest=eval_path,
                steps=int(steps_n),
                base_model=(model or "bundled:tiny.en").strip(),
                general=bool(with_general),
            )
        except ValueError as exc:
            return f"⚠ The recipe could not be made: {exc}", _code(""), *keep
        text = recipe_text(recipe, len(held), way)
        path = ws.save_recipe(name, text)
        problems = _validate(path)
        if problems:
            listed = "\n".join(f"- {escape(p)}" for p in problems)
            return (
                f"⚠ The recipe `{name}` was written but does not validate, so nothing was "
                f"started:\n{listed}",
                _code(text),
                *keep,
            )
        try:
            run, proc = start_pipeline(path, name, root=ws.runs)
        except RunBusyError as exc:
            return f"⚠ {exc}", _code(text), *keep
        children.append(proc)
        note = (
            f"Started **{escape(run.id)}** with the recipe `{escape(path.name)}` (below). "
            "It prepares the data, trains, then compares the original and the adapted "
            "model; the progress shows here and in the Train tab, and your held-out "
            "recordings appear here when it is done."
        )
        if saved.notes:
            note += "\n\nYour terms: " + "; ".join(escape(n) for n in saved.notes) + "."
        if trial := run_length_note(int(steps_n)):
            note += f"\n\n{trial}"
        state = {"run": run.id, "heldout": str(eval_path) if eval_path else ""}
        return (
            note,
            _code(text),
            gr.update(choices=ws.recipe_choices(), value=str(path)),
            gr.update(choices=run_choices(ws), value=run.id),
            state,
        )

    def _validate(path: Path) -> list[str]:
        from workbench.data.preflight import check_inputs

        try:
            recipe = ws.load_recipe(path)
        except RecipeError as exc:
            return [str(p) for p in exc.problems]
        return [f"{key}: {message}" for key, message in check_inputs(recipe)]

    def refresh(state: dict, shown: str | None, header_run: str | None) -> tuple[Any, ...]:
        for proc in list(children):
            if proc.poll() is not None:
                children.remove(proc)
        if not (state or {}).get("run") and (chosen := run_of(ws, header_run)) is not None:
            # A reloaded page: the header's run, when the guided start wrote its recipe.
            found = guided_run(chosen.status().get("recipe_path"))
            if found is not None:
                state = {"run": chosen.id, **found}
        run = run_of(ws, (state or {}).get("run"))
        if run is None:
            return "", "", "", gr.update(), gr.update(visible=False)
        package = run.root / "export" / "peft.zip"
        download = gr.update()  # unchanged: a File set again every tick would flicker
        if package.is_file() and Path(shown or "").name != package.name:
            download = str(package)
        text, bar = describe_run(run)
        report = _report(run)
        html = ""
        if report is not None:
            ids = held_out_ids(Path(state["heldout"])) if state.get("heldout") else []
            line, utts = her_results(report, ids)
            if utts:
                html = (
                    f"<style>{STYLE}</style><h4>Your held-out recordings</h4>"
                    f"<p id='guided-results-line'>{escape(line)}</p>" + utterance_table(utts)
                )
            else:
                html = "<p>Done. The comparison (synthetic speech) is in the Compare tab.</p>"
        return text, bar, html, download, gr.update(visible=package.is_file())

    def _report(run) -> dict | None:
        import json

        try:
            return json.loads(run.report.read_text())
        except (OSError, ValueError):
            return None

    terms_btn.click(
        on_terms,
        [terms_text, terms_file, domain, rec_state],
        [terms_note, terms_preview, terms_state, missing, terms_file],
    )
    rec_btn.click(
        on_recordings,
        [rec_files, rec_name, share, domain, terms_state],
        [rec_note, rec_refused, rec_state, share_note, missing, rec_files],
    )
    share.change(on_share, [share, rec_state], [share_note])
    next_btn.click(
        lambda d, t, k: on_next(d, t, k, False),
        [domain, terms_state, take_state],
        [take_sentence, take_state, take_audio],
    )
    skip_btn.click(
        lambda d, t, k: on_next(d, t, k, True),
        [domain, terms_state, take_state],
        [take_sentence, take_state, take_audio],
    )
    keep_btn.click(
        on_keep,
        [take_audio, take_state, speaker, rec_state, rec_name, share, domain, terms_state],
        [
            take_note,
            take_sentence,
            take_audio,
            rec_state,
            share_note,
            missing,
            take_state,
            rec_note,
        ],
    )
    domain.change(on_domain, [domain, terms_state, rec_state], [missing])
    adapt_btn.click(
        on_adapt,
        [domain, merge, terms_state, rec_state, share, steps, base_model, general],
        [message, recipe_code, shared.recipe, shared.run, run_state],
    )
    timer.tick(
        refresh,
        [run_state, adapter, shared.run],
        [status, progress, results, adapter, done_row],
        show_progress="hidden",
    )
    if shared.tabs is not None:
        compare_btn.click(lambda: gr.Tabs(selected="compare"), None, [shared.tabs])
    return {
        "domain": domain,
        "terms_text": terms_text,
        "terms_file": terms_file,
        "recordings": rec_files,
        "adapt": adapt_btn,
        "message": message,
        "recipe": recipe_code,
        "results": results,
        "open_compare": compare_btn,
        "timer": timer,
    }


def _code(text: str) -> dict:
    """The recipe box: shown with its text, hidden while there is none."""
    return gr.update(value=text, visible=bool(text))


def _free_recipe_name(folder: Path, stem: str) -> str:
    """``stem``, or ``stem-2``, ``stem-3`` ... : a recipe name not yet taken."""
    for n in range(1, 10_000):
        name = stem if n == 1 else f"{stem}-{n}"
        if not (folder / f"{name}.yaml").exists():
            return name
    raise GuidedError(f"no free recipe name for {stem!r}")


__all__ = ["OWN_DOMAIN", "create_guided_tab"]
