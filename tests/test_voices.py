"""The offline voice kinds: flite's voices, espeak-ng variants and pitch, and their errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from workbench.data.tts import FLITE_VOICES, VoiceError, check_voice_name, get_voice
from workbench.recipe import RecipeError, load_recipe

needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="no espeak-ng")


@needs_flite
@pytest.mark.parametrize("voice", FLITE_VOICES)
def test_every_flite_voice_speaks(voice):
    audio, rate = get_voice(f"flite:{voice}").synthesize("Start metoprolol tonight.")
    assert rate in (8000, 16000)
    assert audio.dtype == np.float32 and audio.size > rate * 0.5
    assert float(np.abs(audio).max()) > 0.01


@needs_flite
def test_flite_rate_changes_the_length_and_voices_differ():
    slow, _ = get_voice("flite:slt").synthesize("Hold warfarin tonight.", rate=0.8)
    fast, _ = get_voice("flite:slt").synthesize("Hold warfarin tonight.", rate=1.25)
    assert slow.size > fast.size * 1.3
    other, _ = get_voice("flite:awb").synthesize("Hold warfarin tonight.", rate=0.8)
    n = min(slow.size, other.size)
    assert not np.allclose(slow[:n], other[:n])


@needs_espeak
def test_espeak_variant_and_pitch_change_the_voice():
    text = "Hold warfarin tonight."
    plain, _ = get_voice("espeak:en-us").synthesize(text)
    female, _ = get_voice("espeak:en-us+f3").synthesize(text)
    high, _ = get_voice("espeak:en-us+f3@p80").synthesize(text)
    again, _ = get_voice("espeak:en-us+f3@p80").synthesize(text)
    assert np.array_equal(high, again)  # deterministic
    for a, b in ((plain, female), (female, high)):
        n = min(a.size, b.size)
        assert not np.allclose(a[:n], b[:n])


@needs_espeak
def test_unknown_variant_is_refused_not_silently_replaced():
    with pytest.raises(VoiceError, match="no variant 'nosuch'"):
        get_voice("espeak:en-us+nosuch")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("flite:nobody", "unknown flite voice 'nobody'; available: kal, kal16, awb, rms, slt"),
        ("espeak:en-us@p100", "bad espeak voice 'en-us@p100'"),
        ("espeak:en-us+f3+m3", "bad espeak voice"),
        ("festival:kal", "unknown voice engine 'festival'"),
        ("slt", "expected piper:NAME"),
    ],
)
def test_bad_voice_names(name, expected):
    assert expected in (check_voice_name(name) or "")


@pytest.mark.parametrize("name", ["flite:slt", "espeak:en-us+m3@p35", "espeak:en-029", "piper:joe"])
def test_good_voice_names(name):
    assert check_voice_name(name) is None


def test_a_recipe_with_a_bad_voice_names_the_field(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: r\nbase_model: bundled:tiny.en\nlexicon: {path: lex.txt}\n"
        "data:\n  train: [{source: synth, voices: [flite:nobody]}]\n"
    )
    (tmp_path / "lex.txt").write_text("metoprolol\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    assert "data.train[0].voices" in str(info.value)
    assert "unknown flite voice 'nobody'" in str(info.value)
