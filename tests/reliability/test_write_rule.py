"""Nothing of the user's is deleted or overwritten (issue 19, items 1-4): every command that
writes refuses a run, a recipe's folder, the working folder and its parents, and anything the
workbench did not write unless ``--force``; a generated test throws random targets at every
writing command and checks that no pre-existing byte changed."""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.train.conftest import write_tiny_recipe
from workbench.cli import main
from workbench.recipe import load_recipe
from workbench.runs import RunDir
from workbench.train.loop import train_recipe

pytestmark = pytest.mark.reliability

USER_RECIPE_HEAD = "# my commented recipe: keep these notes\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_model_dir, speech_manifests) -> dict[str, Path]:
    """A working folder as a user has it: a commented recipe, notes, data, and a runs
    folder with one finished (trained and evaluated-looking) run."""
    work = tmp_path_factory.mktemp("writerule") / "work"
    work.mkdir()
    recipe = write_tiny_recipe(
        work / "recipe.yaml",
        tiny_model_dir,
        speech_manifests,
        "writerule",
        extra="lora: {rank: 4, alpha: 8, top_encoder_layers: 1, top_decoder_layers: 1}\n"
        "train: {batch_size: 2, max_steps: 2, save_steps: 1}\n"
        "eval: {max_new_tokens: 4, batch_size: 2}\n",
    )
    recipe.write_text(USER_RECIPE_HEAD + recipe.read_text())
    run = RunDir(work / "runs" / "finished")
    train_recipe(load_recipe(recipe), run, log=lambda m: None)
    run.report.write_text('{"recipe": "writerule", "base_model": "x", "sets": {}}')
    (work / "notes.txt").write_text("my notes\n")
    data = work / "data"
    data.mkdir()
    (data / "clip-list.txt").write_text("a\nb\n")
    (data / "utterances.csv").write_text("my own table\n")
    return {
        "work": work,
        "recipe": recipe,
        "run": run.root,
        "data": data,
        "general": speech_manifests["general"],
    }


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (links not followed) with the hash of its bytes."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            if path.is_symlink():
                continue
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def run_cli(args: list[str], cwd: Path, capsys) -> tuple[int, str]:
    """``workbench ARGS`` in-process in ``cwd``: (exit code, stderr)."""
    old = Path.cwd()
    os.chdir(cwd)
    try:
        code = main([str(a) for a in args])
    finally:
        os.chdir(old)
    return code, capsys.readouterr().err


def kept(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Files that were there before and changed or vanished."""
    return [name for name, digest in before.items() if after.get(name) != digest]


# ---------------------------------------------------------------------------------------
# 1. export --out


def test_export_never_empties_a_folder_it_did_not_write(world, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    (tmp_path / "mine.zip").write_bytes(b"my own zip")
    before = snapshot(tmp_path)
    code, err = run_cli(["export", world["run"], "--out", mine], world["work"], capsys)
    assert code != 0 and "thesis.tex" in err and "--force" in err
    assert "Traceback" not in err
    assert not kept(before, snapshot(tmp_path))
    # DIR.zip is checked too, before anything is built.
    empty = tmp_path / "fresh"
    (tmp_path / "fresh.zip").write_bytes(b"someone's zip")
    before = snapshot(tmp_path)
    code, err = run_cli(["export", world["run"], "--out", empty], world["work"], capsys)
    assert code != 0 and "fresh.zip" in err and not kept(before, snapshot(tmp_path))
    assert not empty.exists()
    # Asked for: --force replaces both.
    code, _ = run_cli(["export", world["run"], "--out", mine, "--force"], world["work"], capsys)
    assert code == 0 and not (mine / "thesis.tex").exists()
    assert "EXPORT.yaml" in zipfile.ZipFile(tmp_path / "mine.zip").namelist()
    # A second export over the workbench's own is fine without --force.
    code, _ = run_cli(["export", world["run"], "--out", mine], world["work"], capsys)
    assert code == 0


@pytest.mark.parametrize("target", [".", "RUN", "runs", "..", "RUN/adapter"])
def test_export_refuses_cwd_parents_and_runs_even_with_force(world, target, capsys):
    out = {"RUN": world["run"], "RUN/adapter": world["run"] / "adapter"}.get(target, target)
    before = snapshot(world["work"])
    for force in ([], ["--force"]):
        code, err = run_cli(["export", world["run"], "--out", out, *force], world["work"], capsys)
        assert code != 0 and "Traceback" not in err
        assert "run" in err or "working folder" in err
    assert not kept(before, snapshot(world["work"]))


# ---------------------------------------------------------------------------------------
# 2. train --run-dir without --resume


def test_train_refuses_the_recipes_folder_and_a_finished_run(world, capsys):
    work, run = world["work"], world["run"]
    before = snapshot(work)
    code, err = run_cli(["train", world["recipe"], "--run-dir", work], work, capsys)
    assert code != 0 and "working folder" in err
    sub = work / "recipes"
    sub.mkdir(exist_ok=True)
    shutil.copy(world["recipe"], sub / "recipe.yaml")
    before = snapshot(work)
    code, err = run_cli(["train", sub / "recipe.yaml", "--run-dir", sub], work, capsys)
    assert code != 0 and "recipe in use" in err
    assert (sub / "recipe.yaml").read_text().startswith(USER_RECIPE_HEAD)
    code, err = run_cli(["train", world["recipe"], "--run-dir", run], work, capsys)
    assert code != 0 and "is a run folder" in err and "--resume" in err
    code, err = run_cli(["run", world["recipe"], "--run-dir", run], work, capsys)
    assert code != 0 and "is a run folder" in err
    assert not kept(before, snapshot(work))


# ---------------------------------------------------------------------------------------
# 3. eval --out


def test_eval_checks_every_file_it_writes_before_evaluating(world, tmp_path, capsys):
    work, data = world["work"], world["data"]
    before = snapshot(work)
    base = ["eval", world["recipe"], "--adapter", world["run"] / "adapter"]
    base += ["--data", world["general"]]
    # utterances.csv beside x.json is the user's: refused, up front.
    code, err = run_cli([*base, "--out", data / "x.json"], work, capsys)
    assert code != 0 and "utterances.csv" in err and "--force" in err
    # A folder: refused at once (the whole evaluation used to run first).
    code, err = run_cli([*base, "--out", data], work, capsys)
    assert code != 0 and "is a folder" in err and "Traceback" not in err
    # Another run's report is not this adapter's to replace.
    other = work / "runs" / "other"
    shutil.copytree(world["run"], other, ignore=shutil.ignore_patterns("checkpoints"))
    code, err = run_cli([*base, "--out", other / "report.json"], work, capsys)
    assert code != 0 and "run folder" in err
    shutil.rmtree(other)
    assert not kept(before, snapshot(work))


# ---------------------------------------------------------------------------------------
# 4. the UI's lexicon save


def test_ui_lexicon_save_asks_before_replacing(tmp_path):
    import gradio as gr
    import pandas as pd

    from workbench.lexicon import COLUMNS
    from workbench.ui.lexicon_tab import lexicon_target
    from workbench.ui.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws", tmp_path / "runs")
    existing = ws.lexicons / "my-lexicon.tsv"
    existing.write_text("term\tcategory\nmine\tx\n")
    with pytest.raises(gr.Error, match="replace"):
        lexicon_target(ws, "my-lexicon", replace=False)
    assert lexicon_target(ws, "my-lexicon", replace=True) == existing
    assert lexicon_target(ws, "other", replace=False) == ws.lexicons / "other.tsv"
    # The tab's own callback, as the button calls it.
    with gr.Blocks():
        from workbench.ui.common import Shared

        recipe, run = gr.Dropdown(), gr.Dropdown()
        shared = Shared(ws=ws, recipe=recipe, run=run)
        shared.yaml, shared.data_code = gr.Code(), gr.Code()
        from workbench.ui.lexicon_tab import create_lexicon_tab

        tab = create_lexicon_tab(shared)
    frame = pd.DataFrame([["new", "", "cat", "", ""]], columns=list(COLUMNS))
    # Refused as a sentence in the tab's message line; the editor keeps its text.
    *kept, note = tab["on_save"](frame, "my-lexicon", False, "name: r\n")
    assert "exists" in note and kept == [gr.skip(), gr.skip()]
    assert existing.read_text() == "term\tcategory\nmine\tx\n"
    tab["on_save"](frame, "my-lexicon", True, "name: r\n")
    assert "new" in existing.read_text()


# ---------------------------------------------------------------------------------------
# The generated test: random targets at every writing command.

TARGETS = [
    ".",
    "..",
    "runs",
    "runs/finished",
    "runs/finished/adapter",
    "runs/finished/checkpoints",
    "runs/finished/metrics.jsonl",
    "runs/finished/status.json",
    "notes.txt",
    "recipe.yaml",
    "data",
    "data/clip-list.txt",
    "data/sub/../..",
]
# For eval a new file whose sibling utterances.csv is the user's.
EVAL_TARGETS = [*TARGETS, "data/x.json"]


def command(kind: str, target: str, world: dict[str, Path]) -> list:
    recipe, run = world["recipe"], world["run"]
    if kind == "export":
        return ["export", run, "--out", target]
    if kind == "export-merged":
        return ["export", run, "--format", "merged", "--out", target]
    if kind == "train":
        return ["train", recipe, "--run-dir", target]
    if kind == "run":
        return ["run", recipe, "--run-dir", target]
    if kind == "eval":
        return [
            "eval",
            recipe,
            "--adapter",
            run / "adapter",
            "--data",
            world["general"],
            "--out",
            target,
        ]
    return ["data", "prepare", recipe, "--out", target]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    kind=st.sampled_from(["export", "export-merged", "train", "run", "eval", "prepare"]),
    pick=st.integers(min_value=0, max_value=len(EVAL_TARGETS) - 1),
    absolute=st.booleans(),
)
def test_no_pre_existing_byte_changes_whatever_the_target(world, capsys, kind, pick, absolute):
    work = world["work"]
    target = (EVAL_TARGETS if kind == "eval" else TARGETS)[pick % (len(TARGETS) + (kind == "eval"))]
    if absolute:
        target = str(work / target)
    before = snapshot(work.parent)
    code, err = run_cli(command(kind, target, world), work, capsys)
    assert code != 0, f"{kind} {target} was accepted"
    assert "Traceback" not in err and "error:" in err, err
    assert not kept(before, snapshot(work.parent))
