"""The recipe's pipeline: order, determinism per (seed, epoch, index), the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import soundfile as sf

from tests.augment.clips import SR, speechlike
from workbench.augment.pipeline import build_augmenter, sample_seed
from workbench.recipe import AugmentSpec, NoiseSpec, ReverbSpec, SpeedSpec, TelephoneSpec

FULL = AugmentSpec(
    speed=SpeedSpec(p=1.0),
    reverb=ReverbSpec(p=1.0),
    noise=NoiseSpec(p=1.0, kinds=["pink", "machinery", "monitor"]),
    telephone=TelephoneSpec(p=1.0),
)


def test_every_transform_runs_and_reports():
    augment = build_augmenter(FULL)
    out, params = augment(speechlike(), sample_seed(0, 0, 0))
    assert {"speed_rate", "reverb", "noise_kind", "snr_db", "telephone"} <= set(params)
    assert 5 <= params["snr_db"] <= 15
    assert out.dtype == np.float32 and np.abs(out).max() <= 0.99
    assert (
        out.size == round(speechlike().size / params["speed_rate"])
        or abs(out.size - speechlike().size / params["speed_rate"]) <= 2
    )


def test_same_sample_seed_same_result_and_epochs_differ():
    augment = build_augmenter(FULL)
    a, pa = augment(speechlike(), sample_seed(3, 1, 17))
    b, pb = augment(speechlike(), sample_seed(3, 1, 17))
    _, pc = augment(speechlike(), sample_seed(3, 2, 17))
    np.testing.assert_array_equal(a, b)
    assert pa == pb and pa != pc


def test_off_when_everything_is_null():
    augment = build_augmenter(AugmentSpec(speed=None, noise=None))
    assert not augment
    out, params = augment(speechlike(), 0)
    np.testing.assert_array_equal(out, speechlike())
    assert params == {}


def test_cli_writes_the_clip_and_prints_parameters(tmp_path):
    sf.write(tmp_path / "in.wav", speechlike(), SR)
    (tmp_path / "r.yaml").write_text(
        "name: a\naugment:\n  speed: {rates: [1.25], p: 1}\n  noise: {kinds: [brown], p: 1}\n"
    )
    cmd = [
        sys.executable,
        "-m",
        "workbench.cli",
        "augment",
        str(tmp_path / "r.yaml"),
        str(tmp_path / "in.wav"),
        "--out",
        str(tmp_path / "out.flac"),
        "--seed",
        "5",
        "augment.noise.min_snr_db=12",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    params = json.loads(result.stdout)
    assert params["speed_rate"] == 1.25 and params["noise_kind"] == "brown"
    assert 12 <= params["snr_db"] <= 15
    info = sf.info(tmp_path / "out.flac")
    assert info.samplerate == SR and abs(info.frames - speechlike().size / 1.25) <= 2
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert json.loads(again.stdout) == params

    bad = subprocess.run(
        [*cmd[:5], str(tmp_path / "missing.wav"), "--out", str(tmp_path / "x.wav")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "missing.wav: no such file" in bad.stderr
    assert not (tmp_path / "x.wav").exists()
