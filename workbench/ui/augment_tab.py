"""Augment tab: pick a clip, hear it before and after augmentation, see both spectrograms
and the drawn parameters; change the ranges and hear again; copy them into the recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import yaml

from workbench.audio import SAMPLE_RATE, AudioError, load_audio
from workbench.augment.checks import NOISE_KINDS, ROOMS
from workbench.recipe import AugmentSpec, NoiseSpec, ReverbSpec, SpeedSpec, TelephoneSpec
from workbench.schema import SpecError, safe_yaml, to_data
from workbench.ui.common import Shared, friendly, in_place, require_recipe
from workbench.ui.recipe_editor import data_block
from workbench.ui.uploads import discard_upload

MAX_SECONDS = 30
MAX_SHOWN = 2000  # clips put in the menu at once; the search box finds any of the others
# A perceptual colour ramp (dark blue → teal → yellow), sampled at 5 points.
_RAMP = np.array([[13, 8, 135], [84, 2, 163], [33, 145, 140], [94, 201, 98], [253, 231, 37]])


def spectrogram_image(samples: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """A log-power spectrogram (0-8 kHz) as an RGB image array, low frequencies at the bottom."""
    from scipy.signal import spectrogram

    if samples.size < 400:
        samples = np.pad(samples, (0, 400 - samples.size))
    _, _, power = spectrogram(samples, fs=rate, nperseg=400, noverlap=240)
    db = 10 * np.log10(power + 1e-10)
    top = db.max()
    scaled = np.clip((db - (top - 80)) / 80, 0, 1)[::-1]
    positions = scaled * (len(_RAMP) - 1)
    low = np.floor(positions).astype(int).clip(0, len(_RAMP) - 2)
    frac = (positions - low)[..., None]
    rgb = _RAMP[low] * (1 - frac) + _RAMP[low + 1] * frac
    return rgb.astype(np.uint8)


def spec_from_controls(
    speed_on: bool,
    min_rate: float,
    max_rate: float,
    noise_on: bool,
    min_snr: float,
    max_snr: float,
    kinds: list[str],
    reverb_on: bool,
    rooms: list[str],
    phone_on: bool,
    every: bool,
    p: dict[str, float],
) -> AugmentSpec:
    """An :class:`AugmentSpec` from the tab's controls (``every``: each transform at p=1).

    Raises:
        SpecError: a range out of bounds (the message names the field).
    """

    def prob(name: str) -> float:
        return 1.0 if every else p.get(name, 0.5)

    return AugmentSpec(
        speed=SpeedSpec(min_rate=min_rate, max_rate=max_rate, p=prob("speed"))
        if speed_on
        else None,
        noise=NoiseSpec(min_snr_db=min_snr, max_snr_db=max_snr, kinds=list(kinds), p=prob("noise"))
        if noise_on
        else None,
        reverb=ReverbSpec(rooms=list(rooms), p=prob("reverb")) if reverb_on else None,
        telephone=TelephoneSpec(p=prob("telephone")) if phone_on else None,
    )


def clip_choices(
    listed: list[list[str]], query: str, limit: int = MAX_SHOWN
) -> tuple[list[tuple[str, str]], int]:
    """The listed clips (``[label, path]`` pairs) whose label holds every word of ``query``
    (any case), at most ``limit`` of them; and how many matched in all."""
    words = (query or "").casefold().split()
    hits = [(label, path) for label, path in listed if all(w in label.casefold() for w in words)]
    return hits[:limit], len(hits)


def _spec(*controls: Any) -> AugmentSpec:
    """:func:`spec_from_controls` with empty lists for empty inputs; errors as messages."""
    s_on, lo, hi, n_on, snr_lo, snr_hi, kinds, r_on, rooms, t_on, every, p = controls
    try:
        return spec_from_controls(
            s_on, lo, hi, n_on, snr_lo, snr_hi, kinds or [], r_on, rooms or [], t_on, every, p or {}
        )
    except SpecError as exc:
        raise gr.Error(f"augment: {exc}", print_exception=False) from None


def create_augment_tab(shared: Shared) -> dict[str, Any]:
    """Build the tab; returns its components by name."""
    with gr.Row():
        clip_pick = gr.Dropdown(
            label="a training clip of the recipe", choices=[], scale=3, elem_id="augment-clip"
        )
        load_btn = gr.Button("List the recipe's clips", scale=1, elem_id="augment-load")
        clip_search = gr.Textbox(
            label="find a clip (words of its transcript, or its id)",
            scale=2,
            elem_id="augment-search",
        )
        upload = gr.Audio(label="or upload a clip", type="filepath", sources=["upload"], scale=2)
    with gr.Row():
        speed_on = gr.Checkbox(label="speed", value=True)
        min_rate = gr.Number(label="min_rate", value=0.9)
        max_rate = gr.Number(label="max_rate", value=1.1)
        reverb_on = gr.Checkbox(label="reverb", value=False)
        rooms = gr.CheckboxGroup(list(ROOMS), value=list(ROOMS), label="rooms")
        phone_on = gr.Checkbox(label="telephone", value=False)
    with gr.Row():
        noise_on = gr.Checkbox(label="noise", value=True, elem_id="augment-noise")
        min_snr = gr.Number(label="min_snr_db", value=5.0)
        max_snr = gr.Number(label="max_snr_db", value=15.0)
        kinds = gr.CheckboxGroup(list(NOISE_KINDS[:-1]), value=["white", "pink"], label="kinds")
    with gr.Row():
        every = gr.Checkbox(
            label="apply every chosen transform (p = 1) in this preview", value=True
        )
        seed = gr.Number(label="seed", value=0, precision=0)
        go = gr.Button("Augment", variant="primary", elem_id="augment-go")
        again = gr.Button("Another draw (next seed)")
        copy_btn = gr.Button("Copy these ranges into the recipe")
    with gr.Row():
        before = gr.Audio(label="before", interactive=False)
        after = gr.Audio(label="after", interactive=False, elem_id="augment-after")
    with gr.Row():
        before_img = gr.Image(label="before: spectrogram", interactive=False)
        after_img = gr.Image(label="after: spectrogram", interactive=False)
    params = gr.JSON(label="drawn parameters", elem_id="augment-params")
    probs = gr.State({})
    listed = gr.State([])  # [label, path] of every training clip of the recipe
    message = gr.Markdown(elem_id="augment-message")

    def _recipe(recipe_path: str | None):
        return shared.ws.load_recipe(require_recipe(recipe_path))

    @friendly
    def on_recipe(recipe_path: str | None):
        if not recipe_path:
            return [gr.update()] * 11
        aug = _recipe(recipe_path).augment
        speed, noise, reverb = aug.speed or SpeedSpec(), aug.noise or NoiseSpec(), aug.reverb
        p = {
            "speed": speed.p,
            "noise": noise.p,
            "reverb": reverb.p if reverb else 0.3,
            "telephone": aug.telephone.p if aug.telephone else 0.2,
        }
        return [
            aug.speed is not None,
            speed.min_rate,
            speed.max_rate,
            aug.noise is not None,
            noise.min_snr_db,
            noise.max_snr_db,
            [k for k in noise.kinds if k in NOISE_KINDS[:-1]],
            reverb is not None,
            (reverb.rooms if reverb else list(ROOMS)),
            aug.telephone is not None,
            p,
        ]

    @in_place(3)
    def on_list(recipe_path: str | None, query: str, progress: gr.Progress = gr.Progress()):
        from workbench.data.prepare import prepare_data

        progress(None, desc="preparing the recipe's data (cached after the first time)")
        prepared = prepare_data(
            _recipe(recipe_path),
            log=lambda m: None,
            progress=lambda c: progress((c.done, c.total), desc=c.line()[:100], unit="clips"),
        )
        utts = prepared.utterances("train")
        listed = [[f"{u.id}: {u.text[:80]}", str(u.audio)] for u in utts]
        choices, total = clip_choices(listed, query)
        return (
            gr.update(choices=choices, value=choices[0][1] if choices else None),
            listed,
            _found(total, len(listed), query),
        )

    def _found(matched: int, total: int, query: str) -> str:
        if not total:
            return "the recipe has no training clips"
        if not (query or "").strip():
            shown = (
                f"; the first {MAX_SHOWN} in the menu, type to find others"
                if total > MAX_SHOWN
                else ""
            )
            return f"{total} training clips{shown}"
        more = f" (the first {MAX_SHOWN} in the menu)" if matched > MAX_SHOWN else ""
        return f"{matched} of {total} training clips match '{query.strip()}'{more}"

    @in_place(2)
    def on_search(listed_: list[list[str]], query: str):
        if not listed_:
            return gr.update(), "press 'List the recipe's clips' first"
        choices, matched = clip_choices(listed_, query)
        value = choices[0][1] if choices else None
        return gr.update(choices=choices, value=value), _found(matched, len(listed_), query)

    @in_place(6)
    def on_go(
        recipe_path,
        picked,
        listed,
        uploaded,
        s_on,
        lo,
        hi,
        n_on,
        snr_lo,
        snr_hi,
        kinds_,
        r_on,
        rooms_,
        t_on,
        every_,
        seed_,
        p,
    ):
        from workbench.augment.pipeline import ClipPool, build_augmenter

        path = uploaded or picked
        if not path:
            raise gr.Error("pick a clip of the recipe or upload one", print_exception=False)
        if not uploaded and picked not in {p for _, p in listed or []}:  # only listed clips
            raise gr.Error("that clip is not in the recipe's training set")
        try:
            # the first MAX_SECONDS only: nothing after them is decoded
            samples = load_audio(path, max_seconds=MAX_SECONDS, truncate=True)
        except AudioError as exc:
            if uploaded:
                discard_upload(uploaded)
            raise gr.Error(f"{Path(path).name}: {exc.reason}", print_exception=False) from None
        spec = _spec(s_on, lo, hi, n_on, snr_lo, snr_hi, kinds_, r_on, rooms_, t_on, every_, p)
        babble = None
        if spec.noise is not None and "babble" in spec.noise.kinds:
            from workbench.data.prepare import prepare_data

            train = prepare_data(_recipe(recipe_path), log=lambda m: None).utterances("train")
            babble = ClipPool([u.audio for u in train]) if train else None
            if babble is None:
                raise gr.Error("babble needs the recipe's training clips", print_exception=False)
        augmenter = build_augmenter(spec, babble_clips=babble)
        out, drawn = augmenter(samples, int(seed_ or 0))
        return (
            (SAMPLE_RATE, samples),
            (SAMPLE_RATE, out),
            spectrogram_image(samples),
            spectrogram_image(out),
            drawn,
            "",
        )

    @friendly
    def on_copy(text, s_on, lo, hi, n_on, snr_lo, snr_hi, kinds_, r_on, rooms_, t_on, p):
        spec = _spec(s_on, lo, hi, n_on, snr_lo, snr_hi, kinds_, r_on, rooms_, t_on, False, p)
        data = safe_yaml(text or "", "recipe") or {}
        if not isinstance(data, dict):
            raise gr.Error("the recipe YAML is not a mapping; fix it in the Recipes tab first")
        data["augment"] = to_data(spec)
        gr.Info("copied into the recipe's augment section; save it in the Recipes tab")
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True), data_block(data)

    controls = [
        speed_on,
        min_rate,
        max_rate,
        noise_on,
        min_snr,
        max_snr,
        kinds,
        reverb_on,
        rooms,
        phone_on,
    ]
    shared.recipe.change(on_recipe, [shared.recipe], [*controls, probs])
    load_btn.click(on_list, [shared.recipe, clip_search], [clip_pick, listed, message])
    clip_search.change(
        on_search, [listed, clip_search], [clip_pick, message], trigger_mode="always_last"
    )
    inputs = [shared.recipe, clip_pick, listed, upload, *controls, every, seed, probs]
    outputs = [before, after, before_img, after_img, params, message]
    go.click(on_go, inputs, outputs)
    again.click(lambda s: int(s or 0) + 1, [seed], [seed]).then(on_go, inputs, outputs)
    copy_btn.click(on_copy, [shared.yaml, *controls, probs], [shared.yaml, shared.data_code])
    return {
        "go": go,
        "params": params,
        "after": after,
        "clip": clip_pick,
        "load": load_btn,
        "search": clip_search,
        "message": message,
    }
