from __future__ import annotations

import numpy as np
import pytest

from tests.augment.clips import EDGE_CASES, SR, rng, speechlike
from workbench.augment.telephone_band import TelephoneBand


def band_energy(x: np.ndarray, lo: float, hi: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / SR)
    return float(spectrum[(freqs >= lo) & (freqs < hi)].sum())


@pytest.mark.parametrize("codec", [True, False])
def test_keeps_300_to_3400_hz(codec):
    noise = np.random.default_rng(0).standard_normal(SR * 2).astype(np.float32) * 0.1
    out, params = TelephoneBand(p=1.0, codec=codec)(noise, SR, rng())
    assert params == {"telephone": True, "codec": "mu-law" if codec else None}
    assert out.dtype == np.float32 and out.size == noise.size
    kept = band_energy(out, 500, 3000) / band_energy(noise, 500, 3000)
    above = band_energy(out, 4500, 8000) / band_energy(noise, 4500, 8000)
    below = band_energy(out, 20, 120) / band_energy(noise, 20, 120)
    assert kept > 0.5
    assert above < 1e-3 and below < 0.05


def test_codec_quantizes():
    clip = speechlike()
    clean, _ = TelephoneBand(p=1.0, codec=False)(clip, SR, rng())
    coded, _ = TelephoneBand(p=1.0, codec=True)(clip, SR, rng())
    assert 0 < np.mean((coded - clean) ** 2) < 0.01 * np.mean(clean**2)


@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_edge_cases_give_no_nans(name):
    out, _ = TelephoneBand(p=1.0)(EDGE_CASES[name], SR, rng())
    assert np.isfinite(out).all() and out.size == EDGE_CASES[name].size


def test_bad_probability():
    with pytest.raises(ValueError, match=r"^p: expected a probability in \[0, 1\], got 2"):
        TelephoneBand(p=2)
