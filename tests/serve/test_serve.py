"""``workbench serve`` as a real subprocess: two adapter packages on the tiny Whisper, called
with the ``openai`` client and with curl, against ``workbench transcribe --adapter``."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from safetensors.torch import load_file, save_file

from tests.conftest import LIBRIVOX, PROJECT
from tests.train.conftest import tiny_package

openai = pytest.importorskip("openai", reason="pip install -e '.[test]' installs openai")

KEY = "test-key-0123"
# The random tiny model never stops on its own: a few tokens show equality as well as 444.
TOKENS = "24"
CLIPS = sorted(LIBRIVOX.glob("*.wav"))[:3]


@pytest.fixture(scope="module")
def packages(tmp_path_factory, tiny_model_dir, speech_manifests):
    """Two adapter packages: 'clinic' (with a lexicon its recipe prompts with) and a second
    one with other weights and no lexicon, served as 'plant'."""
    folder = tmp_path_factory.mktemp("serve")
    clinic = tiny_package(
        folder,
        tiny_model_dir,
        speech_manifests,
        "tiny-serve",
        "lora: {rank: 4, top_encoder_layers: 1, top_decoder_layers: 1}\n"
        "train: {batch_size: 2, max_steps: 2, learning_rate: 5.0e-2}\n",
        package="clinic",
    )
    shutil.copy(PROJECT / "domains" / "medical" / "lexicon.tsv", clinic / "lexicon.tsv")
    settings = yaml.safe_load((clinic / "recipe.yaml").read_text())
    settings["lexicon"] = {"prompt": True}
    settings["train"]["prompt_p"] = 0.5
    (clinic / "recipe.yaml").write_text(yaml.safe_dump(settings))
    other = folder / "pkg-other"
    shutil.copytree(clinic, other)
    (other / "lexicon.tsv").unlink()
    weights = load_file(str(other / "adapter_model.safetensors"))
    save_file({k: v * 3 for k, v in weights.items()}, str(other / "adapter_model.safetensors"))
    return clinic, other


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workbench(*args: str) -> list[str]:
    return [sys.executable, "-m", "workbench.cli", *args]


def child_env(**extra: str) -> dict:
    # One thread each: on a shared 2-core machine two OpenMP threads a process can make
    # decoding many times slower; server and `transcribe` compute alike either way.
    return {**os.environ, "PYTHONPATH": str(PROJECT), "OMP_NUM_THREADS": "1", **extra}


@pytest.fixture(scope="module")
def server(packages, tiny_model_dir, tmp_path_factory):
    clinic, other = packages
    port = free_port()
    log = tmp_path_factory.mktemp("serve_log") / "serve.log"
    args = [
        "serve",
        "--model", str(tiny_model_dir),
        "--adapter", str(clinic),
        "--adapter", f"plant={other}",
        "--port", str(port),
        "--api-key-env", "WB_TEST_KEY",
        "--max-upload-mb", "1",
        "--max-audio-seconds", "60",
        "--max-new-tokens", TOKENS,
    ]  # fmt: skip
    with open(log, "w") as out:
        proc = subprocess.Popen(
            workbench(*args), stdout=out, stderr=subprocess.STDOUT, env=child_env(WB_TEST_KEY=KEY)
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"workbench serve exited {proc.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"workbench serve not ready in 300 s:\n{log.read_text()}")
            time.sleep(0.3)
        yield {"url": base, "proc": proc, "log": log, "model": str(tiny_model_dir)}
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def transcribe_cli(model: str, adapter: Path, prompt: bool) -> dict[str, str]:
    """``workbench transcribe --adapter`` on the clips: {file name: text}."""
    args = ["transcribe", *map(str, CLIPS), "--model", model, "--adapter", str(adapter)]
    args += ["--max-new-tokens", TOKENS]
    done = subprocess.run(
        workbench(*args, *(["--lexicon-prompt"] if prompt else [])),
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    return {Path(row[0]).name: row[-1] for row in rows}


def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server["url"] + "/v1", api_key=KEY, max_retries=0, timeout=300)


def test_models_and_health(server):
    listed = client(server).models.list()
    assert [m.id for m in listed.data] == [server["model"], "clinic", "plant"]
    health = httpx.get(server["url"] + "/health")
    assert health.json() == {"status": "ok"}
    assert "lexicon prompt on" in server["log"].read_text()  # clinic's package settings


def test_adapters_transcribe_as_workbench_transcribe(server, packages):
    """Each adapter's transcripts equal `workbench transcribe --adapter` on the same clips:
    with its package's lexicon prompt by default, without it when the request says so."""
    clinic, other = packages
    api = client(server)

    def served(model: str, **extra) -> dict[str, str]:
        out = {}
        for clip in CLIPS:
            with open(clip, "rb") as f:
                text = api.audio.transcriptions.create(
                    model=model, file=f, response_format="text", **extra
                )
            out[clip.name] = text.strip()
        return out

    assert served("clinic") == transcribe_cli(server["model"], clinic, prompt=True)
    assert served("clinic", extra_body={"lexicon": False}) == transcribe_cli(
        server["model"], clinic, prompt=False
    )
    assert served("plant") == transcribe_cli(server["model"], other, prompt=False)


def curl(server, *args: str, key: str | None = KEY) -> tuple[int, str]:
    auth = ["-H", f"Authorization: Bearer {key}"] if key else []
    done = subprocess.run(
        ["curl", "-sS", "-w", "\n%{http_code}", *auth, *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def test_curl_response_formats(server):
    url = server["url"] + "/v1/audio/transcriptions"
    clip = f"file=@{CLIPS[0]}"
    status, body = curl(server, url, "-F", clip, "-F", "model=plant")
    assert status == 200 and set(json.loads(body)) == {"text", "usage"}
    text = json.loads(body)["text"]
    status, body = curl(
        server, url, "-F", clip, "-F", "model=plant", "-F", "response_format=verbose_json"
    )
    verbose = json.loads(body)
    assert status == 200 and verbose["text"] == text and verbose["language"] == "english"
    assert verbose["duration"] == pytest.approx(7.1, abs=0.01)
    if text:
        (segment,) = verbose["segments"]
        assert segment["start"] == 0.0 and segment["end"] == pytest.approx(7.1, abs=0.01)
        assert segment["text"] == text and segment["tokens"]
    status, srt = curl(server, url, "-F", clip, "-F", "model=plant", "-F", "response_format=srt")
    assert status == 200 and (not text or srt.startswith("1\n00:00:00,000 --> 00:00:07,1"))
    status, vtt = curl(server, url, "-F", clip, "-F", "model=plant", "-F", "response_format=vtt")
    assert status == 200 and vtt.startswith("WEBVTT\n")
    assert not text or "00:00:00.000 --> 00:00:07.1" in vtt


def error_of(status: int, body: str) -> tuple[int, dict]:
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return status, error


def test_bad_requests_get_the_openai_error_shape(server, tmp_path):
    url = server["url"] + "/v1/audio/transcriptions"
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio" * 10)
    status, error = error_of(*curl(server, url, "-F", f"file=@{junk}", "-F", "model=clinic"))
    assert status == 400 and error["code"] == "invalid_audio" and error["param"] == "file"
    assert "junk.wav" in error["message"] and "cannot decode" in error["message"]

    clip = f"file=@{CLIPS[0]}"
    status, error = error_of(*curl(server, url, "-F", clip, "-F", "model=whisper-9"))
    assert status == 404 and error["code"] == "model_not_found"
    assert "clinic" in error["message"] and "plant" in error["message"]

    big = tmp_path / "big.wav"
    big.write_bytes(os.urandom(3 * 1024 * 1024))
    status, error = error_of(*curl(server, url, "-F", f"file=@{big}", "-F", "model=clinic"))
    assert status == 413 and error["code"] == "file_too_large"

    status, error = error_of(
        *curl(server, url, "-F", clip, "-F", "model=clinic", "-F", "response_format=docx")
    )
    assert status == 400 and error["param"] == "response_format"
    status, error = error_of(
        *curl(server, url, "-F", clip, "-F", "model=clinic", "-F", "language=fr")
    )
    assert status == 400 and "English-only" in error["message"]

    status, error = error_of(*curl(server, url, "-F", clip, "-F", "model=clinic", key=None))
    assert status == 401 and error["code"] == "invalid_api_key"

    with pytest.raises(openai.NotFoundError) as caught, open(CLIPS[0], "rb") as f:
        client(server).audio.transcriptions.create(model="nope", file=f)
    assert caught.value.body["code"] == "model_not_found"


def test_a_burst_of_64_concurrent_requests_loses_none(server):
    api = openai.AsyncOpenAI(
        base_url=server["url"] + "/v1", api_key=KEY, max_retries=0, timeout=600
    )
    models = ["clinic", "plant", server["model"]]

    async def one(i: int) -> str:
        with open(CLIPS[i % len(CLIPS)], "rb") as f:
            result = await api.audio.transcriptions.create(model=models[i % 3], file=f)
        return result.text

    async def burst() -> list[str]:
        return await asyncio.gather(*(one(i) for i in range(64)))

    texts = asyncio.run(burst())
    assert len(texts) == 64 and all(isinstance(t, str) for t in texts)
    # Same clip, same model: the same text, whichever batch it landed in.
    for i in range(64):
        assert texts[i] == texts[i % 9]
    stats = httpx.get(server["url"] + "/ready").json()["batches"]
    assert stats["largest"] > 1  # concurrent requests were decoded together
    assert server["proc"].poll() is None


def test_refuses_to_start_on_a_public_address_without_a_key(tiny_model_dir):
    done = subprocess.run(
        workbench("serve", "--model", str(tiny_model_dir), "--host", "0.0.0.0"),
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=120,
    )
    assert done.returncode == 2
    assert "needs an API key" in done.stderr and "Traceback" not in done.stderr


def test_refuses_a_folder_that_is_no_adapter(tiny_model_dir, tmp_path):
    done = subprocess.run(
        workbench("serve", "--model", str(tiny_model_dir), "--adapter", str(tmp_path)),
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=120,
    )
    assert done.returncode == 2
    assert "not an adapter" in done.stderr and "Traceback" not in done.stderr
