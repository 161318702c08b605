"""A bounded request queue with dynamic batching, served by one worker thread.

Requests carry a key (the model and the decoding settings they need); the worker takes the
oldest request, waits up to ``max_wait`` from its arrival for more requests with the same key,
and runs up to ``max_batch`` of them as one batch. After a batch of one (nobody else was
sending) the next batch takes what is waiting without the wait, so a lone client is served as
fast as by a server that never batches; a batch of more than one brings the wait back.
Requests with other keys wait their turn in arrival order, so each adapter gets its own
batches and none starves. Nothing here knows about models: the worker calls
``run_batch(key, items)``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any


class QueueFull(RuntimeError):
    """The queue holds ``max_queue`` requests already; the caller should retry later."""


class QueueClosed(RuntimeError):
    """The queue no longer takes requests (the server is stopping or failed to start)."""


@dataclass
class _Job:
    key: Hashable
    item: Any
    future: Future
    arrived: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class BatchStats:
    """Counts since start: batches run, requests in them, the largest batch."""

    batches: int
    requests: int
    largest: int


class BatchQueue:
    """Queue requests by key and run them in batches on one worker thread.

    ``run_batch(key, items)`` returns one result per item, in order; an exception fails every
    request of that batch (and only that batch). ``on_start`` runs first on the worker thread
    (e.g. loading the model there); the queue is ``ready`` once it has returned.
    """

    def __init__(
        self,
        run_batch: Callable[[Hashable, list[Any]], Sequence[Any]],
        *,
        max_batch: int = 8,
        max_wait: float = 0.02,
        max_queue: int = 128,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch: expected a positive integer, got {max_batch}")
        if max_wait < 0:
            raise ValueError(f"max_wait: expected 0 or more seconds, got {max_wait}")
        if max_queue < 1:
            raise ValueError(f"max_queue: expected a positive integer, got {max_queue}")
        self.run_batch = run_batch
        self.max_batch, self.max_wait, self.max_queue = max_batch, max_wait, max_queue
        self._pending: list[_Job] = []
        self._cond = threading.Condition()
        self._closed = False
        self._close_reason = "the server is not taking requests"
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._batches = self._requests = self._largest = 0
        self._alone = False  # the last batch was of one request: do not wait for company
        self.start_error: BaseException | None = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and not self._closed

    @property
    def depth(self) -> int:
        """Requests waiting (not counting the batch being run)."""
        with self._cond:
            return len(self._pending)

    def stats(self) -> BatchStats:
        with self._cond:
            return BatchStats(self._batches, self._requests, self._largest)

    def start(self, on_start: Callable[[], None] | None = None) -> None:
        """Start the worker thread; ``on_start`` runs on it before the first batch."""
        self._thread = threading.Thread(
            target=self._work, args=(on_start,), name="batch-worker", daemon=True
        )
        self._thread.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until ``on_start`` has returned (True) or the timeout passed (False)."""
        return self._ready.wait(timeout)

    def submit(self, key: Hashable, item: Any) -> Future:
        """Queue one request; its future holds the result.

        Raises:
            QueueFull: ``max_queue`` requests are waiting already.
            QueueClosed: the queue was closed.
        """
        job = _Job(key, item, Future())
        with self._cond:
            if self._closed:
                raise QueueClosed(self._close_reason)
            if len(self._pending) >= self.max_queue:
                raise QueueFull(
                    f"{len(self._pending)} requests are waiting (the limit is {self.max_queue})"
                )
            self._pending.append(job)
            self._cond.notify()
        return job.future

    def close(self, reason: str = "the server is stopping") -> None:
        """Take no more requests; fail those still waiting; let the worker end."""
        with self._cond:
            if not self._closed:
                self._closed, self._close_reason = True, reason
            pending, self._pending = self._pending, []
            self._cond.notify_all()
        for job in pending:
            job.future.set_exception(QueueClosed(reason))

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _next_batch(self) -> list[_Job] | None:
        """The next batch: the oldest request and up to max_batch - 1 more of its key."""
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            key = self._pending[0].key
            deadline = self._pending[0].arrived + (0.0 if self._alone else self.max_wait)
            while not self._closed:
                same = sum(1 for j in self._pending if j.key == key)
                left = deadline - time.monotonic()
                if same >= self.max_batch or left <= 0:
                    break
                self._cond.wait(left)
            if self._closed:
                return None
            batch = [j for j in self._pending if j.key == key][: self.max_batch]
            taken = {id(j) for j in batch}
            self._pending = [j for j in self._pending if id(j) not in taken]
            self._alone = len(batch) == 1
            return batch

    def _work(self, on_start: Callable[[], None] | None) -> None:
        if on_start is not None:
            try:
                on_start()
            except BaseException as exc:  # reported by whoever started the server
                self.start_error = exc
                self.close(f"the server failed to start: {exc}")
                return
        self._ready.set()
        while (batch := self._next_batch()) is not None:
            live = [j for j in batch if j.future.set_running_or_notify_cancel()]
            if not live:
                continue
            with self._cond:
                self._batches += 1
                self._requests += len(live)
                self._largest = max(self._largest, len(live))
            try:
                results = list(self.run_batch(live[0].key, [j.item for j in live]))
                if len(results) != len(live):
                    raise RuntimeError(f"{len(results)} results for a batch of {len(live)}")
            except Exception as exc:  # one bad batch fails its requests, not the server
                for job in live:
                    job.future.set_exception(exc)
                continue
            for job, result in zip(live, results, strict=True):
                job.future.set_result(result)
