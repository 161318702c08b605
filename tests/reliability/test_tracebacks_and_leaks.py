"""Tracebacks, leaks and hostile lexicon text (issue 19, items 10-12): each case gets one
clear line (file:line and what was wrong), never a traceback, and tells nothing of the
server's files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.train.conftest import write_tiny_recipe
from workbench.cli import main
from workbench.lexicon import LexiconError, load_lexicon
from workbench.recipe import RecipeError, load_recipe

pytestmark = pytest.mark.reliability


def cli(args: list, capsys) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def lexicon(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "lexicon.tsv"
    path.write_text("term\tspoken\tcategory\n" + "".join(r + "\n" for r in rows), "utf-8")
    return path


# ---------------------------------------------------------------------------------------
# 10. tracebacks


def test_a_lexicon_line_over_128_kb_is_a_problem_with_its_line(tmp_path):
    path = lexicon(tmp_path, "ok\t\tdrug", "huge\t" + "x" * 140_000 + "\tdrug")
    with pytest.raises(LexiconError, match=r"lexicon.tsv:3: line of 14\d{4} characters"):
        load_lexicon(path)


def test_a_symlink_loop_in_an_audiofolder_drops_its_row_not_the_prepare(tmp_path, capsys):
    folder = tmp_path / "clips"
    folder.mkdir()
    os.symlink("b.wav", folder / "a.wav")
    os.symlink("a.wav", folder / "b.wav")
    os.symlink(".", folder / "self")
    import numpy as np
    import soundfile as sf

    t = np.arange(16000) / 16000
    sf.write(folder / "good.wav", 0.3 * np.sin(2 * np.pi * 220 * t), 16000)
    (folder / "metadata.csv").write_text(
        "file_name,transcription\na.wav,hello there\ngood.wav,a good clip\n"
    )
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"name: loop\nbase_model: bundled:tiny.en\ndata:\n"
        f"  train: [{{source: audiofolder, path: {folder}}}]\n  eval_fraction: 0\n"
    )
    code, err = cli(["data", "prepare", recipe, "--out", tmp_path / "out"], capsys)

    assert "Traceback" not in err
    assert code == 0, err
    prepared = (tmp_path / "out" / "prepared.json").read_text()
    assert "metadata.csv:2" in prepared and "symbolic-link loop" in prepared


def test_out_naming_a_file_is_one_line(tmp_path, capsys, tiny_model_dir, speech_manifests):
    recipe = write_tiny_recipe(tmp_path / "r.yaml", tiny_model_dir, speech_manifests, "f")
    mine = tmp_path / "mine.txt"
    mine.write_text("keep me")
    code, err = cli(["data", "prepare", recipe, "--out", mine], capsys)
    assert code != 0 and "is a file" in err and "Traceback" not in err
    run = tmp_path / "run"
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_config.json").write_text("{}")
    code, err = cli(["export", run, "--out", mine], capsys)
    assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert mine.read_text() == "keep me"


@pytest.mark.parametrize("spec", ["bad repo id!!", "a/b/c", "owner/na me", "x" * 200])
def test_a_bad_model_id_is_one_line(tmp_path, capsys, spec):
    clip = tmp_path / "c.wav"
    clip.write_bytes(b"")
    code, err = cli(["transcribe", clip, "--model", spec], capsys)
    assert code != 0 and err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert "hub id" in err


def test_a_bad_lexicon_in_an_adapter_package_with_lexicon_prompt(
    tmp_path, capsys, tiny_model_dir, speech_manifests
):
    from tests.train.conftest import tiny_package

    package = tiny_package(
        tmp_path,
        tiny_model_dir,
        speech_manifests,
        "lexpkg",
        "lora: {rank: 2, top_encoder_layers: 1, top_decoder_layers: 1}\n"
        "train: {batch_size: 2, max_steps: 1}\n",
    )
    (package / "lexicon.tsv").write_text("name\tkind\naspirin\tdrug\n")  # no term column
    from tests.conftest import LIBRIVOX

    clip = sorted(LIBRIVOX.glob("*.wav"))[0]
    code, err = cli(
        [
            "transcribe",
            clip,
            "--model",
            tiny_model_dir,
            "--adapter",
            package,
            "--lexicon-prompt",
        ],
        capsys,
    )
    assert code != 0 and "Traceback" not in err
    assert "lexicon.tsv:1" in err and "--lexicon-prompt" in err


# ---------------------------------------------------------------------------------------
# 11. leaks


@pytest.mark.parametrize("domain", ["../../../tmp/x", "/etc", "medical/../medical", ".."])
def test_a_domain_is_a_pack_name_never_a_path(tmp_path, domain):
    outside = tmp_path / "x"
    outside.mkdir()
    (outside / "domain.yaml").write_text("base_model: bundled:tiny.en\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: r\ndomain: {domain!r}\nbase_model: bundled:tiny.en\n")
    with pytest.raises(RecipeError, match="not a pack name"):
        load_recipe(recipe, check_model=False)


def test_ui_validation_tells_nothing_of_server_paths(tmp_path):
    from workbench.ui.recipe_editor import check_text
    from workbench.ui.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws", tmp_path / "runs")
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("x")
    secret_dir = tmp_path / "secret_dir"
    secret_dir.mkdir()
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    shown = set()
    for source in ("manifest", "audiofolder"):
        for path in (secret_file, secret_dir, tmp_path / "missing", loop):
            text = (
                "name: x\nbase_model: bundled:tiny.en\n"
                f"data:\n  train: [{{source: {source}, path: {path}}}]\n"
            )
            _, problems, _ = check_text(text, ws.recipes, ws)
            shown.add(" ".join(str(p).replace(str(path), "PATH") for p in problems))
    for model in (secret_dir, tmp_path / "missing"):
        _, problems, _ = check_text(f"name: x\nbase_model: {model}\n", ws.recipes, ws)
        words = " ".join(str(p).replace(str(model), "PATH") for p in problems)
        shown.add(words.replace("recipe:2: base_model", "recipe:6: data.train[0].path"))
    # One message whatever the path is: a file, a folder, nothing, a loop.
    assert len(shown) == 1, shown
    assert "outside the workspace" in shown.pop()


def test_login_failures_are_limited_per_client():
    import gradio as gr
    from gradio.routes import App
    from starlette.testclient import TestClient

    from app import app_kwargs_for

    auth = [("workbench", "right")]
    with gr.Blocks() as blocks:
        gr.Markdown("x")
    blocks.auth = auth
    app = App.create_app(blocks, app_kwargs=app_kwargs_for(auth))
    guesser = TestClient(app, client=("10.0.0.9", 5000))
    codes = [
        guesser.post("/login", data={"username": "workbench", "password": f"guess{i}"}).status_code
        for i in range(8)
    ]
    assert codes[:5] == [400] * 5 and codes[5:] == [429] * 3
    # Even the right password waits now; another client is not held up.
    assert (
        guesser.post("/login", data={"username": "workbench", "password": "right"}).status_code
        == 429
    )
    other = TestClient(app, client=("10.0.0.7", 5000))
    assert (
        other.post("/login", data={"username": "workbench", "password": "right"}).status_code == 200
    )


def test_password_on_the_command_line_warns_and_a_prompt_is_offered(monkeypatch):
    from app import auth_for, parse_args

    monkeypatch.delenv("WORKBENCH_PASSWORD", raising=False)
    auth, warning = auth_for(parse_args(["--host", "0.0.0.0", "--password", "pw"]))
    assert auth == [("workbench", "pw")] and "ps" in warning
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "typed")
    auth, warning = auth_for(parse_args(["--host", "0.0.0.0", "--ask-password"]))
    assert auth == [("workbench", "typed")] and warning is None
    monkeypatch.setenv("WORKBENCH_PASSWORD", "env")
    assert auth_for(parse_args(["--host", "0.0.0.0"])) == ([("workbench", "env")], None)


# ---------------------------------------------------------------------------------------
# 12. hostile lexicon text


@pytest.mark.parametrize(
    ("row", "said"),
    [
        ("\u200b\t\tdrug", "U+200B"),
        ("\u200b\u200c\u2060\t\tdrug", "U+200B"),
        ("abc\u202edef\t\tdrug", "bidirectional"),
        ("x\u2066y\t\tdrug", "bidirectional"),
        ("ok\tsay \x1b[31m it\tdrug", "control character U+001B"),
        ("bell\x07\t\tdrug", "control character U+0007"),
        ("m\u0435toprolol\t\tdrug", "looks the same as 'metoprolol' on line 2"),
        ("\uff4d\uff45\uff54\uff4f\uff50\uff52\uff4f\uff4c\uff4f\uff4c\t\tdrug", "looks the same"),
        ("Metoprolol\t\tdrug", "duplicate term"),
    ],
)
def test_hostile_terms_are_refused_with_file_and_line(tmp_path, row, said):
    path = lexicon(tmp_path, "metoprolol\t\tdrug", row)
    with pytest.raises(LexiconError) as caught:
        load_lexicon(path)
    message = str(caught.value)
    assert f"{path}:3:" in message and said in message
    assert "\u202e" not in message and "\x1b" not in message  # shown escaped, never raw


def test_shipped_lexicons_and_real_scripts_still_load(tmp_path):
    from workbench.paths import domains_root

    for path in domains_root().glob("*/lexicon*.tsv"):
        assert len(load_lexicon(path)) > 0
    ok = lexicon(
        tmp_path,
        "β-blocker\t\tdrug",
        "beta blocker\t\tdrug",
        "ميخانيكي\t\tword",
        "می\u200cخواهم\t\tword",
        "心电图\t\tword",
        "café\t\tword",
    )
    assert len(load_lexicon(ok)) == 6
