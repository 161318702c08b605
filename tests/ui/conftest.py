"""A real app.py server over a workspace holding a tiny recipe, and a real headless Chromium."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.train.conftest import write_tiny_recipe

try:
    from playwright.sync_api import expect

    # Assertions wait 5 s by default: too short for a page answering on 2 loaded cores (the
    # persona test failed on that about one run in six). Actions wait 60 s (the page fixture).
    expect.set_options(timeout=30_000)
except ImportError:  # the browser tests are skipped without playwright
    pass

PROJECT = Path(__file__).resolve().parents[2]
SCREENSHOTS = PROJECT / "build" / "ui-screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]


def chromium_path() -> str:
    path = os.environ.get("WORKBENCH_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail(
            "Debian's chromium is not installed; scripts/setup.sh --test installs it "
            "(apt-get install chromium)"
        )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_ui_recipe(folder: Path, model_dir: Path, manifests: dict, name: str = "tiny-ui") -> Path:
    """A recipe that trains the tiny model for a few steps and evaluates it on real clips."""
    folder.mkdir(parents=True, exist_ok=True)
    return write_tiny_recipe(
        folder / f"{name}.yaml",
        model_dir,
        manifests,
        name,
        data_extra=f"  eval: [{{source: manifest, path: {manifests['replay']}}}]\n"
        f"  general: [{{source: manifest, path: {manifests['general']}}}]\n",
        extra="augment: {speed: null, noise: null}\n"
        "lora: {rank: 4, alpha: 8, top_encoder_layers: 1, top_decoder_layers: 1}\n"
        "train: {batch_size: 2, max_steps: 4, learning_rate: 1.0e-2, log_steps: 1, "
        "save_steps: 2}\n"
        # A random model never says end-of-text: a short cap keeps its decoding quick.
        "eval: {batch_size: 4, max_new_tokens: 24}\n",
    )


def in_workspace(ws: Path, model_dir: Path, manifests: dict) -> tuple[Path, dict]:
    """Copies of the tiny model and the manifests inside the workspace, where the UI reads."""
    model = ws / "models" / "tiny"
    shutil.copytree(model_dir, model)
    (ws / "data").mkdir(parents=True, exist_ok=True)
    copies = {}
    for split, path in manifests.items():
        copies[split] = ws / "data" / Path(path).name
        shutil.copy(path, copies[split])
    return model, copies


@contextlib.contextmanager
def running_app(
    log_path: Path, ws: Path, runs: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``python app.py`` on a free port, its output in ``log_path``, until the block ends;
    yields (url, process). ``env``: variables added to this process's environment."""
    port = free_port()
    log = open(log_path, "w")  # noqa: SIM115 (open while the server runs)
    proc = subprocess.Popen(
        [
            sys.executable,
            "app.py",
            "--port",
            str(port),
            "--workspace",
            str(ws),
            "--runs",
            str(runs),
        ],
        cwd=PROJECT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(url, timeout=5).read()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    proc.kill()
                    pytest.fail(f"app.py did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(1)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_dir, speech_manifests):
    """``python app.py`` on a free port; yields (url, workspace, runs folder)."""
    root = tmp_path_factory.mktemp("ui")
    ws, runs = root / "workspace", root / "runs"
    model, manifests = in_workspace(ws, tiny_model_dir, speech_manifests)
    tiny_ui_recipe(ws / "recipes", model, manifests)
    with running_app(root / "app.log", ws, runs) as (url, _):
        yield url, ws, runs


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()
