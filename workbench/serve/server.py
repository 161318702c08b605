"""Running the app: bind, load the model on the worker thread, serve until stopped."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from workbench.serve.batching import BatchQueue
from workbench.serve.config import ServeConfig
from workbench.serve.engine import ModelHost, decode


class ServeError(RuntimeError):
    """The server could not start (a model or adapter that does not load, a busy port)."""


def build(config: ServeConfig) -> tuple[ModelHost, BatchQueue]:
    """The model host (package files checked, model not loaded yet) and its batch queue."""
    host = ModelHost(config)
    queue = BatchQueue(
        lambda key, audios: decode(host, key, audios),
        max_batch=config.max_batch,
        max_wait=config.max_wait_ms / 1000,
        max_queue=config.max_queue,
    )
    return host, queue


def serve(config: ServeConfig, log: Callable[[str], None] = print) -> None:
    """Serve until interrupted (Ctrl-C, SIGTERM).

    The port is bound first and answers ``/health`` at once and ``/ready`` with 503 until
    the model has loaded on the worker thread.

    Raises:
        ServeError: the model or an adapter failed to load, or the port could not be bound.
    """
    import uvicorn

    from workbench.serve.app import create_app

    host, queue = build(config)
    app = create_app(host, queue)
    server = uvicorn.Server(
        uvicorn.Config(app, host=config.host, port=config.port, log_level="warning", lifespan="off")
    )
    start = time.perf_counter()
    queue.start(on_start=host.load)

    def announce() -> None:
        while not queue.wait_ready(0.5):
            if queue.start_error is not None:
                server.should_exit = True
                return
        names = [m.name for m in host.models.values() if m.adapter]
        log(
            f"ready in {time.perf_counter() - start:.1f} s: {config.model}"
            + (f" and adapter(s) {', '.join(names)}" if names else "")
            + f" at {config.url} (max batch {config.max_batch}, wait {config.max_wait_ms:g} ms)"
        )
        for model in host.models.values():
            if model.adapter:
                log(f"  {model.name}: {model.folder} ({model.note})")

    threading.Thread(target=announce, name="announce", daemon=True).start()
    log(f"loading {config.model} ...; listening on {config.url}")
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind; its log line said why
        raise ServeError(f"could not listen on {config.host}:{config.port}") from None
    finally:
        queue.close()
    if queue.start_error is not None:
        raise ServeError(str(queue.start_error))
    if not server.started:
        raise ServeError(f"could not listen on {config.host}:{config.port} (in use?)")
