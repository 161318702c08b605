from __future__ import annotations

import numpy as np
import pytest

from tests.augment.clips import EDGE_CASES, SR, rng, speechlike
from workbench.augment.speed_perturbation import SpeedPerturbation


@pytest.mark.parametrize("rate", [0.8, 0.9, 1.1, 1.2])
def test_duration_scales_by_one_over_rate(rate):
    clip = speechlike(2.0)
    out, params = SpeedPerturbation(rates=[rate], p=1.0)(clip, SR, rng())
    assert params == {"speed_rate": rate}
    assert out.dtype == np.float32
    assert abs(out.size - clip.size / rate) <= 2


def test_pitch_moves_with_the_rate():
    t = np.arange(SR) / SR
    tone = np.sin(2 * np.pi * 200 * t).astype(np.float32)
    out, _ = SpeedPerturbation(rates=[1.2], p=1.0)(tone, SR, rng())
    peak_hz = np.argmax(np.abs(np.fft.rfft(out))) * SR / out.size
    assert peak_hz == pytest.approx(240, abs=3)


def test_range_draws_stay_in_range_and_are_seeded():
    t = SpeedPerturbation(0.8, 1.2, p=1.0)
    rates = [t(speechlike(0.5), SR, rng(s))[1]["speed_rate"] for s in range(50)]
    assert all(0.8 <= r <= 1.2 for r in rates) and len(set(rates)) > 40
    a, _ = t(speechlike(), SR, rng(7))
    b, _ = t(speechlike(), SR, rng(7))
    np.testing.assert_array_equal(a, b)


def test_p_zero_leaves_the_clip():
    clip = speechlike()
    out, params = SpeedPerturbation(p=0.0)(clip, SR, rng())
    assert out is clip and params == {}


@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_edge_cases_give_no_nans(name):
    out, _ = SpeedPerturbation(rates=[1.15], p=1.0)(EDGE_CASES[name], SR, rng())
    assert np.isfinite(out).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_rate": 0.1}, "min_rate: expected a value in [0.5, 2.0], got 0.1"),
        ({"min_rate": 1.2, "max_rate": 0.9}, "max_rate: must be >= min_rate (1.2), got 0.9"),
        ({"rates": []}, "rates: expected a non-empty list"),
        ({"p": 1.5}, "p: expected a probability in [0, 1], got 1.5"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as err:
        SpeedPerturbation(**kwargs)
    assert str(err.value).startswith(message)
