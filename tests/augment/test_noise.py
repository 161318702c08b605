from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from tests.augment.clips import EDGE_CASES, SR, rng, speechlike
from workbench.augment.base import snr_db
from workbench.augment.noise import AddNoise

KINDS = ["white", "pink", "brown", "machinery", "monitor", "babble"]


def babble_pool(r: np.random.Generator) -> np.ndarray:
    return speechlike(1.5, seed=int(r.integers(1000)))


def make(kind, **kw):
    return AddNoise([kind], p=1.0, babble_clips=babble_pool, **kw)


@pytest.mark.parametrize("kind", KINDS)
def test_measured_snr_lies_in_the_range(kind):
    transform = make(kind, min_snr_db=5, max_snr_db=15)
    clip = speechlike()
    for seed in range(8):
        out, params = transform(clip, SR, rng(seed))
        assert out.dtype == np.float32 and out.size == clip.size
        assert params["noise_kind"] == kind
        measured = snr_db(clip, out)
        assert 5 - 0.05 <= measured <= 15 + 0.05
        assert params["snr_db"] == pytest.approx(measured, abs=0.01)
        assert params["snr_db"] == pytest.approx(params["target_snr_db"], abs=0.05)


def test_colours_have_their_spectral_slopes():
    """White is flat; pink and brown tilt down, brown the most."""
    clip = np.full(SR * 2, 1e-3, np.float32)  # near-silent carrier: the output is the noise
    slopes = {}
    for kind in ("white", "pink", "brown"):
        out, _ = make(kind, min_snr_db=-20, max_snr_db=-20)(clip, SR, rng())
        spectrum = np.abs(np.fft.rfft(out - clip)) ** 2
        freqs = np.fft.rfftfreq(out.size, 1 / SR)
        low = spectrum[(freqs > 200) & (freqs < 400)].mean()
        high = spectrum[(freqs > 3200) & (freqs < 6400)].mean()
        slopes[kind] = 10 * np.log10(high / low) / 4  # four octaves apart
    assert abs(slopes["white"]) < 1.5
    assert slopes["brown"] < slopes["pink"] - 1.5 < slopes["white"] - 3


def test_folder_of_noise_files(tmp_path):
    sf.write(
        tmp_path / "fan.wav",
        np.random.default_rng(1).standard_normal(SR).astype(np.float32) * 0.1,
        SR,
    )
    transform = AddNoise(["folder"], 10, 10, p=1.0, folder=tmp_path)
    _, params = transform(speechlike(), SR, rng())
    assert params["noise_file"] == "fan.wav"
    assert params["snr_db"] == pytest.approx(10, abs=0.1)


def test_seeded():
    transform = AddNoise(KINDS, p=1.0, babble_clips=babble_pool)
    for seed in range(5):
        a, pa = transform(speechlike(), SR, rng(seed))
        b, pb = transform(speechlike(), SR, rng(seed))
        np.testing.assert_array_equal(a, b)
        assert pa == pb


@pytest.mark.parametrize("name", list(EDGE_CASES))
@pytest.mark.parametrize("kind", KINDS)
def test_edge_cases_give_no_nans(name, kind):
    out, params = make(kind)(EDGE_CASES[name], SR, rng())
    assert np.isfinite(out).all() and out.size == EDGE_CASES[name].size
    if name == "silence":
        assert params["snr_db"] is None and params["skipped"] == "silent clip"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kinds": ["pinkish"]}, "kinds: expected a non-empty list from white, pink"),
        ({"kinds": []}, "kinds: expected a non-empty list"),
        ({"min_snr_db": 20, "max_snr_db": 5}, "max_snr_db: must be >= min_snr_db (20), got 5"),
        ({"max_snr_db": 99}, "max_snr_db: expected a value in [-20, 60], got 99"),
        ({"kinds": ["folder"]}, "folder: noise kind 'folder' needs a folder of noise files"),
        ({"kinds": ["babble"]}, "kinds: 'babble' needs other utterances"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as err:
        AddNoise(**kwargs)
    assert str(err.value).startswith(message)


def test_empty_noise_folder(tmp_path):
    with pytest.raises(ValueError, match="holds no audio files"):
        AddNoise(["folder"], folder=tmp_path)
