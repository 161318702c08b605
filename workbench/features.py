"""The one log-mel path shared by training, evaluation, transcription and export checks.

Audio is zero-padded to 30 s before the spectrogram, as Hugging Face and the original
Whisper do (faster-whisper pads the spectrogram instead, which changes some transcripts).

The padding's frames are known without computing them: a frame whose window holds only the
padding's zeros has zero power. :func:`log_mel` therefore runs the short-time Fourier
transform over the clip and the few frames its end reaches, leaves the rest at zero power and
then takes the same mel projection, logarithm and clamp as Hugging Face's extractor over all
3,000 frames. The features are bit for bit those of ``WhisperFeatureExtractor`` (a test holds
it to that on real clips), at a fraction of the time for clips shorter than 30 s: most of a
short clip's spectrogram is padding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import WhisperFeatureExtractor

from workbench.audio import SAMPLE_RATE

N_FRAMES = 3000  # 30 s at a 10 ms hop: the only length Whisper's encoder takes


def log_mel(extractor: WhisperFeatureExtractor, audios: Sequence[np.ndarray]) -> torch.Tensor:
    """Log-mel features ``(batch, n_mels, 3000)`` of clips of at most 30 s (longer ones are
    cut at 30 s), equal to ``extractor``'s own."""
    if extractor.dither != 0.0 or extractor.n_samples != N_FRAMES * extractor.hop_length:
        return _hugging_face_log_mel(extractor, audios)
    hop, n_fft = extractor.hop_length, extractor.n_fft
    window = torch.hann_window(n_fft)
    filters = torch.from_numpy(extractor.mel_filters).to(torch.float32).T
    out = torch.empty(len(audios), filters.shape[0], N_FRAMES)
    for i, audio in enumerate(audios):
        samples = torch.from_numpy(np.asarray(audio, dtype=np.float32)[: extractor.n_samples])
        n = samples.shape[0]
        # Past `n + n_fft` every window (and the end's reflection) holds zeros only.
        length = min(extractor.n_samples, ((n + n_fft) // hop + 1) * hop)
        padded = torch.zeros(length, dtype=torch.float32)
        padded[:n] = samples
        stft = torch.stft(padded, n_fft, hop, window=window, return_complex=True)
        frames = min(N_FRAMES, length // hop)
        power = torch.zeros(stft.shape[0], N_FRAMES)
        power[:, :frames] = stft[:, :frames].abs() ** 2
        spec = (filters @ power).clamp(min=1e-10).log10()
        spec = torch.maximum(spec, spec.max() - 8.0)
        out[i] = (spec + 4.0) / 4.0
    return out


def _hugging_face_log_mel(
    extractor: WhisperFeatureExtractor, audios: Sequence[np.ndarray]
) -> torch.Tensor:
    """The extractor's own path (kept for settings :func:`log_mel` does not reproduce)."""
    out = extractor(
        list(audios),
        sampling_rate=SAMPLE_RATE,
        padding="max_length",
        max_length=N_FRAMES * extractor.hop_length,
        truncation=True,
        return_tensors="pt",
    )
    return out.input_features
