"""``source: speak``: everyday sentences said by local voices (espeak-ng, flite)."""

from __future__ import annotations

import pytest
import soundfile as sf

from workbench.data.candidates import PrepareContext, SourceError
from workbench.data.sources import PREPARERS
from workbench.data.sources.asterisk import TEXTS
from workbench.data.sources.speak import sentences_of
from workbench.recipe import RecipeError, SpeakSource, load_recipe


@pytest.fixture
def ctx(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    return PrepareContext(staging=tmp_path / "staging", pack_dir=None, lexicon=None, language="en")


@pytest.fixture
def texts(tmp_path):
    path = tmp_path / "everyday.txt"
    path.write_text(
        "# everyday sentences\n"
        "I'll call you back after lunch.\n"
        "\n"
        "Okay.\n"  # under min_words
        "The train was late again this morning.\n"
        "i'll call you back after lunch.\n"  # the same sentence again
        "Could you pass me the salt, please?\n"
    )
    return path


def test_voices_take_turns_over_the_sentences(ctx, texts):
    spec = SpeakSource(texts=str(texts), voices=["espeak:en-us", "flite:kal"], min_words=3)
    rows = PREPARERS["speak"](spec, ctx).candidates
    assert [c.text for c in rows] == [
        "I'll call you back after lunch.",
        "The train was late again this morning.",
        "Could you pass me the salt, please?",
    ]
    assert [c.speaker for c in rows] == ["espeak:en-us", "flite:kal", "espeak:en-us"]
    assert len({c.id for c in rows}) == 3
    for clip in rows:
        audio, rate = sf.read(clip.audio)
        assert rate == 16000 and len(audio) > 8000
        assert str(ctx.staging) in str(clip.audio)


def test_limit_draws_a_seeded_sample(ctx, texts):
    def ids(seed):
        spec = SpeakSource(texts=str(texts), min_words=3, limit=2, seed=seed)
        return [c.text for c in PREPARERS["speak"](spec, ctx).candidates]

    assert ids(0) == ids(0) and len(ids(0)) == 2
    assert {tuple(ids(s)) for s in range(6)} != {tuple(ids(0))}


@pytest.mark.skipif(not TEXTS.exists(), reason="asterisk-core-sounds-en is not installed")
def test_default_texts_are_the_asterisk_prompts_without_their_recordings():
    sentences = sentences_of(SpeakSource())
    assert len(sentences) > 200 and all(len(s.split()) >= 4 for s in sentences)
    assert "The conference is now locked." in sentences


def test_a_missing_text_file_names_it(ctx, tmp_path):
    with pytest.raises(SourceError, match=r"texts: .*nowhere\.txt not found"):
        PREPARERS["speak"](SpeakSource(texts=str(tmp_path / "nowhere.txt")), ctx)


def test_a_file_without_a_long_enough_sentence_says_so(ctx, tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("Yes.\nNo thanks.\n")
    with pytest.raises(SourceError, match="no sentence of at least 4 word"):
        PREPARERS["speak"](SpeakSource(texts=str(path)), ctx)
    path.write_bytes(b"caf\xe9 au lait with milk\n")
    with pytest.raises(SourceError, match=r"short\.txt: expected UTF-8 text, a sentence a line"):
        PREPARERS["speak"](SpeakSource(texts=str(path)), ctx)


def test_the_recipe_checks_voices_rates_and_words(tmp_path, texts):
    path = tmp_path / "recipe.yaml"
    path.write_text(
        "name: t\ndata:\n  replay:\n"
        f"    - {{source: speak, texts: {texts.name}, voices: [joe], min_words: 0, max_rate: 3}}\n"
    )
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    message = str(err.value)
    for field in ("data.replay[0].voices", "data.replay[0].min_words", "data.replay[0].max_rate"):
        assert field in message
    path.write_text(f"name: t\ndata:\n  replay:\n    - {{source: speak, texts: {texts.name}}}\n")
    assert load_recipe(path).data.replay[0].texts == str(texts)
