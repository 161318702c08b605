"""The app's overload answers, with a stand-in decoder (no model): 503 before the model is
ready, 429 when the queue is full, and the queue's batches."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from tests.conftest import LIBRIVOX
from workbench.serve.app import create_app
from workbench.serve.batching import BatchQueue
from workbench.serve.config import ServeConfig
from workbench.serve.engine import ModelHost
from workbench.transcribe import Transcript

CLIP = sorted(LIBRIVOX.glob("*.wav"))[0].read_bytes()


def post(client: TestClient) -> tuple[int, dict]:
    r = client.post(
        "/v1/audio/transcriptions",
        files={"file": ("a.wav", CLIP, "audio/wav")},
        data={"model": "base-model"},
    )
    return r.status_code, r.json()


def test_not_ready_then_queue_full_then_served():
    gate, batches = threading.Event(), []

    def run(key, audios):
        gate.wait(20)
        batches.append(len(audios))
        return [Transcript("hello", (), len(a) / 16000) for a in audios]

    host = ModelHost(ServeConfig(model="base-model"))
    queue = BatchQueue(run, max_batch=1, max_wait=0.0, max_queue=1)
    client = TestClient(create_app(host, queue))
    status, body = post(client)
    assert status == 503 and body["error"]["code"] == "not_ready"
    assert client.get("/ready").status_code == 503
    assert client.get("/health").json() == {"status": "ok"}

    queue.start()
    queue.wait_ready(5)
    with ThreadPoolExecutor(4) as pool:
        running = pool.submit(post, client)  # taken by the worker, held at the gate
        while queue.stats().batches == 0 and queue.depth == 0:
            time.sleep(0.01)
        time.sleep(0.1)
        waiting = pool.submit(post, client)  # fills the queue of one
        while queue.depth < 1:
            time.sleep(0.01)
        status, body = post(client)
        assert status == 429 and body["error"]["code"] == "queue_full"
        assert set(body["error"]) == {"message", "type", "param", "code"}
        gate.set()
        assert running.result(20) == (
            200,
            {"text": "hello", "usage": {"type": "duration", "seconds": 8}},
        )
        assert waiting.result(20)[0] == 200
    assert batches == [1, 1]
    assert client.get("/ready").json()["batches"]["requests"] == 2
    queue.close()
