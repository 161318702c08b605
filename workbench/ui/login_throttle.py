"""A limit on password guesses at the UI's login (an ASGI middleware; no gradio here).

Gradio checks the password at ``POST /login`` and answers 400 for a wrong one, without a
limit. This middleware counts the failures per client address: after ``max_failures``
within ``window_s`` seconds that client's logins are answered ``429 Too Many Requests``
(without asking Gradio) until the oldest failure leaves the window. A success clears the
client's count. A global cap (``max_failures * 10`` in the window, all clients together)
slows a guesser that spreads over many addresses.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ANYONE = "*"  # the key of the global count


class LoginThrottle:
    """Pure ASGI middleware: refuses ``POST .../login`` from a client with too many recent
    failures. Pass it to Gradio as ``app_kwargs={"middleware": [Middleware(LoginThrottle)]}``."""

    def __init__(
        self,
        app: ASGIApp,
        max_failures: int = 5,
        window_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self.failures: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self.failures.setdefault(key, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def wait_s(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: it may now)."""
        now = self.clock()
        with self.lock:
            waits = []
            for key, limit in ((client, self.max_failures), (ANYONE, self.max_failures * 10)):
                times = self._recent(key, now)
                if len(times) >= limit:
                    waits.append(times[len(times) - limit] + self.window_s - now)
            return max(waits, default=0.0)

    def record(self, client: str, ok: bool) -> None:
        now = self.clock()
        with self.lock:
            if ok:
                self.failures.pop(client, None)
                return
            for key in (client, ANYONE):
                self._recent(key, now).append(now)
            if len(self.failures) > 10_000:  # forget idle clients; memory stays bounded
                for key in [k for k, v in self.failures.items() if not self._recent(k, now)]:
                    del self.failures[key]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_login = (
            scope.get("type") == "http"
            and scope.get("method") == "POST"
            and scope.get("path", "").rstrip("/").endswith("/login")
        )
        if not is_login:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.wait_s(client)
        if wait > 0:
            await _too_many(send, wait)
            return
        status: list[int] = []

        async def watch(message: MutableMapping[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                status.append(int(message.get("status", 0)))
            await send(message)

        await self.app(scope, receive, watch)
        if status and status[0] in (400, 401, 403):
            self.record(client, ok=False)
        elif status and status[0] < 400:
            self.record(client, ok=True)


async def _too_many(send: Send, wait: float) -> None:
    seconds = max(1, round(wait))
    body = json.dumps({"detail": f"Too many failed logins; try again in {seconds} s."}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(seconds).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
