"""Try it tab: record or upload a clip and read the base and adapted transcripts side by
side, with and without the lexicon prompt, and with the lexicon boost the run's package would
decode with by default (its tuned or evaluated strength)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from workbench.audio import AudioError, AudioTooLong, load_audio
from workbench.lexicon import Lexicon
from workbench.ui.common import Shared, in_place, require_run
from workbench.ui.uploads import discard_upload

MAX_SECONDS = 120


class ModelCache:
    """One base model with one adapter, kept between requests (loading takes seconds)."""

    def __init__(self) -> None:
        self.key: tuple[str, str] | None = None
        self.value: Any = None
        self.lock = threading.Lock()

    def get(self, base_model: str, adapter: Path) -> Any:
        from workbench.models.loading import load_model
        from workbench.transcribe import AdapterSet

        key = (base_model, str(adapter.resolve()))
        stamp = (adapter / "adapter_model.safetensors").stat().st_mtime
        if self.key != key or self.value[1] != stamp:
            loaded = load_model(base_model, device="cpu")
            AdapterSet(loaded, [adapter])  # checks the adapter and wraps loaded.model with it
            self.key, self.value = key, (loaded, stamp)
        return self.value[0]


def transcribe_side_by_side(
    cache: ModelCache,
    base_model: str,
    adapter: Path,
    audio: np.ndarray,
    language: str | None,
    prompt: str | None,
    lexicon: Lexicon | None = None,
    boost: float = 0.0,
    near_miss: float = 0.0,
) -> dict[str, str]:
    """Base and adapted transcripts, each with and without the lexicon prompt (if any), and
    ``"adapted + boost"`` when ``boost`` or ``near_miss`` is above 0: the adapter decoding
    with the lexicon boost toward ``lexicon``, its known misrecognitions and near misses
    rewritten, as the exported package decodes by default."""
    from workbench.decoding.boost import boost_processor
    from workbench.decoding.snap import lexicon_rewriter
    from workbench.lexicon import UNSPACED_LANGUAGES
    from workbench.transcribe import DecodeOptions, Transcriber

    with cache.lock:
        loaded = cache.get(base_model, adapter)
        out: dict[str, str] = {}
        for use_prompt in (False, True):
            if use_prompt and not prompt:
                continue
            options = DecodeOptions(language=language, prompt=prompt if use_prompt else None)
            transcriber = Transcriber(loaded, options, batch_size=1)
            suffix = " + prompt" if use_prompt else ""
            with loaded.model.disable_adapter():
                out["base" + suffix] = transcriber.transcribe_arrays([audio])[0]
            out["adapted" + suffix] = transcriber.transcribe_arrays([audio])[0]
        if (boost > 0 or near_miss > 0) and lexicon is not None and len(lexicon):
            spaced = (language or "en") not in UNSPACED_LANGUAGES
            tokenizer = loaded.processor.tokenizer
            text = out["adapted"]
            if boost > 0:
                processor = boost_processor(lexicon, tokenizer, boost, spaced=spaced)
                transcriber = Transcriber(
                    loaded, DecodeOptions(language=language), batch_size=1,
                    logits_processor=[processor] if processor is not None else (),
                )  # fmt: skip
                text = transcriber.transcribe_arrays([audio])[0]
            rewrite = lexicon_rewriter(lexicon, tokenizer, spaced=spaced, near_miss=near_miss)
            out["adapted + boost"] = rewrite(text)
    return out


def create_try_tab(shared: Shared) -> dict[str, Any]:
    """Build the tab; returns its components by name."""
    ws = shared.ws
    cache = ModelCache()
    audio = gr.Audio(
        sources=["upload", "microphone"],
        type="filepath",
        label="record or upload a clip",
        elem_id="try-audio",
    )
    go = gr.Button("Transcribe with the run's adapter", variant="primary", elem_id="try-go")
    message = gr.Markdown(elem_id="try-message")
    with gr.Row():
        base = gr.Textbox(label="base model", elem_id="try-base")
        adapted = gr.Textbox(label="adapted", elem_id="try-adapted")
    with gr.Row():
        base_p = gr.Textbox(label="base + lexicon prompt", elem_id="try-base-prompt")
        adapted_p = gr.Textbox(label="adapted + lexicon prompt", elem_id="try-adapted-prompt")
    boosted = gr.Textbox(
        label="adapted + lexicon boost (as the exported package decodes by default)",
        elem_id="try-adapted-boost",
        visible=False,
    )

    @in_place(6)
    def on_go(run_id: str | None, path: str | None):
        run = require_run(ws, run_id)
        if not path:
            raise gr.Error("record or upload a clip first", print_exception=False)
        if not (run.adapter / "adapter_model.safetensors").is_file():
            raise gr.Error(f"{run.id} has no adapter yet; train it first", print_exception=False)
        try:
            # refused from its header, or as soon as decoding passes the limit
            samples = load_audio(path, max_seconds=MAX_SECONDS)
        except AudioTooLong:
            discard_upload(path)
            raise gr.Error(
                f"clip longer than {MAX_SECONDS} s; use `workbench transcribe`",
                print_exception=False,
            ) from None
        except AudioError as exc:
            discard_upload(path)
            reason = exc.reason
            if reason.startswith("cannot decode audio"):  # the decoder's words help nobody here
                reason = "not a sound file this page can read; try WAV, FLAC, MP3 or OGG"
            raise gr.Error(f"{Path(path).name}: {reason}", print_exception=False) from None
        from workbench.data.prepare import recipe_lexicon
        from workbench.export.boost_setting import boost_setting
        from workbench.recipe import load_recipe
        from workbench.transcribe import UNPROMPTED_NOTE
        from workbench.ui.compare_tab import read_report

        recipe = load_recipe(  # the run's own resolved copy, written by the workbench
            run.recipe, check_model=False
        )
        lexicon = recipe_lexicon(recipe)
        prompt = lexicon.prompt_text() if lexicon else None
        report = read_report(run.report)
        boost = boost_setting(recipe, report, lexicon is not None)
        texts = transcribe_side_by_side(
            cache, recipe.base_model, run.adapter, samples, recipe.language, prompt,
            lexicon, float(boost["boost"]), float(boost["near_miss"]),
        )  # fmt: skip
        none = "(this run's recipe has no lexicon)"
        near = f", near misses rewritten at {boost['near_miss']:g}" if boost["near_miss"] else ""
        label = "adapted + lexicon prompt"
        if prompt and not recipe.train.prompt_p:
            label += f" (note: {UNPROMPTED_NOTE})"
        return (
            texts["base"],
            texts["adapted"],
            texts.get("base + prompt", none),
            gr.update(value=texts.get("adapted + prompt", none), label=label),
            gr.update(
                value=texts.get("adapted + boost", ""),
                label=f"adapted + lexicon boost {boost['boost']:g}{near} ({boost['source']})",
                visible="adapted + boost" in texts,
            ),
            "",
        )

    go.click(on_go, [shared.run, audio], [base, adapted, base_p, adapted_p, boosted, message])
    return {
        "audio": audio,
        "go": go,
        "base": base,
        "adapted": adapted,
        "boosted": boosted,
        "message": message,
        "on_go": on_go,
    }
