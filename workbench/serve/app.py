"""The HTTP app: ``POST /v1/audio/transcriptions``, ``GET /v1/models``, ``/health``, ``/ready``.

The event loop only parses requests and waits: audio is decoded in a thread, and models run
on the batch queue's worker thread.
"""

from __future__ import annotations

import asyncio
import hmac
import tempfile
import time
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from workbench.audio import SAMPLE_RATE, AudioError, load_audio
from workbench.serve.batching import BatchQueue, QueueClosed, QueueFull
from workbench.serve.engine import DecodeKey, ModelHost
from workbench.serve.errors import ApiError, not_ready
from workbench.serve.formats import FORMATS, MEDIA_TYPES, render

FIELDS = (
    "file",
    "model",
    "language",
    "prompt",
    "response_format",
    "temperature",
    "lexicon",
    "boost",
    "term_gate",
    "stream",
    "timestamp_granularities[]",
    "timestamp_granularities",
)
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
# Multipart framing and the form's other fields around the file.
FORM_SLACK = 64 * 1024


def _bool_field(value: str | None, name: str, default: bool) -> bool:
    if value is None or value == "":
        return default
    text = value.strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ApiError(400, f"{name}: expected true or false, got {value!r}", param=name)


def _boost_field(value: str | None, default: float) -> float:
    """A request's lexicon boost strength (0: off), or ``default`` when not sent."""
    from workbench.recipe import MAX_BOOST

    if value is None or value.strip() == "":
        return default
    try:
        boost = float(value)
    except ValueError:
        boost = -1.0
    if not 0 <= boost <= MAX_BOOST:  # NaN fails too
        raise ApiError(
            400,
            f"boost: expected a number from 0 (off) to {MAX_BOOST:g}, got {value!r}",
            param="boost",
        )
    return boost


def decode_upload(data: bytes, filename: str, max_seconds: float) -> np.ndarray:
    """The upload as 16 kHz mono float32; ApiError for audio that cannot be used."""
    suffix = Path(filename).suffix[:16] if filename else ""
    with tempfile.NamedTemporaryFile(suffix=suffix) as f:
        f.write(data)
        f.flush()
        try:
            audio = load_audio(f.name)
        except AudioError as exc:
            raise ApiError(
                400, f"file {filename!r}: {exc.reason}", param="file", code="invalid_audio"
            ) from None
    seconds = len(audio) / SAMPLE_RATE
    if seconds > max_seconds:
        raise ApiError(
            400,
            f"file {filename!r}: {seconds:.0f} s of audio; this server takes at most "
            f"{max_seconds:.0f} s a request",
            param="file",
            code="audio_too_long",
        )
    return audio


async def _read_capped(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it grows past ``limit`` bytes."""
    too_large = ApiError(
        413,
        f"the upload is over this server's limit of {limit / 1024 / 1024:.1f} MB",
        param="file",
        code="file_too_large",
    )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + FORM_SLACK:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit + FORM_SLACK:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(host: ModelHost, queue: BatchQueue) -> FastAPI:
    """The app over a model host and the queue that feeds it."""
    config = host.config
    app = FastAPI(title="workbench serve", docs_url=None, redoc_url=None, openapi_url=None)
    started = int(time.time())

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found" if exc.status_code == 404 else None
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return ApiError(exc.status_code, message, code=kind).response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        message = f"internal error: {type(exc).__name__}: {exc}"
        return ApiError(500, message, type="server_error").response()

    def authorize(request: Request) -> None:
        if not config.api_key:
            return
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), config.api_key.encode()
        ):
            raise ApiError(
                401,
                "missing or wrong API key: send 'Authorization: Bearer KEY'",
                code="invalid_api_key",
            )

    @app.get("/health")
    async def health() -> dict:
        """The process is up (it may still be loading the model)."""
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> JSONResponse:
        """200 once the model is loaded and requests are taken; 503 before and after."""
        if not queue.ready:
            reason = (
                f"failed to start: {queue.start_error}"
                if queue.start_error
                else "the model is loading"
            )
            return not_ready(reason).response()
        stats = queue.stats()
        return JSONResponse(
            {
                "status": "ready",
                "models": list(host.models),
                "queue": {"waiting": queue.depth, "limit": config.max_queue},
                "batches": {
                    "run": stats.batches,
                    "requests": stats.requests,
                    "largest": stats.largest,
                },
            }
        )

    @app.get("/v1/models")
    async def models(request: Request) -> dict:
        authorize(request)
        return {
            "object": "list",
            "data": [
                {
                    "id": m.name,
                    "object": "model",
                    "created": started,
                    "owned_by": "workbench",
                    "root": config.model,
                    "adapter": str(m.folder) if m.folder else None,
                    "lexicon_prompt": m.lexicon_prompt is not None,
                    "boost": m.boost,
                    "near_miss": m.near_miss,
                    "term_gate": m.can_gate,
                }
                for m in host.models.values()
            ],
        }

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request) -> Response:
        authorize(request)
        if not queue.ready:
            raise not_ready("the model is still loading; retry shortly")
        body = await _read_capped(request, config.max_upload_bytes)

        async def replay() -> dict:
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            form = await Request(request.scope, replay).form(max_files=2, max_fields=32)
        except Exception as exc:  # python-multipart and Starlette raise several kinds
            raise ApiError(400, f"expected a multipart/form-data body ({exc})") from None
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        unknown = sorted(set(form.keys()) - set(FIELDS))
        if unknown:
            raise ApiError(
                400,
                f"unknown field(s) {', '.join(unknown)}; this endpoint takes {', '.join(FIELDS)}",
                param=unknown[0],
            )
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(
                400, "file: expected an audio file (multipart field 'file')", param="file"
            )
        name = fields.get("model", "")
        if name not in host.models:
            known = ", ".join(host.models)
            said = f"model {name!r}" if name else "no model given"
            raise ApiError(
                404 if name else 400,
                f"{said}; this server has {known}",
                param="model",
                code="model_not_found",
            )
        fmt = fields.get("response_format") or "json"
        if fmt not in FORMATS:
            raise ApiError(
                400,
                f"response_format {fmt!r}; expected one of {', '.join(FORMATS)}",
                param="response_format",
            )
        if _bool_field(fields.get("stream"), "stream", False):
            raise ApiError(
                400, "stream: streaming is not supported; send stream=false", param="stream"
            )
        granularities = [
            *form.getlist("timestamp_granularities[]"),
            *form.getlist("timestamp_granularities"),
        ]
        if any(g != "segment" for g in granularities):
            raise ApiError(
                400,
                "timestamp_granularities: only 'segment' is supported (no word timestamps)",
                param="timestamp_granularities",
            )
        try:
            temperature = float(fields.get("temperature") or 0.0)
        except ValueError:
            temperature = -1.0
        if not 0.0 <= temperature <= 1.0:
            raise ApiError(
                400,
                f"temperature: expected a number from 0 to 1, got {fields.get('temperature')!r}",
                param="temperature",
            )
        try:
            language = host.language_code(fields.get("language"))
        except ValueError as exc:
            raise ApiError(400, f"language: {exc}", param="language") from None
        served = host.models[name]
        use_lexicon = _bool_field(fields.get("lexicon"), "lexicon", True)
        prompts = [served.lexicon_prompt if use_lexicon else None, fields.get("prompt") or None]
        prompt = " ".join(p for p in prompts if p) or None
        boost = _boost_field(fields.get("boost"), served.boost if use_lexicon else 0.0)
        if boost and served.lexicon is None:
            raise ApiError(
                400, f"boost: model {name!r} has no lexicon to boost; send boost=0", param="boost"
            )
        gate = _bool_field(fields.get("term_gate"), "term_gate", False)
        if gate and not served.can_gate:
            what = "an adapter model" if not served.adapter else "an adapter with a lexicon.tsv"
            raise ApiError(
                400,
                f"term_gate: model {name!r} cannot be gated; it needs {what}",
                param="term_gate",
            )

        data = await upload.read()
        if len(data) > config.max_upload_bytes:
            raise ApiError(
                413,
                f"file {upload.filename!r}: {len(data) / 1024 / 1024:.1f} MB; this server "
                f"takes at most {config.max_upload_mb:g} MB",
                param="file",
                code="file_too_large",
            )
        audio = await run_in_threadpool(
            decode_upload, data, upload.filename or "upload", config.max_audio_seconds
        )
        key = DecodeKey(
            name,
            prompt,
            language,
            temperature,
            boost,
            gate,
            fields.get("prompt") or None,
            served.near_miss if use_lexicon else 0.0,
        )
        try:
            future = queue.submit(key, audio)
        except QueueFull as exc:
            raise ApiError(
                429,
                f"server busy: {exc}; retry shortly",
                type="rate_limit_error",
                code="queue_full",
                retry_after=1,
            ) from None
        except QueueClosed as exc:
            raise not_ready(str(exc)) from None
        try:
            transcript = await asyncio.wrap_future(future)
        except QueueClosed as exc:
            raise not_ready(str(exc)) from None
        except Exception as exc:
            raise ApiError(
                500, f"transcription failed: {type(exc).__name__}: {exc}", type="server_error"
            ) from None
        out = render(transcript, fmt, temperature=temperature, language=language)
        if isinstance(out, dict):
            return JSONResponse(out)
        return PlainTextResponse(out, media_type=MEDIA_TYPES[fmt])

    return app
