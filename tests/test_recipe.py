"""The recipe schema: golden tables of bad recipes and the precise problems they get."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workbench.recipe import (
    LoraSpec,
    ManifestSource,
    Recipe,
    RecipeError,
    SpeedSpec,
    load_recipe,
    recipe_to_yaml,
)


def write(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def problems(path: Path, overrides=(), **kwargs) -> list:
    with pytest.raises(RecipeError) as err:
        load_recipe(path, overrides, **kwargs)
    return err.value.problems


# (recipe text, key path, line, words the message must hold)
GOLDEN = [
    ("name: x\nlorra: {rank: 4}\n", "lorra", 2, "unknown key; did you mean 'lora'?"),
    ("name: x\nlora:\n  rnak: 8\n", "lora.rnak", 3, "did you mean 'rank'?"),
    (
        "name: x\ntrain:\n  batch_size: eight\n",
        "train.batch_size",
        3,
        "expected an integer, got 'eight'",
    ),
    ("name: x\nlora: {dropout: 1.5}\n", "lora.dropout", 2, "expected 0 <= dropout < 1, got 1.5"),
    ("name: x\nlora: {rank: 0}\n", "lora.rank", 2, "expected a positive integer, got 0"),
    ("name: x\ntrain: {scheduler: cosin}\n", "train.scheduler", 2, "did you mean 'cosine'?"),
    ("name: x\ntrain: {learning_rate: fast}\n", "train.learning_rate", 2, "expected a number"),
    ("name: x\nlexicon: {prompt: maybe}\n", "lexicon.prompt", 2, "expected true or false"),
    ("name: x\nlora: {targets: [q_proj, qkv]}\n", "lora.targets", 2, "from q_proj, k_proj"),
    (
        "name: x\naugment:\n  noise: {min_snr_db: 20, max_snr_db: 5}\n",
        "augment.noise.max_snr_db",
        3,
        "must be >= min_snr_db (20.0)",
    ),
    ("name: x\naugment:\n  speed: {min_rate: 0.1}\n", "augment.speed.min_rate", 3, "[0.5, 2.0]"),
    (
        "name: x\ndata:\n  train:\n    - {source: manifset, path: a.jsonl}\n",
        "data.train[0].source",
        4,
        "unknown source 'manifset'; expected one of asterisk, audiofolder, common_voice, csv",
    ),
    (
        "name: x\ndata:\n  train:\n    - source: manifest\n",
        "data.train[0].path",
        4,
        "missing required key; expected a string",
    ),
    (
        "name: x\ndata:\n  eval:\n    - source: manifest\n      path: nowhere.jsonl\n",
        "data.eval[0].path",
        5,
        "no such file:",
    ),
    ("name: x\ndata: {train: {source: manifest}}\n", "data.train", 2, "expected a list"),
    (
        "name: x\nbase_model: bundled:huge\n",
        "base_model",
        2,
        "no bundled model 'huge'; available: bundled:tiny.en",
    ),
    (
        "name: x\nlora: {top_encoder_layers: 9}\n",
        "lora.top_encoder_layers",
        2,
        "has 4 encoder layers, got 9",
    ),
    ("name: x\nlanguage: de\n", "language", 2, "English-only"),
    ("name: 'bad name/..'\n", "name", 1, "a folder name"),
    ("name: x\nname: y\n", "name", 2, "duplicate key (first on line 1)"),
    ("name: x\ndomain: cardiology\n", "domain", 2, "no domain pack 'cardiology'"),
]


@pytest.mark.parametrize(("text", "key", "line", "words"), GOLDEN, ids=[g[1] for g in GOLDEN])
def test_golden_problems(tmp_path, text, key, line, words):
    path = write(tmp_path, text)
    found = problems(path)
    match = [p for p in found if p.key == key]
    assert match, f"no problem at {key}; got {[str(p) for p in found]}"
    assert match[0].file == str(path)
    assert match[0].line == line
    assert words in match[0].message
    assert str(match[0]).startswith(f"{path}:{line}: {key}: ")


def test_every_problem_is_reported_at_once(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        lora: {rank: -1, dropout: 2, alpha: 0}
        train: {batch_size: 0, epochs: zero, scheduler: fancy}
        evaluate: {}
        """,
    )
    keys = {p.key for p in problems(path)}
    assert keys == {
        "lora.rank",
        "lora.dropout",
        "lora.alpha",
        "train.batch_size",
        "train.epochs",
        "train.scheduler",
        "evaluate",
    }


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"name: x\nlora: [unclosed\n", "invalid YAML"),
        (b"- a\n- b\n", "expected a mapping"),
        (b"name: caf\xe9\n", "not UTF-8"),
        (b"name: !!python/object/apply:os.system ['touch PWNED']\n", "invalid YAML"),
    ],
)
def test_unreadable_files(tmp_path, monkeypatch, content, words):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "r.yaml"
    path.write_bytes(content)
    (found,) = problems(path)
    assert words in found.message and found.file == str(path)
    assert not (tmp_path / "PWNED").exists()


def test_missing_file(tmp_path):
    (found,) = problems(tmp_path / "nope.yaml")
    assert found.message == "no such file"


def test_defaults_and_relative_paths(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text("")
    path = write(
        tmp_path,
        """
        # A comment, as shipped recipes have.
        train: {learning_rate: 1e-4}
        data:
          train: [{source: manifest, path: data/train.jsonl}]
        """,
        name="my recipe.yaml",
    )
    recipe = load_recipe(path)
    assert recipe.name == "my-recipe"  # from the file name, made folder-safe
    assert recipe.base_model == "bundled:tiny.en"
    assert recipe.train.learning_rate == pytest.approx(1e-4)  # YAML reads 1e-4 as a string
    assert recipe.data.train == [ManifestSource(path=str(tmp_path / "data" / "train.jsonl"))]
    assert recipe.lora == LoraSpec()


def test_overrides_win_and_their_problems_say_command_line(tmp_path):
    path = write(tmp_path, "name: x\nlora: {rank: 16}\n")
    recipe = load_recipe(
        path, ["train.max_steps=3", "lora.rank=8", "lora.targets=[q_proj,v_proj,fc1]"]
    )
    assert (recipe.train.max_steps, recipe.lora.rank) == (3, 8)
    assert recipe.lora.targets == ["q_proj", "v_proj", "fc1"]
    found = problems(path, ["lora.rnak=8", "train.batch_size=-2", "novalue"])
    by_key = {p.key: p for p in found}
    assert by_key["lora.rnak"].file == "command line"
    assert "did you mean 'rank'?" in by_key["lora.rnak"].message
    assert by_key["train.batch_size"].file == "command line"
    assert any("expected key.path=value" in p.message for p in found)


def test_domain_pack_defaults_sit_under_the_file(tmp_path):
    pack = tmp_path / "domains" / "cardio"
    pack.mkdir(parents=True)
    (pack / "lexicon.tsv").write_text("term\n")
    (pack / "domain.yaml").write_text(
        "lexicon: {path: lexicon.tsv, prompt: true}\nlora: {rank: 4, alpha: 8}\n"
    )
    path = write(tmp_path, "name: x\ndomain: cardio\nlora: {rank: 12}\n")
    recipe = load_recipe(path, domains_dir=tmp_path / "domains")
    assert recipe.lora.rank == 12 and recipe.lora.alpha == 8  # file over pack, pack over defaults
    assert recipe.lexicon.path == str(pack / "lexicon.tsv")  # relative to the pack's folder
    assert recipe.lexicon.prompt is True

    (pack / "domain.yaml").write_text("lora:\n  rank: 4\n  alhpa: 8\n")
    (found,) = problems(path, domains_dir=tmp_path / "domains")
    assert (found.file, found.key, found.line) == (str(pack / "domain.yaml"), "lora.alhpa", 3)


def test_resolved_recipe_round_trips_through_yaml(tmp_path):
    path = write(tmp_path, "name: x\nlora: {rank: 4}\naugment: {speed: null}\n")
    recipe = load_recipe(path)
    again = write(tmp_path, recipe_to_yaml(recipe), name="resolved.yaml")
    assert load_recipe(again) == recipe
    assert recipe.augment.speed is None


def test_specs_check_themselves_when_built_in_python():
    with pytest.raises(ValueError, match="rank: expected a positive integer, got 0"):
        LoraSpec(rank=0)
    with pytest.raises(ValueError, match="max_rate: must be >= min_rate"):
        SpeedSpec(min_rate=1.1, max_rate=0.9)
    with pytest.raises(ValueError, match="name: expected letters"):
        Recipe(name="a b")


def _validate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", "recipe", "validate", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_validate_exit_codes(tmp_path):
    good = write(tmp_path, "name: ok\n", name="good.yaml")
    result = _validate(str(good))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout

    bad = write(tmp_path, "name: x\nlora: {rnak: 2, dropout: 3}\n", name="bad.yaml")
    result = _validate(str(bad), "train.epochs=0")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert f"{bad}:2: lora.rnak: unknown key; did you mean 'rank'?" in lines
    assert any(line.startswith(f"{bad}:2: lora.dropout:") for line in lines)
    assert any(line.startswith("command line: train.epochs:") for line in lines)
    assert lines[-1] == f"{bad}: 3 problems"
