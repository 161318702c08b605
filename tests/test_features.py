"""The log-mel features: bit for bit Hugging Face's extractor, without computing the padding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import WhisperFeatureExtractor

from tests.conftest import LIBRIVOX
from workbench.audio import load_audio
from workbench.features import _hugging_face_log_mel, log_mel

EXTRACTOR = WhisperFeatureExtractor()  # Whisper's 80 mels, 400-point FFT, 10 ms hop


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(round(seconds * 16000)) * 0.1).astype(np.float32)


@pytest.mark.parametrize(
    "lengths",
    [
        [0.0, 0.001, 0.01],  # empty and shorter than one window
        [1.0, 2.3456, 7.1],  # lengths that are no multiple of the hop
        [29.97, 29.99, 30.0],  # the end's windows reach the 30-s edge
        [31.5],  # cut at 30 s
    ],
)
def test_features_equal_hugging_faces_bit_for_bit(lengths):
    audios = [noise(s, seed) for seed, s in enumerate(lengths)]
    assert torch.equal(log_mel(EXTRACTOR, audios), _hugging_face_log_mel(EXTRACTOR, audios))


def test_real_clips_equal_hugging_faces_bit_for_bit():
    audios = [load_audio(p) for p in sorted(LIBRIVOX.glob("*.wav"))]
    assert audios
    assert torch.equal(log_mel(EXTRACTOR, audios), _hugging_face_log_mel(EXTRACTOR, audios))


def test_a_clip_ending_loud_keeps_its_last_frames():
    audio = noise(2.0)
    audio[-50:] = 0.9  # the last windows and the end's reflection see this
    assert torch.equal(log_mel(EXTRACTOR, [audio]), _hugging_face_log_mel(EXTRACTOR, [audio]))


def test_dither_takes_hugging_faces_path():
    dithered = WhisperFeatureExtractor(dither=1e-4)
    torch.manual_seed(0)
    out = log_mel(dithered, [noise(1.0)])
    torch.manual_seed(0)
    assert torch.equal(out, _hugging_face_log_mel(dithered, [noise(1.0)]))
    assert not torch.equal(out, log_mel(EXTRACTOR, [noise(1.0)]))
