"""``source: transcriber``: a real telephone conversation from Debian's ``transcriber`` package.

The package's examples hold ``know.sph``, 24 s of a CALLFRIEND call between two American
English speakers (8 kHz mu-law, one speaker a channel), and ``know.trs``, its turn-by-turn
transcript: spontaneous, disfluent speech ("You know what, Ann, it's like, I mean, ...").
Each turn becomes one clip per speaker, cut from that speaker's channel; noises (``{laugh}``)
are left out of the text, uncertain words (``((yeah))``) kept, cut-off words (``like-``)
written whole. The package pulls in a desktop stack, so ``scripts/setup.sh`` unpacks only its
``.deb`` into the project's ``.debian/`` folder (``apt-get download``, like ``.venv``, never
committed); an installed package is used too.
"""

from __future__ import annotations

import gzip
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from workbench.data.candidates import Candidate, PrepareContext, SourceError, SourceRows
from workbench.data.sources._files import file_digest
from workbench.paths import PROJECT_ROOT
from workbench.recipe import TranscriberSource

EXAMPLES = Path("usr/share/doc/transcriber/examples")
COLLECTION = "debian:transcriber/callfriend"
SETUP = (
    "run `bash scripts/setup.sh` (it unpacks the Debian package `transcriber` into the "
    "project's .debian/ folder), or `sudo apt-get install transcriber`"
)
MIN_SECONDS = 0.5  # shorter turns ("Yeah.") say too little to score
_NOISE = re.compile(r"\{[^}]*\}|\[[^\]]*\]")


def default_roots() -> list[Path]:
    """Where the examples may be: unpacked by ``scripts/setup.sh``, or installed."""
    return [PROJECT_ROOT / ".debian" / "transcriber" / EXAMPLES, Path("/") / EXAMPLES]


def _find(roots: list[Path] | None) -> Path:
    for root in roots if roots is not None else default_roots():
        if (root / "know.trs").is_file() and (root / "know.sph.gz").is_file():
            return root
    where = ", ".join(str(r) for r in (roots if roots is not None else default_roots()))
    raise SourceError(f"source transcriber: know.trs and know.sph.gz not found in {where}; {SETUP}")


@dataclass(frozen=True)
class Segment:
    """One speaker's words in one turn."""

    start: float
    end: float
    speaker: str
    text: str
    alone: bool = True  # the only speaker of its turn


def clean_text(raw: str) -> str:
    """The words as said: noises dropped, ``((uncertain))`` kept, ``cut-`` words whole."""
    text = _NOISE.sub(" ", raw).replace("((", " ").replace("))", " ").replace('"', " ")
    words = [w[:-1] if w.endswith("-") else w for w in text.split()]
    return " ".join(w for w in words if w.strip(".,?!-"))


def read_segments(trs: Path) -> list[Segment]:
    """Every (turn, speaker) with words; a turn of two speakers gives one segment each."""
    try:
        root = ET.parse(trs).getroot()
    except ET.ParseError as exc:
        raise SourceError(f"source transcriber: {trs}: not a Transcriber file ({exc})") from None
    out = []
    for turn in root.iter("Turn"):
        speakers = (turn.get("speaker") or "").split()
        start, end = float(turn.get("startTime", 0)), float(turn.get("endTime", 0))
        # Text follows <Sync/> and <Who nb="k"/> markers, in their tails.
        said: dict[str, list[str]] = {s: [] for s in speakers}
        current = speakers[0] if len(speakers) == 1 else None
        for node in turn:
            if node.tag == "Who":
                current = speakers[int(node.get("nb", "1")) - 1]
            if current and node.tail:
                said[current].append(node.tail)
        for speaker, parts in said.items():
            text = clean_text(" ".join(parts))
            if text and end - start >= MIN_SECONDS:
                out.append(Segment(start, end, speaker, text, alone=len(speakers) == 1))
    return out


def read_sphere_ulaw(path: Path) -> tuple[np.ndarray, int]:
    """A gzipped NIST SPHERE file of 8-bit mu-law samples: (frames x channels float32, rate)."""
    with gzip.open(path) as f:
        raw = f.read()
    header = raw[:1024].decode("ascii", errors="replace")
    fields = dict(
        (line.split()[0], line.split()[-1]) for line in header.splitlines()[2:] if line.split()
    )
    if not header.startswith("NIST_1A") or fields.get("sample_coding") != "ulaw":
        raise SourceError(f"source transcriber: {path}: expected a mu-law NIST SPHERE file")
    size = int(header.splitlines()[1])
    channels, rate = int(fields["channel_count"]), int(fields["sample_rate"])
    u = ~np.frombuffer(raw[size:], dtype=np.uint8).astype(np.int32) & 0xFF
    magnitude = (((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 7)
    samples = np.where(u & 0x80, 0x84 - magnitude, magnitude - 0x84).astype(np.float32) / 32768
    frames = len(samples) // channels
    return samples[: frames * channels].reshape(frames, channels), rate


def _channel_of(audio: np.ndarray, rate: int, segments: list[Segment], speaker: str) -> int:
    """The channel that is loudest while ``speaker`` talks alone (one speaker a channel)."""
    energy = np.zeros(audio.shape[1])
    for seg in segments:
        if seg.speaker == speaker and seg.alone:
            part = audio[int(seg.start * rate) : int(seg.end * rate)]
            energy += (part.astype(np.float64) ** 2).sum(axis=0)
    return int(np.argmax(energy))


def prepare_transcriber(
    spec: TranscriberSource, ctx: PrepareContext, roots: list[Path] | None = None
) -> SourceRows:
    """One clip per speaker turn, written as WAV into the staging folder."""
    folder = _find(roots)
    segments = read_segments(folder / "know.trs")
    audio, rate = read_sphere_ulaw(folder / "know.sph.gz")
    channel = {s: _channel_of(audio, rate, segments, s) for s in {g.speaker for g in segments}}
    out_dir = ctx.staging / "audio" / "transcriber"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = SourceRows()
    for number, seg in enumerate(segments, start=1):
        clip = audio[int(seg.start * rate) : int(seg.end * rate), channel[seg.speaker]]
        path = out_dir / f"know-{number:02d}-{seg.speaker}.wav"
        sf.write(path, clip, rate, subtype="PCM_16")
        out.candidates.append(
            Candidate(
                origin=f"{folder / 'know.trs'}:turn {number}",
                audio=path,
                text=seg.text,
                id=f"transcriber-know-{number:02d}-{seg.speaker}",
                speaker=f"callfriend-know-{seg.speaker}",
                lang="en",
                domain="general",
                collection=COLLECTION,
            )
        )
    if spec.limit:
        out.candidates = out.candidates[: spec.limit]
    return out


def fingerprint_transcriber(
    spec: TranscriberSource, ctx: PrepareContext | None = None, roots: list[Path] | None = None
) -> str:
    folder = _find(roots)
    return file_digest(folder / "know.trs") + file_digest(folder / "know.sph.gz")
