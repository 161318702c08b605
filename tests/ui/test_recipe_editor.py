"""The recipe form comes from the dataclasses; edits land in the YAML; errors find their field."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from workbench.recipe import LoraSpec, TrainSpec, load_recipe
from workbench.ui.recipe_editor import (
    FIELDS,
    check_text,
    compose,
    field_problems,
    open_recipe,
    open_text,
    save_recipe,
)
from workbench.ui.recipe_form import rebase_paths
from workbench.ui.workspace import Workspace, WorkspaceError

MEDICAL = "data_recipes/medical_tiny-en_lora.yaml"


@pytest.fixture
def ws(tmp_path):
    return Workspace.open(tmp_path / "ws", tmp_path / "runs")


def test_every_scalar_field_of_the_specs_is_in_the_form():
    keys = {f.key for f in FIELDS}
    for spec, prefix in ((TrainSpec, "train"), (LoraSpec, "lora")):
        for f in dataclasses.fields(spec):
            assert f"{prefix}.{f.name}" in keys
    assert {"augment.noise", "augment.noise.min_snr_db", "lexicon.prompt", "eval.num_beams"} <= keys


def test_a_shipped_recipe_opens_with_its_values(ws):
    opened = open_recipe(__import__("pathlib").Path(MEDICAL), ws)
    assert opened.problems == []
    assert opened.values["lora.rank"] == 32 and opened.values["train.max_steps"] == 100
    assert opened.values["augment.reverb"] is False  # a section that is off
    assert "synth" in opened.data_text and "replay" in opened.data_text


def test_compose_writes_only_what_changed(ws):
    from pathlib import Path

    opened = open_recipe(Path(MEDICAL), ws)
    inputs = dict(opened.values)
    inputs["lora.rank"] = 8
    inputs["train.learning_rate"] = "5e-4"
    inputs["augment.telephone"] = True  # switched on: its defaults apply
    text, errors = compose(opened.text, opened.values, inputs, opened.data_text)
    assert errors == {}
    data = yaml.safe_load(text)
    assert data["lora"]["rank"] == 8 and data["train"]["learning_rate"] == 5e-4
    assert data["augment"] == {"telephone": {}}
    assert "dropout" not in data["lora"]  # untouched fields stay out of the YAML
    recipe, problems, _ = check_text(text, Path(MEDICAL).parent, ws)
    assert problems == [] and recipe.lora.rank == 8 and recipe.augment.telephone is not None


def test_bad_inputs_and_bad_values_find_their_fields(ws):
    from pathlib import Path

    opened = open_recipe(Path(MEDICAL), ws)
    inputs = dict(opened.values)
    inputs["train.batch_size"] = "eight"
    inputs["lora.top_decoder_layers"] = 9  # tiny.en has 4
    inputs["train.replay_ratio"] = 1.5
    text, errors = compose(opened.text, opened.values, inputs, opened.data_text)
    assert "train.batch_size" in errors
    reopened = open_text(text, Path(MEDICAL).parent, ws)
    by_field, _ = field_problems(reopened.problems)
    assert "4 decoder layers" in by_field["lora.top_decoder_layers"]
    assert "[0, 1)" in by_field["train.replay_ratio"]


def test_the_data_block_is_edited_as_yaml(ws):
    from pathlib import Path

    opened = open_recipe(Path(MEDICAL), ws)
    block = "train:\n  - {source: pocketsphinx}\ngeneral:\n  - {source: asterisk, limit: 5}\n"
    text, errors = compose(opened.text, opened.values, opened.values, block)
    assert errors == {}
    data = yaml.safe_load(text)["data"]
    assert data["train"] == [{"source": "pocketsphinx"}] and "eval" not in data
    _, errors = compose(opened.text, opened.values, opened.values, "test: []\n")
    assert "unknown split" in errors["data"]
    by_field, _ = field_problems(
        open_text(
            compose(opened.text, opened.values, opened.values, "train: [{source: nope}]")[0],
            Path(MEDICAL).parent,
            ws,
        ).problems
    )
    assert "unknown source 'nope'" in by_field["data"]


def test_save_rewrites_relative_paths_and_never_overwrites(ws):
    folder = ws.root / "elsewhere"
    (folder / "lex").mkdir(parents=True)
    (folder / "lex" / "terms.tsv").write_text("term\tcategory\nstatin\tdrug\n")
    text = "name: mine\nbase_model: bundled:tiny.en\nlexicon: {path: lex/terms.tsv}\n"
    path = save_recipe(ws, "mine", text, folder)
    assert path == ws.recipes / "mine.yaml"
    saved = yaml.safe_load(path.read_text())
    assert (ws.recipes / saved["lexicon"]["path"]).resolve() == folder / "lex" / "terms.tsv"
    assert path.read_text().startswith(f"# workbench run {path}")
    assert load_recipe(path).lexicon.path == str(folder / "lex" / "terms.tsv")
    with pytest.raises(WorkspaceError, match="exists"):
        save_recipe(ws, "mine", text, folder)
    with pytest.raises(WorkspaceError, match="expected letters"):
        save_recipe(ws, "../evil", text, folder)
    save_recipe(ws, "mine", text.replace("name: mine", "name: other"), folder, overwrite=True)
    assert yaml.safe_load(path.read_text())["name"] == "mine"


def test_recipe_paths_outside_the_workspace_are_refused(ws, tmp_path):
    from workbench.recipe import RecipeError

    outside = tmp_path / "private"
    (outside / "audio").mkdir(parents=True)
    (outside / "terms.tsv").write_text("term\tcategory\nstatin\tdrug\n")
    link = ws.data / "sneaky"
    link.symlink_to(outside / "audio")  # a link inside that leads outside
    text = (
        f"name: out\nbase_model: {tmp_path}\nlexicon: {{path: {outside}/terms.tsv}}\n"
        f"data:\n  train: [{{source: audiofolder, path: {link}}}]\n"
    )
    _, problems, _ = check_text(text, ws.root, ws)
    keys = {p.key for p in problems if "outside the workspace" in p.message}
    assert {"lexicon.path", "data.train[0].path"} <= keys
    with pytest.raises(RecipeError, match="outside the workspace"):
        save_recipe(ws, "out", text, ws.root)
    assert not (ws.recipes / "out.yaml").exists()
    # The UI's loader refuses the same recipe written by hand, and a file outside.
    (ws.recipes / "byhand.yaml").write_text(
        f"name: byhand\nlexicon: {{path: {outside}/terms.tsv}}\n"
    )
    with pytest.raises(RecipeError, match=r"lexicon\.path"):
        ws.load_recipe(ws.recipes / "byhand.yaml", check_model=False)
    (outside / "r.yaml").write_text("name: r\n")
    with pytest.raises(RecipeError, match="outside the workspace"):
        ws.load_recipe(outside / "r.yaml", check_model=False)
    assert ws.load_recipe(Workspace.shipped_recipes()[0], check_model=False).name


def test_an_invalid_recipe_is_not_saved(ws):
    from pathlib import Path

    from workbench.recipe import RecipeError

    with pytest.raises(RecipeError):
        save_recipe(ws, "bad", "name: bad\ntrain: {batch_size: 0}\n", Path("."))
    assert not (ws.recipes / "bad.yaml").exists()


def test_yaml_tags_and_duplicate_keys_are_refused(ws):
    from pathlib import Path

    _, problems, _ = check_text("name: x\n!!python/object:os.system {}\n", Path("."), ws)
    assert problems
    _, problems, _ = check_text("name: x\nname: y\n", Path("."), ws)
    assert any("duplicate" in p.message for p in problems)


def test_rebase_paths_reaches_source_lists(tmp_path):
    data = {
        "data": {"train": [{"source": "manifest", "path": "m.jsonl"}, {"source": "synth"}]},
        "augment": {"noise": {"folder": "noise"}},
    }
    out = rebase_paths(data, tmp_path / "a", tmp_path / "b")
    assert out["data"]["train"][0]["path"] == "../a/m.jsonl"
    assert out["augment"]["noise"]["folder"] == "../a/noise"
    assert data["data"]["train"][0]["path"] == "m.jsonl"  # the input is left alone


def test_validate_reads_the_files_inside_the_workspace_only(ws, tmp_path):
    folder = ws.root / "mine"
    folder.mkdir()
    (folder / "m.csv").write_text("recording,words\na.wav,hello\n")
    text = "name: mine\ndata:\n  train: [{source: csv, path: m.csv}]\n"
    assert open_text(text, folder, ws).problems == []  # the recipe alone is fine
    problems = open_text(text, folder, ws, check_inputs=True).problems
    assert [p.key for p in problems] == ["data.train[0]"]
    assert "no audio column" in problems[0].message
    outside = tmp_path / "outside.csv"
    outside.write_text("secret,columns\nx,y\n")
    problems = open_text(text.replace("m.csv", str(outside)), folder, ws, check_inputs=True)
    assert "secret" not in " ".join(p.message for p in problems.problems)


def test_general_dev_and_unlabeled_are_edited_with_the_other_data_lists(ws):
    from pathlib import Path

    from workbench.recipe import DataSpec
    from workbench.ui.recipe_editor import DATA_SPLITS
    from workbench.ui.recipe_form import data_list_help
    from workbench.ui.recipes_tab import DATA_LABEL, data_lists_markdown

    # Every list of sources in DataSpec, and only those, is in the YAML block, not the form.
    lists = [f.name for f in dataclasses.fields(DataSpec) if f.name in DATA_SPLITS]
    assert DATA_SPLITS == ("train", "eval", "general", "replay", "general_dev", "unlabeled")
    assert lists == list(DATA_SPLITS) and not {f"data.{s}" for s in DATA_SPLITS} & {
        f.key for f in FIELDS
    }
    helps = data_list_help()
    assert all(helps[s] for s in DATA_SPLITS) and "workbench label" in helps["unlabeled"]
    assert "forgetting guard" in helps["general_dev"]
    assert all(f"`{s}:`" in data_lists_markdown() for s in DATA_SPLITS)
    assert "general_dev, unlabeled" in DATA_LABEL

    # Edited in the block, they land in the YAML, validate, reopen and save with their paths.
    folder = ws.root / "elsewhere"
    (folder / "clips").mkdir(parents=True)
    (folder / "dev.jsonl").write_text("")
    opened = open_recipe(Path(MEDICAL), ws)
    block = opened.data_text + (
        "general_dev: [{source: manifest, path: dev.jsonl}]\n"
        "unlabeled: [{source: audio, path: clips, limit: 40}]\n"
    )
    text, errors = compose(opened.text, opened.values, opened.values, block)
    assert errors == {}
    data = yaml.safe_load(text)["data"]
    assert data["general_dev"] == [{"source": "manifest", "path": "dev.jsonl"}]
    assert data["unlabeled"] == [{"source": "audio", "path": "clips", "limit": 40}]
    assert data["train"] == yaml.safe_load(opened.data_text)["train"]  # the rest kept
    reopened = open_text(text, folder, ws)
    assert reopened.problems == []
    shown = yaml.safe_load(reopened.data_text)
    assert shown["unlabeled"] == data["unlabeled"] and shown["general_dev"] == data["general_dev"]
    saved = load_recipe(save_recipe(ws, "with-unlabeled", text, folder))
    assert saved.data.unlabeled[0].path == str(folder / "clips")
    assert saved.data.unlabeled[0].limit == 40
    assert saved.data.general_dev[0].path == str(folder / "dev.jsonl")

    # Emptied in the block, they leave the YAML; a wrong kind of source names the field.
    text, errors = compose(text, reopened.values, reopened.values, opened.data_text)
    assert errors == {} and not {"general_dev", "unlabeled"} & set(yaml.safe_load(text)["data"])
    bad = block.replace("source: audio", "source: manifest")
    problems = open_text(compose(opened.text, opened.values, opened.values, bad)[0], folder, ws)
    by_field, _ = field_problems(problems.problems)
    assert "data.unlabeled" in " ".join(p.key for p in problems.problems)
    assert "manifest" in by_field["data"]
