"""The guided start's logic: her terms read and checked, her recordings imported in every
accepted form (a zip plus a separate CSV included), her held-out share, the recipe."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.audio_files import tone
from workbench.lexicon import load_lexicon
from workbench.recipe import ManifestSource, SynthSource, load_recipe
from workbench.ui.guided import (
    OWN_DOMAIN,
    GuidedError,
    Recordings,
    TermsRead,
    carrier_gaps,
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
from workbench.ui.workspace import Workspace

TEXTS = ["start metoprolol", "give zolpidem", "hold apixaban", "more metoprolol", "less zolpidem"]


# --- terms ------------------------------------------------------------------------------


def test_a_pasted_list_keeps_good_lines_and_names_the_bad_ones_by_her_line_numbers():
    read = read_terms("metoprolol\n\nzolpidem\nMetoprolol\n apixaban \n")
    assert [t.term for t in read.terms] == ["metoprolol", "zolpidem", "apixaban"]
    assert {t.category for t in read.terms} == {"term"}
    assert read.problems == ["line 4: duplicate term 'Metoprolol' (first on line 1)"]
    assert "1 empty line(s) skipped" in read.notes
    assert read.summary().startswith("3 term(s) read; 1 line(s) left out")


def test_a_table_with_named_columns_in_any_order_extra_columns_ignored():
    text = "Notes,Category,Term,Spoken\nx,drug,metoprolol,meh TOE pro lol\n,,zolpidem,\n,drug,,\n"
    read = read_terms(text)
    assert [(t.term, t.category) for t in read.terms] == [
        ("metoprolol", "drug"),
        ("zolpidem", "term"),
    ]
    assert read.terms[0].spoken == ("meh TOE pro lol",)
    assert read.problems == ["line 4: empty term"]
    assert any("notes ignored" in n for n in read.notes)
    assert read.preview()[0] == ["metoprolol", "meh TOE pro lol", "drug"]


@pytest.mark.parametrize("suffix, sep", [(".csv", ","), (".tsv", "\t"), (".csv", ";")])
def test_an_uploaded_table_is_read_whatever_its_separator(tmp_path, suffix, sep):
    path = tmp_path / f"drugs{suffix}"
    path.write_text(f"term{sep}category\nmetoprolol{sep}drug\napixaban{sep}drug\n", "utf-8-sig")
    read = read_terms("ignored when a file is given", path)
    assert [t.term for t in read.terms] == ["metoprolol", "apixaban"]


def test_a_list_with_commas_but_no_header_says_how_to_use_columns():
    read = read_terms("metoprolol, drug\napixaban, drug\n")
    assert [t.term for t in read.terms] == ["metoprolol, drug", "apixaban, drug"]
    assert any("header row" in n for n in read.notes)


def test_an_upload_that_is_not_a_term_list_is_refused_in_words(tmp_path):
    binary = tmp_path / "terms.csv"
    binary.write_bytes(b"term\n\xff\xfe\x00")
    with pytest.raises(GuidedError, match="line 2: not UTF-8"):
        read_terms("", binary)
    with pytest.raises(GuidedError, match=r"expected a \.csv, \.tsv or \.txt"):
        read_terms("", tmp_path / "terms.xlsx")
    assert read_terms("  \n# a comment\n").terms == []


def test_her_terms_merge_into_the_pack_or_stand_alone(tmp_path):
    read = read_terms("metoprolol\nzorblatin\n")
    merged = save_terms(read, "medical", True, tmp_path, "ward")
    pack = load_lexicon(Path("domains/medical/lexicon.tsv"))
    assert len(merged.lexicon) == len(pack) + 1  # metoprolol is in the pack already
    assert merged.already_in_pack == ["metoprolol"]
    assert merged.lexicon.get("zorblatin").category == "term"
    alone = save_terms(read, "medical", False, tmp_path, "ward")
    assert [t.term for t in alone.lexicon] == ["metoprolol", "zorblatin"]
    assert alone.path == tmp_path / "ward-terms.tsv"
    with pytest.raises(GuidedError, match="no terms"):
        save_terms(TermsRead(terms=[]), "medical", True, tmp_path, "ward")


def test_a_category_no_sentence_can_carry_is_refused_before_anything_runs(tmp_path):
    templates = tmp_path / "templates.txt"
    templates.write_text("[train]\nStart {drug} now.\n[heldout]\nStop {drug} now.\n")
    drugs = save_terms(
        read_terms("term,category\nmetoprolol,drug\n"), OWN_DOMAIN, False, tmp_path, "a"
    )
    assert carrier_gaps(templates, drugs.lexicon) == []
    mixed = read_terms("term,category\nmetoprolol,drug\nasthma,diagnosis\n")
    lexicon = save_terms(mixed, OWN_DOMAIN, False, tmp_path, "b").lexicon  # generic: fine
    gaps = carrier_gaps(templates, lexicon)
    assert len(gaps) == 2 and "diagnosis" in gaps[0] and "[heldout]" in gaps[1]


def test_my_own_domain_gets_generic_carriers(tmp_path):
    path = templates_for(OWN_DOMAIN, tmp_path)
    assert "{term}" in path.read_text()
    assert templates_for("medical", tmp_path).name == "templates.txt"
    assert domain_choices()[-1] == OWN_DOMAIN and "medical" in domain_choices()


# --- recordings -------------------------------------------------------------------------


def clips(folder: Path, n: int = 5) -> list[Path]:
    return [tone(folder / f"clip{i}.wav", 200 + 50 * i) for i in range(n)]


def zip_of(path: Path, files: list[Path], top: str = "dictations", extra=()) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for f in files:
            zf.write(f, f"{top}/{f.name}")
        for name, data in extra:
            zf.writestr(name, data)
    return path


def csv_of(path: Path, names: list[str], speakers: bool = True) -> Path:
    head = "file_name,transcription" + (",speaker" if speakers else "")
    rows = [
        f"{n},{TEXTS[i % len(TEXTS)]}" + (f",{'ann' if i % 2 else 'bob'}" if speakers else "")
        for i, n in enumerate(names)
    ]
    path.write_text("\n".join([head, *rows]) + "\n")
    return path


def test_a_zip_plus_a_separate_csv_is_taken_with_her_dataset_name(tmp_path):
    audio = clips(tmp_path / "src")
    archive = zip_of(tmp_path / "up.zip", audio, extra=[("dictations/readme.txt", "x")])
    table = csv_of(tmp_path / "what-is-said.csv", [a.name for a in audio] + ["gone.wav"])
    data = tmp_path / "data"
    rec = import_recordings([archive, table], data, "Ward 3 dictations")
    assert rec.folder == data / "Ward-3-dictations"
    assert len(rec.clips) == 5 and rec.speakers == 2
    reasons = dict(rec.refused)
    assert "not an audio file" in reasons["dictations/readme.txt"]
    assert "no audio file 'gone.wav'" in reasons["what-is-said.csv:7"]
    assert "**5 recording(s)** kept" in rec.summary() and "2 speaker(s)" in rec.summary()
    again = import_recordings([archive, table], data, "Ward 3 dictations")
    assert again.folder == data / "Ward-3-dictations-2"  # never over what she has
    assert sorted(p.name for p in data.iterdir()) == ["Ward-3-dictations", "Ward-3-dictations-2"]


def test_a_zip_with_its_own_metadata_and_loose_files_with_a_csv(tmp_path):
    audio = clips(tmp_path / "src", 3)
    inside = "file_name,transcription\n" + "".join(f"{a.name},{TEXTS[0]}\n" for a in audio)
    archive = zip_of(tmp_path / "up.zip", audio, extra=[("dictations/metadata.csv", inside)])
    rec = import_recordings([archive], tmp_path / "data", "zipped")
    assert len(rec.clips) == 3 and rec.speakers == 0
    assert "speakers not given" in rec.summary()
    loose = import_recordings(
        [*audio, csv_of(tmp_path / "t.csv", [a.name for a in audio])], tmp_path / "data", "loose"
    )
    assert loose.folder.name == "loose" and len(loose.clips) == 3 and loose.speakers == 2


def test_a_zip_without_transcripts_says_the_csv_is_missing_and_keeps_nothing(tmp_path):
    archive = zip_of(tmp_path / "up.zip", clips(tmp_path / "src", 2))
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(GuidedError, match="add the CSV of transcripts"):
        import_recordings([archive], data, "x")
    assert list(data.iterdir()) == []
    with pytest.raises(GuidedError, match="no recordings yet"):
        import_recordings([], data, "x")
    table = tmp_path / "t.csv"
    table.write_text("name,words\nclip0.wav,hello\n")
    with pytest.raises(GuidedError, match="a column naming the audio file"):
        import_recordings([archive, table], data, "x")
    assert list(data.iterdir()) == []


# --- held-out share and the recipe --------------------------------------------------------


def fake(n: int, speakers: list[str] | None = None) -> list[dict]:
    return [
        {
            "file_name": f"c{i}.wav",
            "text": "t",
            "speaker": speakers[i % len(speakers)] if speakers else "",
        }
        for i in range(n)
    ]


def test_the_held_out_share_goes_by_speaker_when_speakers_are_known():
    train, held, how = hold_out(fake(30, ["a", "b", "c", "d", "e"]), 0.2)
    assert how == "by speaker" and len(held) == 6
    assert not {c["speaker"] for c in held} & {c["speaker"] for c in train}
    train, held, how = hold_out(fake(30), 0.2)
    assert how == "by clip" and len(held) == 6 and len(train) == 24
    assert hold_out(fake(30), 0.2) == hold_out(fake(30), 0.2)  # seeded
    assert hold_out(fake(30), 0.0)[1] == []
    assert len(hold_out(fake(2), 0.2)[1]) == 1  # one at least, and one stays to train
    assert len(hold_out(fake(3, ["a"]), 0.5)[0]) >= 1
    with pytest.raises(GuidedError):
        hold_out(fake(3), 1.0)


def test_the_notes_say_what_is_missing_and_what_is_kept():
    assert len(missing_steps(None, None, None)) == 3
    read = read_terms("metoprolol\n")
    rec = Recordings(Path("x"), fake(10, ["a", "b"]), [])
    assert missing_steps("medical", read, rec) == []
    assert "Step 3" in missing_steps("medical", read, None)[0]
    assert "**5 of your 10 recordings**" in held_out_note(rec, 0.2)
    assert "stay together, so the nearest to 20% is 50%" in held_out_note(rec, 0.2)
    assert "Add recordings first" in held_out_note(None, 0.2)
    assert "nearest" not in held_out_note(rec, 0.5)  # one speaker of two is what was asked
    assert "trial run" in run_length_note(20) and "100 steps" in run_length_note(20)
    assert run_length_note(100) == ""


def test_the_guided_recipe_validates_with_her_held_out_recordings_first(tmp_path):
    ws = Workspace.open(tmp_path / "ws", tmp_path / "runs")
    audio = clips(tmp_path / "src")
    archive = zip_of(tmp_path / "up.zip", audio)
    table = csv_of(tmp_path / "t.csv", [a.name for a in audio])
    rec = import_recordings([archive, table], ws.data, "ward")
    train, held, how = hold_out(rec.clips, 0.2)
    train_path, eval_path = write_manifests(rec.folder, train, held)
    saved = save_terms(read_terms("metoprolol\nzolpidem\n"), "medical", False, ws.lexicons, "ward")
    recipe = guided_recipe(
        name="ward",
        domain="medical",
        lexicon=saved.path,
        templates=templates_for("medical", ws.lexicons),
        terms=len(saved.lexicon),
        train_manifest=train_path,
        eval_manifest=eval_path,
        steps=3,
        general=False,
        replay=False,
    )
    text = recipe_text(recipe, len(held), how)
    assert "YOUR held-out recordings (2, held out by speaker)" in text
    path = ws.save_recipe("ward", text)
    loaded = load_recipe(path, check_inputs=True)  # what `recipe validate` runs
    first = loaded.data.eval[0]
    assert isinstance(first, ManifestSource) and first.path == str(eval_path)
    assert isinstance(loaded.data.eval[1], SynthSource)
    # each labelled for what it is: the report and Compare show them apart, hers first
    assert [s.part for s in loaded.data.eval] == ["your recordings", "synthetic held-out"]
    assert loaded.train.max_steps == 3 and loaded.domain == "medical"
    assert loaded.augment.noise.kinds == ["monitor", "pink"]  # the pack's, not overridden
    ids = held_out_ids(eval_path)
    assert ids == [f"ward/{c['file_name']}" for c in held]
    rows = [json.loads(line) for line in train_path.read_text().splitlines()]
    assert not {r["id"] for r in rows} & set(ids)


def test_her_results_come_from_the_report_by_her_ids():
    def utt(i, status, b, a):
        return {"id": i, "status": status, "base_wer": b, "adapted_wer": a}

    report = {
        "sets": {
            "eval": {"utterances": [utt("w/a.wav", "fixed", 0.5, 0.0), utt("s1", "broken", 0, 1)]},
            "general": {"utterances": [utt("g", "unchanged", 0.1, 0.1)]},
        }
    }
    line, utts = her_results(report, ["w/a.wav"])
    assert [u["id"] for u in utts] == ["w/a.wav"]
    assert "better on 1, worse on 0" in line and "50.0%" in line and "0.0% adapted" in line
    assert her_results(report, ["nope"]) == ("", [])


def test_her_results_are_her_labelled_part_with_its_figures():
    def utt(i, status, part):
        return {"id": i, "status": status, "base_wer": 0.5, "adapted_wer": 0.0, "part": part}

    figures = {"wer": 0.25, "cer": 0.1, "term_recall": 0.5}
    report = {
        "sets": {
            "eval": {
                "utterances": [
                    utt("anything.wav", "fixed", "your recordings"),
                    utt("s1", "broken", "synthetic held-out"),
                ],
                "groups": {
                    "part": {
                        "your recordings": {
                            "n": 1,
                            "base": figures,
                            "adapted": {"wer": 0.0, "cer": 0.0, "term_recall": 1.0},
                        }
                    }
                },
            }
        }
    }
    line, utts = her_results(report, [])  # found by its part, not by ids
    assert [u["id"] for u in utts] == ["anything.wav"]
    assert "word error rate 25.0% with the base model, 0.0% adapted" in line
    assert "character error rate 10.0% and 0.0%" in line
    assert "your terms written right 50.0% and 100.0%" in line


# --- recording in the browser -------------------------------------------------------------


def test_take_prompts_put_each_of_her_terms_in_turn_into_a_training_carrier(tmp_path):
    read = read_terms("metoprolol\nzorblatin\n")
    first, term = take_prompt("medical", read, tmp_path, 0)
    second, other = take_prompt("medical", read, tmp_path, 1)
    assert (term, other) == ("metoprolol", "zorblatin")
    assert "metoprolol" in first and "zorblatin" in second and first != "metoprolol"
    assert take_prompt("medical", read, tmp_path, 0) == (first, term)  # the same again
    own, _ = take_prompt(OWN_DOMAIN, read, tmp_path, 2)
    assert "metoprolol" in own
    with pytest.raises(GuidedError, match="terms first"):
        take_prompt("medical", TermsRead(terms=[]), tmp_path, 0)


def test_a_take_joins_her_dataset_for_training_only(tmp_path):
    audio = clips(tmp_path / "src", 4)
    rec = import_recordings(
        [zip_of(tmp_path / "up.zip", audio), csv_of(tmp_path / "t.csv", [a.name for a in audio])],
        tmp_path / "data",
        "ward",
    )
    take = tone(tmp_path / "take.wav", 300, seconds=2.0, rate=48000, channels=2)
    folder = save_take(take, "Start metoprolol now.", "me", rec.folder, tmp_path / "data", "ward")
    assert folder == rec.folder
    again = read_folder(folder)
    assert len(again.clips) == 5 and again.speakers == 3
    recorded = [c for c in again.clips if c.get("recorded")]
    assert recorded == [
        {
            "file_name": "recorded/take-0001.wav",
            "text": "Start metoprolol now.",
            "speaker": "me",
            "recorded": True,
        }
    ]
    for fraction in (0.2, 0.49):
        train, held, _ = hold_out(again.clips, fraction)
        assert recorded[0] in train and recorded[0] not in held


def test_a_take_starts_a_dataset_and_bad_takes_are_refused_in_words(tmp_path):
    data = tmp_path / "data"
    take = tone(tmp_path / "take.wav", 300, seconds=1.0)
    folder = save_take(take, "Say zorblatin.", "", None, data, "my takes")
    assert folder == data / "my-takes"
    assert read_folder(folder).clips[0]["text"] == "Say zorblatin."
    with pytest.raises(GuidedError, match="nothing recorded"):
        save_take(None, "x", "", folder, data, "x")
    with pytest.raises(GuidedError, match=r"0\.2 s long"):
        save_take(tone(tmp_path / "short.wav", seconds=0.2), "x", "", folder, data, "x")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000), 16000)
    with pytest.raises(GuidedError, match="silent"):
        save_take(silent, "x", "", folder, data, "x")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVE")
    with pytest.raises(GuidedError, match="cannot be used"):
        save_take(broken, "x", "", folder, data, "x")
    before = (folder / "metadata.csv").read_text()
    with pytest.raises(GuidedError, match="same recording as a take kept before"):
        save_take(take, "Say it again.", "", folder, data, "x")
    assert (folder / "metadata.csv").read_text() == before
    assert [p.name for p in (folder / "recorded").iterdir()] == ["take-0001.wav"]
    assert len(read_folder(folder).clips) == 1  # nothing of the refused takes was kept


# --- validation checks her lexicon against the templates that will use it ------------------


def test_a_drug_only_lexicon_that_validates_also_makes_its_sentences(tmp_path):
    """Issue 18: a lexicon of drug names only passed validation and then failed in
    preparation (`{diagnosis}: no lexicon category`). Now what validates prepares: the
    pack's templates naming categories the lexicon lacks are left out, the others speak."""
    from workbench.data.candidates import PrepareContext
    from workbench.data.prepare import pack_dir
    from workbench.data.sources.synth import sentences_for

    lexicon = tmp_path / "drugs.csv"
    lexicon.write_text("term,category\nmetoprolol,drug\nzorblatin,drug\n")
    recipe_path = tmp_path / "r.yaml"
    recipe_path.write_text(
        f"name: drugs\ndomain: medical\nlexicon: {{path: {lexicon}}}\n"
        "data:\n  train: [{source: synth, voices: [espeak:en-us], per_term: 3}]\n"
        "  eval: [{source: synth, split: heldout, voices: [espeak:en-us], per_term: 1}]\n"
    )
    recipe = load_recipe(recipe_path, check_model=False, check_inputs=True)
    ctx = PrepareContext(
        staging=tmp_path, pack_dir=pack_dir(recipe), lexicon=load_lexicon(lexicon), language=None
    )
    for spec in (*recipe.data.train, *recipe.data.eval):
        sentences = sentences_for(spec, ctx)
        assert sentences and all("{" not in s.written for s in sentences)


def test_validation_refuses_a_category_no_template_can_carry(tmp_path):
    from workbench.recipe import RecipeError

    templates = tmp_path / "templates.txt"
    templates.write_text("[train]\nStart {drug} now.\n[heldout]\nStop {drug} now.\n")
    lexicon = tmp_path / "mixed.csv"
    lexicon.write_text("term,category\nmetoprolol,drug\nasthma,diagnosis\n")
    recipe_path = tmp_path / "r.yaml"
    recipe_path.write_text(
        f"name: mixed\nlexicon: {{path: {lexicon}}}\n"
        f"data:\n  train: [{{source: synth, voices: [espeak:en-us], templates: {templates}}}]\n"
    )
    with pytest.raises(RecipeError, match=r"categor.*'diagnosis'.*generic templates with"):
        load_recipe(recipe_path, check_model=False, check_inputs=True)
    read = read_terms("term,category\nmetoprolol,drug\nasthma,diagnosis\n")
    assert (
        "diagnosis"
        in carrier_gaps(templates, save_terms(read, OWN_DOMAIN, False, tmp_path, "m").lexicon)[0]
    )


def test_a_reloaded_page_finds_the_guided_run_and_her_held_out_part(tmp_path):
    ws = Workspace.open(tmp_path / "ws", tmp_path / "runs")
    saved = save_terms(read_terms("metoprolol\n"), OWN_DOMAIN, False, ws.lexicons, "w")
    held = tmp_path / "heldout.jsonl"
    recipe = guided_recipe(
        name="w",
        domain=OWN_DOMAIN,
        lexicon=saved.path,
        templates=templates_for(OWN_DOMAIN, ws.lexicons),
        terms=1,
        train_manifest=None,
        eval_manifest=held,
    )
    path = ws.save_recipe("w", recipe_text(recipe, 2, "by clip"))
    assert guided_run(path) == {"heldout": str(held)}
    other = ws.save_recipe("other", "name: other\n")
    assert guided_run(other) is None and guided_run(None) is None
    assert guided_run(tmp_path / "missing.yaml") is None
