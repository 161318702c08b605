"""The one log-mel path shared by training, evaluation, transcription and export checks.

Audio is zero-padded to 30 s before the spectrogram, as Hugging Face and the original
Whisper do (faster-whisper pads the spectrogram instead, which changes some transcripts).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import WhisperFeatureExtractor

from workbench.audio import SAMPLE_RATE

N_FRAMES = 3000  # 30 s at a 10 ms hop: the only length Whisper's encoder takes


def log_mel(extractor: WhisperFeatureExtractor, audios: Sequence[np.ndarray]) -> torch.Tensor:
    """Log-mel features ``(batch, n_mels, 3000)`` of clips of at most 30 s."""
    out = extractor(
        list(audios),
        sampling_rate=SAMPLE_RATE,
        padding="max_length",
        max_length=N_FRAMES * extractor.hop_length,
        truncation=True,
        return_tensors="pt",
    )
    return out.input_features
