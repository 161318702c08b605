"""The batch queue: same-key requests grouped, keys batched apart, a bounded queue."""

from __future__ import annotations

import threading
import time

import pytest

from workbench.serve.batching import BatchQueue, QueueClosed, QueueFull


class Recorder:
    """A run_batch that records its batches; ``gate`` holds the worker until set."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[int]]] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, key, items):
        self.gate.wait(10)
        self.batches.append((key, list(items)))
        return [f"{key}:{i}" for i in items]


def test_same_model_requests_share_a_batch():
    run = Recorder()
    queue = BatchQueue(run, max_batch=8, max_wait=0.5, max_queue=16)
    queue.start()
    futures = [queue.submit("clinic", i) for i in range(5)]
    assert [f.result(5) for f in futures] == [f"clinic:{i}" for i in range(5)]
    assert run.batches == [("clinic", [0, 1, 2, 3, 4])]
    assert queue.stats().largest == 5
    queue.close()


def test_a_full_batch_goes_without_waiting_out_the_window():
    run = Recorder()
    queue = BatchQueue(run, max_batch=3, max_wait=30.0, max_queue=16)
    queue.start()
    start = time.monotonic()
    futures = [queue.submit("base", i) for i in range(3)]
    assert [f.result(5) for f in futures] == ["base:0", "base:1", "base:2"]
    assert time.monotonic() - start < 5


def test_a_lone_client_waits_once_then_a_backlog_brings_the_wait_back():
    run = Recorder()
    queue = BatchQueue(run, max_batch=8, max_wait=1.0, max_queue=16)
    queue.start()
    start = time.monotonic()
    assert queue.submit("base", 0).result(5) == "base:0"
    assert time.monotonic() - start >= 1.0  # waited out the window: nobody else came
    start = time.monotonic()
    assert queue.submit("base", 1).result(5) == "base:1"
    assert time.monotonic() - start < 0.5  # after a batch of one: at once
    run.gate.clear()  # hold the next batch while a burst arrives
    first = queue.submit("base", 2)
    time.sleep(0.2)
    burst = [queue.submit("base", i) for i in range(3, 6)]
    run.gate.set()
    assert [f.result(5) for f in [first, *burst]] == [f"base:{i}" for i in range(2, 6)]
    assert run.batches[2:] == [("base", [2]), ("base", [3, 4, 5])]  # the backlog batched
    start = time.monotonic()
    late = [queue.submit("base", 6)]
    time.sleep(0.3)
    late.append(queue.submit("base", 7))  # within the window, which is back
    assert [f.result(5) for f in late] == ["base:6", "base:7"]
    assert run.batches[-1] == ("base", [6, 7])
    queue.close()


def test_requests_are_batched_per_adapter_in_arrival_order():
    run = Recorder()
    run.gate.clear()  # the worker holds its first batch while the others arrive
    queue = BatchQueue(run, max_batch=3, max_wait=0.0, max_queue=32)
    queue.start()
    first = queue.submit("base", 0)
    time.sleep(0.2)  # taken as a batch of one, held at the gate
    keys = ["clinic", "plant", "clinic", "plant", "clinic", "clinic", "base"]
    futures = [queue.submit(k, i) for i, k in enumerate(keys, 1)]
    run.gate.set()
    assert first.result(5) == "base:0"
    assert [f.result(5) for f in futures] == [f"{k}:{i}" for i, k in enumerate(keys, 1)]
    assert run.batches == [
        ("base", [0]),
        ("clinic", [1, 3, 5]),  # the oldest waiting key first, at most max_batch
        ("plant", [2, 4]),
        ("clinic", [6]),
        ("base", [7]),
    ]


def test_a_full_queue_refuses_and_recovers():
    run = Recorder()
    run.gate.clear()
    queue = BatchQueue(run, max_batch=1, max_wait=0.0, max_queue=2)
    queue.start()
    held = queue.submit("base", 0)
    time.sleep(0.2)  # the worker holds request 0; two more fill the queue
    waiting = [queue.submit("base", 1), queue.submit("base", 2)]
    with pytest.raises(QueueFull, match="2 requests are waiting"):
        queue.submit("base", 3)
    run.gate.set()
    assert [f.result(5) for f in [held, *waiting]] == ["base:0", "base:1", "base:2"]
    assert queue.submit("base", 4).result(5) == "base:4"


def test_a_failing_batch_fails_only_its_requests():
    def run(key, items):
        if key == "bad":
            raise RuntimeError("decoder broke")
        return items

    queue = BatchQueue(run, max_batch=4, max_wait=0.05)
    queue.start()
    bad, good = queue.submit("bad", 1), queue.submit("good", 2)
    with pytest.raises(RuntimeError, match="decoder broke"):
        bad.result(5)
    assert good.result(5) == 2


def test_start_failure_and_close():
    def broken_start():
        raise OSError("no such model")

    queue = BatchQueue(lambda k, items: items)
    queue.start(on_start=broken_start)
    queue.join(5)
    assert not queue.ready and "no such model" in str(queue.start_error)
    with pytest.raises(QueueClosed, match="failed to start"):
        queue.submit("base", 1)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="max_batch"):
        BatchQueue(lambda k, i: i, max_batch=0)
    with pytest.raises(ValueError, match="max_queue"):
        BatchQueue(lambda k, i: i, max_queue=0)
