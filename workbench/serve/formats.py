"""The response formats of ``/v1/audio/transcriptions``: json, text, srt, vtt, verbose_json."""

from __future__ import annotations

import math

from workbench.transcribe import Transcript

FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
MEDIA_TYPES = {
    "json": "application/json",
    "verbose_json": "application/json",
    "text": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}


def language_name(code: str | None) -> str | None:
    """``"en"`` -> ``"english"``, as the OpenAI API names languages."""
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    return LANGUAGES.get(code, code) if code else None


def timestamp(seconds: float, separator: str) -> str:
    """``HH:MM:SS,mmm`` (srt, ``separator=","``) or ``HH:MM:SS.mmm`` (vtt)."""
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def usage(transcript: Transcript) -> dict:
    """Billing-style usage as the API reports it for audio models: whole seconds."""
    return {"type": "duration", "seconds": math.ceil(transcript.duration)}


def render(
    transcript: Transcript, fmt: str, *, temperature: float, language: str | None
) -> str | dict:
    """The response body: a dict (json, verbose_json) or text (text, srt, vtt)."""
    if fmt == "json":
        return {"text": transcript.text, "usage": usage(transcript)}
    if fmt == "text":
        return transcript.text + "\n"
    if fmt == "srt":
        blocks = [
            f"{i}\n{timestamp(s.start, ',')} --> {timestamp(s.end, ',')}\n{s.text}\n"
            for i, s in enumerate(transcript.segments, 1)
        ]
        return "\n".join(blocks)
    if fmt == "vtt":
        blocks = [
            f"{timestamp(s.start, '.')} --> {timestamp(s.end, '.')}\n{s.text}\n"
            for s in transcript.segments
        ]
        return "WEBVTT\n\n" + "\n".join(blocks)
    if fmt == "verbose_json":
        return {
            "task": "transcribe",
            "language": language_name(language or transcript.language) or "english",
            "duration": round(transcript.duration, 3),
            "text": transcript.text,
            "segments": [
                {
                    "id": i,
                    "start": s.start,
                    "end": s.end,
                    "text": s.text,
                    "tokens": list(s.tokens),
                    "temperature": temperature,
                    "compression_ratio": round(s.compression_ratio, 4),
                }
                for i, s in enumerate(transcript.segments)
            ],
            "usage": usage(transcript),
        }
    raise ValueError(f"response_format {fmt!r}; expected one of {', '.join(FORMATS)}")
