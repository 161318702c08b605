from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from tests.augment.clips import EDGE_CASES, SR, rng, speechlike
from workbench.augment.room_reverb import ROOM_SHAPES, RoomReverb, simulated_rir


def decay_time(rir: np.ndarray) -> float:
    """Seconds for the energy (Schroeder integral) to fall by 20 dB, times 3: about RT60."""
    energy = np.cumsum(rir[::-1] ** 2)[::-1]
    db = 10 * np.log10(energy / energy[0] + 1e-12)
    return 3 * np.argmax(db < -20) / SR


def test_bigger_rooms_ring_longer():
    times = {
        room: np.mean([decay_time(simulated_rir(room, i, SR)) for i in range(3)])
        for room in ROOM_SHAPES
    }
    assert times["small_office"] < times["ward"] < times["factory_hall"]
    assert times["factory_hall"] > 0.8


@pytest.mark.parametrize("room", list(ROOM_SHAPES))
def test_length_level_and_seed(room):
    clip = speechlike()
    transform = RoomReverb([room], p=1.0)
    out, params = transform(clip, SR, rng(3))
    assert params["reverb"] == room and out.dtype == np.float32 and out.size == clip.size
    assert np.mean(out**2) == pytest.approx(np.mean(clip**2), rel=1e-3)
    again, _ = transform(clip, SR, rng(3))
    np.testing.assert_array_equal(out, again)


def test_impulse_response_files(tmp_path):
    rir = np.zeros(800, np.float32)
    rir[0], rir[400] = 1.0, 0.5  # a direct path and one echo at 25 ms
    sf.write(tmp_path / "hall.wav", rir, SR)
    out, params = RoomReverb([], ir_folder=tmp_path, p=1.0)(speechlike(), SR, rng())
    assert params == {"reverb": "hall.wav"}
    assert out.size == speechlike().size


@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_edge_cases_give_no_nans(name):
    out, _ = RoomReverb(["ward"], p=1.0)(EDGE_CASES[name], SR, rng())
    assert np.isfinite(out).all() and out.size == EDGE_CASES[name].size


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rooms": ["cathedral"]}, "rooms: expected a list from small_office, ward, factory_hall"),
        ({"rooms": []}, "rooms: expected a list"),
        ({"p": -0.1}, "p: expected a probability in [0, 1], got -0.1"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as err:
        RoomReverb(**kwargs)
    assert str(err.value).startswith(message)


def test_empty_ir_folder(tmp_path):
    with pytest.raises(ValueError, match=r"ir_folder: .* holds no \.wav or \.flac"):
        RoomReverb([], ir_folder=tmp_path)
