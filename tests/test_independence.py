"""The general set must be independent of train and replay: no shared recording, speaker,
source collection or sentence. ``data prepare`` refuses an overlap, naming both sides, unless
the recipe sets ``data.allow_dependent_general``; then the report marks the general figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audio_files import tone

from workbench.data.candidates import Candidate, PrepareContext
from workbench.data.independence import Footprint, general_overlaps, sentence_key
from workbench.data.manifest import Utterance
from workbench.data.prepare import DataError, prepare_data, print_of
from workbench.data.sources import PREPARERS
from workbench.data.sources.speak import sentences_of
from workbench.evaluate.compare import compare_set, summary_table
from workbench.evaluate.html import render_report
from workbench.recipe import load_recipe

QUIET = {"log": lambda m: None}


def manifest(folder: Path, name: str, rows: list[tuple[str, str, str | None]]) -> Path:
    """``rows``: (clip file, text, speaker); each clip a distinct tone made on first use."""
    lines = []
    for clip, text, speaker in rows:
        if not (folder / clip).exists():
            tone(folder / clip, 200 + 10 * len(list(folder.glob("*.wav"))))
        row = {"id": f"{name}-{Path(clip).stem}", "audio": clip, "text": text}
        if speaker:
            row["speaker"] = speaker
        lines.append(json.dumps(row))
    path = folder / f"{name}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def recipe(tmp_path: Path, data: str):
    path = tmp_path / "recipe.yaml"
    path.write_text(f"name: t\ndata:\n{data}")
    return load_recipe(path)


@pytest.fixture
def clips(tmp_path):
    d = tmp_path / "clips"
    d.mkdir()
    return d


def test_independent_sets_are_prepared_and_say_so(tmp_path, clips):
    train = manifest(clips, "train", [("a.wav", "one two three", "ann")])
    replay = manifest(clips, "replay", [("b.wav", "four five six", "bob")])
    general = manifest(clips, "general", [("c.wav", "seven eight nine", "cy")])
    r = recipe(
        tmp_path,
        f"  train: [{{source: manifest, path: {train}}}]\n"
        f"  replay: [{{source: manifest, path: {replay}}}]\n"
        f"  general: [{{source: manifest, path: {general}}}]\n",
    )
    prepared = prepare_data(r, tmp_path / "out", **QUIET)
    assert prepared.report["general_independence"] == {"independent": True, "overlaps": []}


def test_a_shared_speaker_is_refused_naming_both_sides(tmp_path, clips):
    train = manifest(clips, "train", [("a.wav", "one two three", "ann")])
    general = manifest(
        clips, "general", [("c.wav", "seven eight nine", "cy"), ("d.wav", "ten", "ann")]
    )
    r = recipe(
        tmp_path,
        f"  train: [{{source: manifest, path: {train}}}]\n"
        f"  general: [{{source: manifest, path: {general}}}]\n",
    )
    with pytest.raises(DataError) as err:
        prepare_data(r, tmp_path / "out", **QUIET)
    message = str(err.value)
    assert (
        "data.general[0] (manifest) shares speaker 'ann' with data.train[0] (manifest)" in message
    )
    assert "data.allow_dependent_general: true" in message
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_shared_recording_with_replay_is_refused(tmp_path, clips):
    replay = manifest(clips, "replay", [("b.wav", "four five six", None)])
    general = manifest(clips, "general", [("b.wav", "four five six", None)])
    r = recipe(
        tmp_path,
        f"  replay: [{{source: manifest, path: {replay}}}]\n"
        f"  general: [{{source: manifest, path: {general}}}]\n",
    )
    shared = r"data.general\[0\] \(manifest\) shares recording '.*b\.wav'"
    with pytest.raises(DataError, match=shared):
        prepare_data(r, tmp_path / "out", **QUIET)


def test_a_general_sentence_spoken_by_a_replay_voice_is_refused(tmp_path, clips):
    # Another voice, another recording, the same words: replay trained on the sentence.
    replay = manifest(clips, "replay", [("b.wav", "Oh, I'm originally from Chicago!", "v1")])
    general = manifest(
        clips,
        "general",
        [("c.wav", "oh i'm ORIGINALLY from chicago", "cy"), ("d.wav", "thank you", "cy")],
    )
    r = recipe(
        tmp_path,
        f"  replay: [{{source: manifest, path: {replay}}}]\n"
        f"  general: [{{source: manifest, path: {general}}}]\n",
    )
    shared = r"shares sentence \"oh i'm originally from chicago\" with data.replay\[0\]"
    with pytest.raises(DataError, match=shared):
        prepare_data(r, tmp_path / "out", **QUIET)


def test_short_utterances_are_not_sentences():
    from workbench.data.independence import sentence_key

    assert sentence_key("Thank you.") is None
    assert sentence_key("Yes, thank you!") == "yes thank you"


def test_one_collection_in_general_and_replay_is_refused_even_without_speakers(tmp_path, clips):
    # The old shipped recipes drew general and replay from one collection (asterisk prompts).
    both = manifest(clips, "all", [("a.wav", "one two", None)])
    r = recipe(
        tmp_path,
        f"  replay: [{{source: manifest, path: {both}}}]\n"
        f"  general: [{{source: manifest, path: {both}}}]\n",
    )
    with pytest.raises(
        DataError, match=r"source collection 'manifest .*all\.jsonl' with data\.repl"
    ):
        prepare_data(r, tmp_path / "out", **QUIET)


def test_eval_may_share_with_train_the_check_is_for_the_general_set(tmp_path, clips):
    train = manifest(clips, "train", [("a.wav", "one two three", "ann")])
    ev = manifest(clips, "eval", [("c.wav", "seven eight nine", "ann")])
    r = recipe(
        tmp_path,
        f"  train: [{{source: manifest, path: {train}}}]\n"
        f"  eval: [{{source: manifest, path: {ev}}}]\n",
    )
    prepared = prepare_data(r, tmp_path / "out", **QUIET)
    assert prepared.report["general_independence"] is None  # no general set


def test_allowed_dependence_is_kept_logged_and_recorded(tmp_path, clips):
    train = manifest(clips, "train", [("a.wav", "one two three", "ann")])
    general = manifest(clips, "general", [("c.wav", "seven eight nine", "ann")])
    r = recipe(
        tmp_path,
        f"  train: [{{source: manifest, path: {train}}}]\n"
        f"  general: [{{source: manifest, path: {general}}}]\n"
        "  allow_dependent_general: true\n",
    )
    said = []
    prepared = prepare_data(r, tmp_path / "out", log=said.append)
    independence = prepared.report["general_independence"]
    assert independence["independent"] is False
    assert independence["overlaps"] == [
        "data.general[0] (manifest) shares speaker 'ann' with data.train[0] (manifest)"
    ]
    assert any("NOT INDEPENDENT" in line for line in said)
    assert [u.id for u in prepared.utterances("general")] == ["general-c"]


def test_every_overlap_kind_and_pair_is_listed():
    def fp(split, index, recordings=(), speakers=(), collections=()):
        return Footprint(split, index, "x", set(recordings), set(speakers), set(collections))

    prints = [
        fp("general", 0, ["/a.wav"], ["s1"], ["c1"]),
        fp("general", 1, ["/z.wav"], ["s9"], ["c9"]),
        fp("train", 0, ["/a.wav"], ["s2"], ["c2"]),
        fp("replay", 0, [], ["s1"], ["c1"]),
        fp("eval", 0, ["/z.wav"], ["s9"], ["c9"]),  # eval is not compared here
    ]
    assert general_overlaps(prints) == [
        "data.general[0] (x) shares recording '/a.wav' with data.train[0] (x)",
        "data.general[0] (x) shares speaker 's1'; source collection 'c1' with data.replay[0] (x)",
    ]
    many = [fp("general", 0, speakers=[f"s{i}" for i in range(5)]), fp("train", 0)]
    many[1].speakers = set(many[0].speakers)
    assert general_overlaps(many) == [
        "data.general[0] (x) shares speakers 's0', 's1', 's2' and 2 more with data.train[0] (x)"
    ]


def test_synthetic_voices_count_as_speakers_and_have_no_collection(tmp_path):
    from workbench.recipe import SynthSource

    cand = Candidate(origin="o", audio=tmp_path / "x.wav", text="t", speaker="espeak:en-us")
    footprint = print_of("train", 0, SynthSource(voices=["espeak:en-us"]), [cand])
    assert footprint.speakers == {"espeak:en-us"} and footprint.collections == set()


def _report(independent: bool | None) -> dict:
    utts = [Utterance(id="u1", audio="u1.wav", text="one two three", duration=1.0)]
    hyps = {"base": ["one two three"], "adapted": ["one two tree"]}
    general = compare_set(utts, hyps, {"base": 0.1, "adapted": 0.1}, str.lower, None, True)
    if independent is not None:
        general["independent"] = independent
        if not independent:
            general["not_independent_because"] = ["data.general[0] (asterisk) shares speaker"]
    return {
        "recipe": "r",
        "base_model": "m",
        "adapter": "a",
        "decoding": {"num_beams": 1},
        "sets": {"general": general},
    }


def test_the_report_marks_dependent_general_figures():
    page = render_report(_report(False))
    assert "not independent" in page and "data.general[0] (asterisk) shares speaker" in page
    assert "general (NOT INDEPENDENT)" in summary_table(_report(False))
    for clean in (_report(True), _report(None)):
        assert "not independent" not in render_report(clean).lower()
        assert "NOT INDEPENDENT" not in summary_table(clean)


SHIPPED = sorted(Path(__file__).resolve().parents[1].glob("data_recipes/*_lora.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_recipes_keep_general_apart_from_train_and_replay(path, tmp_path):
    r = load_recipe(path)
    ctx = PrepareContext(staging=tmp_path, pack_dir=None, lexicon=None, language=r.language)
    prints = []
    for split in ("general", "replay"):
        for index, spec in enumerate(getattr(r.data, split)):
            if spec.source == "speak":  # its sentences and voices, without the audio
                sentences = {sentence_key(t) for t in sentences_of(spec)} - {None}
                voices = set(spec.voices)
                prints.append(Footprint(split, index, "speak", set(), voices, set(), sentences))
                continue
            try:
                rows = PREPARERS[spec.source](spec, ctx)
            except Exception as exc:  # a Debian package missing here
                pytest.skip(f"{path.name}: data.{split}[{index}] unavailable: {exc}")
            prints.append(print_of(split, index, spec, rows.candidates))
    # Train is synthetic: its voices must not be a general speaker either.
    voices = {v for spec in r.data.train for v in getattr(spec, "voices", [])}
    prints.append(Footprint("train", 0, "synth", speakers=voices))
    assert general_overlaps(prints) == []


def test_the_guard_may_not_decide_on_the_reported_general_set(tmp_path, clips):
    from workbench.recipe import RecipeError

    train = manifest(clips, "train", [("a.wav", "one two three", "ann")])
    general = manifest(clips, "general", [("c.wav", "seven eight nine", "cy")])
    data = (
        f"  train: [{{source: manifest, path: {train}}}]\n"
        f"  general: [{{source: manifest, path: {general}}}]\n"
        "train:\n  max_general_loss_increase: 0.1\n"
    )
    with pytest.raises(RecipeError, match=r"train\.max_general_loss_increase.*data\.general_dev"):
        recipe(tmp_path, data)
    # kept on request: the report then marks the general figures as chosen by the guard
    from workbench.evaluate.compare import _sets

    allow = "  allow_dependent_general: true\ntrain:\n"
    allowed = recipe(tmp_path, data.replace("train:\n", allow))
    _, independence, _ = _sets(allowed, None, lambda m: None)
    assert independence is not None and independence["independent"] is False
    assert "forgetting guard" in independence["overlaps"][-1]


def test_a_general_dev_set_is_kept_apart_from_the_reported_general_set(tmp_path, clips):
    train = manifest(clips, "train", [("a.wav", "one two three", "ann")])
    general = manifest(clips, "general", [("c.wav", "seven eight nine", "cy")])
    dev = manifest(clips, "dev", [("d.wav", "ten eleven", "dee")])
    same_speaker = manifest(clips, "dev2", [("e.wav", "twelve", "cy")])
    base = (
        f"  train: [{{source: manifest, path: {train}}}]\n"
        f"  general: [{{source: manifest, path: {general}}}]\n"
    )
    guard = "train:\n  max_general_loss_increase: 0.1\n"
    ok = recipe(tmp_path, base + f"  general_dev: [{{source: manifest, path: {dev}}}]\n" + guard)
    prepared = prepare_data(ok, tmp_path / "out", **QUIET)
    assert [u.text for u in prepared.utterances("general_dev")] == ["ten eleven"]
    assert prepared.report["general_independence"]["independent"] is True
    bad = recipe(
        tmp_path, base + f"  general_dev: [{{source: manifest, path: {same_speaker}}}]\n" + guard
    )
    with pytest.raises(DataError) as caught:
        prepare_data(bad, tmp_path / "out2", **QUIET)
    assert "data.general[0] (manifest) shares speaker 'cy' with data.general_dev[0]" in str(
        caught.value
    )
