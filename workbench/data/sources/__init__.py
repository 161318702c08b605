"""Data sources, one module each: ``prepare_<source>(spec, ctx) -> SourceRows``.

The recipe's ``source:`` key picks a function from :data:`PREPARERS` (a name registry; no
imports from user YAML). :data:`FINGERPRINTS` tell whether a source's inputs changed.
"""

from __future__ import annotations

from collections.abc import Callable

from workbench.data.candidates import PrepareContext, SourceRows
from workbench.data.sources.asterisk import fingerprint_asterisk, prepare_asterisk
from workbench.data.sources.audio_files import fingerprint_audio, prepare_audio
from workbench.data.sources.audiofolder import fingerprint_audiofolder, prepare_audiofolder
from workbench.data.sources.common_voice import fingerprint_common_voice, prepare_common_voice
from workbench.data.sources.csv_table import fingerprint_csv, prepare_csv
from workbench.data.sources.hf_disk import fingerprint_hf_disk, prepare_hf_disk
from workbench.data.sources.hf_hub import fingerprint_hf_hub, prepare_hf_hub
from workbench.data.sources.kaldi import fingerprint_kaldi, prepare_kaldi
from workbench.data.sources.librispeech import fingerprint_librispeech, prepare_librispeech
from workbench.data.sources.manifest import fingerprint_manifest, prepare_manifest
from workbench.data.sources.nemo import fingerprint_nemo, prepare_nemo
from workbench.data.sources.pocketsphinx import fingerprint_pocketsphinx, prepare_pocketsphinx
from workbench.data.sources.speak import fingerprint_speak, prepare_speak
from workbench.data.sources.synth import fingerprint_synth, prepare_synth
from workbench.data.sources.transcriber import fingerprint_transcriber, prepare_transcriber

Preparer = Callable[..., SourceRows]

PREPARERS: dict[str, Preparer] = {
    "manifest": prepare_manifest,
    "audiofolder": prepare_audiofolder,
    "csv": prepare_csv,
    "hf_disk": prepare_hf_disk,
    "hf_hub": prepare_hf_hub,
    "nemo": prepare_nemo,
    "kaldi": prepare_kaldi,
    "common_voice": prepare_common_voice,
    "librispeech": prepare_librispeech,
    "synth": prepare_synth,
    "speak": prepare_speak,
    "pocketsphinx": prepare_pocketsphinx,
    "asterisk": prepare_asterisk,
    "transcriber": prepare_transcriber,
}

FINGERPRINTS: dict[str, Callable[..., str]] = {
    "manifest": fingerprint_manifest,
    "audiofolder": fingerprint_audiofolder,
    "csv": fingerprint_csv,
    "hf_disk": fingerprint_hf_disk,
    "hf_hub": fingerprint_hf_hub,
    "nemo": fingerprint_nemo,
    "kaldi": fingerprint_kaldi,
    "common_voice": fingerprint_common_voice,
    "librispeech": fingerprint_librispeech,
    "synth": fingerprint_synth,
    "speak": fingerprint_speak,
    "pocketsphinx": fingerprint_pocketsphinx,
    "asterisk": fingerprint_asterisk,
    "transcriber": fingerprint_transcriber,
}

# Sources of audio without transcripts (``data.unlabeled``), read by ``workbench label``.
UNLABELED_PREPARERS: dict[str, Preparer] = {"audio": prepare_audio}
UNLABELED_FINGERPRINTS: dict[str, Callable[..., str]] = {"audio": fingerprint_audio}

__all__ = [
    "FINGERPRINTS",
    "PREPARERS",
    "UNLABELED_FINGERPRINTS",
    "UNLABELED_PREPARERS",
    "PrepareContext",
    "SourceRows",
]
