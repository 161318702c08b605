"""Synthetic speech with the real local voices (piper's joe, espeak-ng)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from workbench.data.candidates import SourceError
from workbench.data.prepare import prepare_data
from workbench.data.tts import VoiceError, check_voice_name, get_voice
from workbench.recipe import load_recipe

LEXICON = """term\tspoken\tcategory\tmisrecognitions
metoprolol\tmeh TOE proh lol\tdrug\t
warfarin\t\tdrug\t
apixaban\ta PICKS a ban\tdrug\t
sepsis\t\tdiagnosis\t
"""
TEMPLATES = """[train]
Start {drug} {number:5-50} milligrams.
History of {diagnosis}, on {drug}.
Hold {drug} tonight.
New {diagnosis} since {number:2-9} days.
[heldout]
Switch from {drug} to {drug} now.
The {diagnosis} is resolving.
"""


@pytest.fixture
def pack(tmp_path):
    (tmp_path / "lexicon.tsv").write_text(LEXICON)
    (tmp_path / "templates.txt").write_text(TEMPLATES)
    return tmp_path


def make_recipe(
    pack, voices="[espeak:en-us, piper:joe]", per_term=2, heldout_voices="[espeak:en-gb]"
):
    path = pack / "recipe.yaml"
    path.write_text(
        f"""name: synth-test
lexicon: {{path: lexicon.tsv}}
data:
  train: [{{source: synth, templates: templates.txt, voices: {voices}, per_term: {per_term}}}]
  eval: [{{source: synth, split: heldout, templates: templates.txt, voices: {heldout_voices},
           per_term: 1}}]
"""
    )
    return load_recipe(path)


def test_synthesis_speaks_every_term_in_new_sentences_for_eval(pack, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(pack / "home"))
    counts, lines = [], []
    prepared = prepare_data(
        make_recipe(pack), pack / "out", log=lines.append, progress=counts.append
    )
    train, held = prepared.utterances("train"), prepared.utterances("eval")
    assert len(train) == 4 * 2 and len(held) == 4
    # Counted as they are made, then as they are checked, source by source, with time left.
    last = {(c.verb, c.where): (c.done, c.total) for c in counts}
    assert last == {
        ("synthesised", "eval source 1 of 1, synth"): (4, 4),
        ("prepared", "eval source 1 of 1, synth"): (4, 4),
        ("synthesised", "train source 1 of 1, synth"): (8, 8),
        ("prepared", "train source 1 of 1, synth"): (8, 8),
    }
    made = [c.done for c in counts if c.verb == "synthesised" and c.where.startswith("train")]
    assert made == list(range(1, 9))
    assert all(c.eta_s == 0 for c in counts if c.done == c.total)
    assert "  synthesised 8 of 8 clips (train source 1 of 1, synth), about 1 s left" not in lines
    assert "  synthesised 8 of 8 clips (train source 1 of 1, synth)" in lines
    assert "  prepared 4 of 4 clips (eval source 1 of 1, synth)" in lines
    for utt in train + held:
        audio, rate = sf.read(utt.audio)
        assert rate == 16000 and audio.ndim == 1
        assert 0.5 < utt.duration < 10 and np.abs(audio).max() > 0.1
    assert {u.speaker for u in train} == {"espeak:en-us", "piper:joe"}
    for term in ("metoprolol", "warfarin", "apixaban", "sepsis"):
        assert any(term in u.text for u in train) and any(term in u.text for u in held)
    train_text = {u.text for u in train}
    assert not train_text & {u.text for u in held}
    assert all(u.text.startswith(("Switch from", "The sepsis")) for u in held)  # held-out templates


def test_the_same_seed_gives_the_same_clips(pack, monkeypatch, tmp_path_factory):
    runs = []
    for _ in range(2):  # separate caches: the audio is made twice
        monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path_factory.mktemp("home")))
        out = tmp_path_factory.mktemp("out")
        prepared = prepare_data(make_recipe(pack, per_term=1), out / "p", log=lambda m: None)
        runs.append(prepared.utterances("train"))
    assert [u.text for u in runs[0]] == [u.text for u in runs[1]]
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(sf.read(a.audio)[0], sf.read(b.audio)[0])


def test_speaking_rate_changes_duration():
    voice = get_voice("espeak:en-us")
    slow, sr = voice.synthesize("the patient was started on warfarin", 0.8)
    fast, _ = voice.synthesize("the patient was started on warfarin", 1.2)
    assert sr == 22050 and len(slow) > 1.3 * len(fast)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("joe", "expected piper:NAME, espeak:VOICE"),
        ("piper:bob", "unknown piper voice 'bob'"),
        ("festival:kal", "unknown voice engine 'festival'"),
    ],
)
def test_bad_voice_names(name, words):
    assert words in check_voice_name(name)


def test_a_voice_espeak_lacks_is_a_clear_error(pack):
    with pytest.raises(VoiceError, match="espeak-ng has no voice 'xx-nowhere'"):
        get_voice("espeak:xx-nowhere")
    with pytest.raises(SourceError):
        from workbench.data.candidates import PrepareContext
        from workbench.data.sources.synth import prepare_synth
        from workbench.lexicon import load_lexicon
        from workbench.recipe import SynthSource

        ctx = PrepareContext(pack / "s", None, load_lexicon(pack / "lexicon.tsv"), None)
        spec = SynthSource(templates=str(pack / "templates.txt"), voices=["espeak:xx-nowhere"])
        prepare_synth(spec, ctx)
