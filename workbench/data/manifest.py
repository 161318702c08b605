"""The manifest: JSON Lines, one utterance a line, the boundary between data and training.

``{"id", "audio", "text"}`` plus optional ``duration``, ``speaker``, ``lang``, ``domain``,
``condition`` (the listening condition a clip was rendered in: ``clean``, ``telephone``,
``babble 10-15 dB``), ``part`` (what the clip's source is: ``your recordings``,
``synthetic held-out``; the report gives each part of a set its own figures).
``audio`` is a path, relative to the manifest's folder or absolute.

Pseudo-labels (``workbench label``) add, all optional: ``label_source`` (``teacher``: a
teacher model's transcript; ``reviewed``: one a person checked or edited; ``human``: a
person's own), ``confidence`` (the teacher's ``{"avg_logprob", "compression_ratio",
"no_speech_prob"}``) and ``terms`` (the lexicon terms found in the text).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench.fileio import open_regular, write_text_atomic

OPTIONAL = (
    "duration",
    "speaker",
    "lang",
    "domain",
    "condition",
    "part",
    "label_source",
    "confidence",
    "terms",
)
LABEL_SOURCES = ("teacher", "reviewed", "human")
CONFIDENCE_KEYS = ("avg_logprob", "compression_ratio", "no_speech_prob")


class ManifestError(ValueError):
    """A manifest line that cannot be read; the message names file and line."""


@dataclass
class Utterance:
    """One clip and its transcript. ``audio`` is absolute once read."""

    id: str
    audio: str
    text: str
    duration: float | None = None
    speaker: str | None = None
    lang: str | None = None
    domain: str | None = None
    condition: str | None = None  # a listening condition: clean, telephone, "babble 10-15 dB"
    part: str | None = None  # what the clip's source is: "your recordings", "synthetic held-out"
    label_source: str | None = None  # teacher | reviewed | human (see the module docstring)
    confidence: dict[str, float] | None = None  # the teacher's, for label_source teacher
    terms: list[str] | None = None  # lexicon terms in the text

    def to_json(self, base: Path | None = None) -> str:
        row = {k: v for k, v in asdict(self).items() if v is not None}
        if base is not None:
            audio = Path(self.audio)
            if audio.is_relative_to(base):
                row["audio"] = str(audio.relative_to(base))
        return json.dumps(row, ensure_ascii=False)


def parse_manifest_line(line: str, where: str, base: Path) -> Utterance:
    """One manifest line to an :class:`Utterance`.

    Raises:
        ManifestError: not a JSON object, or ``id``/``audio``/``text`` missing or not text.
    """
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise ManifestError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for key in ("id", "audio", "text"):
        if key not in row:
            raise ManifestError(f"{where}: missing {key!r}")
        if not isinstance(row[key], str):
            raise ManifestError(f"{where}: {key!r} must be a string, got {row[key]!r}")
    extra = {k: row.get(k) for k in OPTIONAL}
    if extra["duration"] is not None and not _is_number(extra["duration"]):
        raise ManifestError(f"{where}: 'duration' must be a number, got {extra['duration']!r}")
    if extra["part"] is not None and not isinstance(extra["part"], str):
        raise ManifestError(f"{where}: 'part' must be a string, got {extra['part']!r}")
    _check_label_fields(extra, where)
    audio = Path(row["audio"]).expanduser()
    return Utterance(
        id=row["id"],
        audio=str(audio if audio.is_absolute() else base / audio),
        text=row["text"],
        **extra,
    )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_label_fields(extra: dict, where: str) -> None:
    """The pseudo-label fields, when present, hold what the module docstring says."""
    source = extra["label_source"]
    if source is not None and source not in LABEL_SOURCES:
        raise ManifestError(
            f"{where}: 'label_source' must be one of {', '.join(LABEL_SOURCES)}, got {source!r}"
        )
    confidence = extra["confidence"]
    if confidence is not None:
        if not isinstance(confidence, dict):
            raise ManifestError(
                f"{where}: 'confidence' must be an object with {', '.join(CONFIDENCE_KEYS)}, "
                f"got {confidence!r}"
            )
        for key, value in confidence.items():
            if key not in CONFIDENCE_KEYS:
                raise ManifestError(
                    f"{where}: 'confidence' has unknown key {key!r}; expected "
                    f"{', '.join(CONFIDENCE_KEYS)}"
                )
            if not _is_number(value) or not math.isfinite(value):
                raise ManifestError(
                    f"{where}: 'confidence.{key}' must be a finite number, got {value!r}"
                )
    terms = extra["terms"]
    if terms is not None and (
        not isinstance(terms, list) or not all(isinstance(t, str) for t in terms)
    ):
        raise ManifestError(f"{where}: 'terms' must be a list of strings, got {terms!r}")


def read_manifest(path: str | Path) -> list[Utterance]:
    """Read a manifest strictly: the first bad line raises :class:`ManifestError`."""
    path = Path(path)
    base = path.resolve().parent
    out = []
    with open_regular(path, "r", encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                out.append(parse_manifest_line(line, f"{path}:{number}", base))
    return out


def write_manifest(path: str | Path, utterances: Iterable[Utterance]) -> None:
    """Write a manifest atomically; audio inside the manifest's folder is stored relative."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.resolve().parent
    write_text_atomic(path, "".join(utt.to_json(base) + "\n" for utt in utterances))
