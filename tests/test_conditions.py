"""Listening conditions on data sources: rendered at preparation, seeded, recorded per row."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from workbench.augment.base import snr_db
from workbench.data.manifest import read_manifest
from workbench.data.prepare import DataError, prepare_data
from workbench.recipe import RecipeError, load_recipe

LEXICON = "term\tspoken\tcategory\nmetoprolol\tmeh TOE proh lol\tdrug\nwarfarin\t\tdrug\n"
TEMPLATES = "[train]\nStart {drug} now.\nHold {drug} tonight.\n[heldout]\nSwitch to {drug} today.\n"


def _clips(folder, n=4):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        t = np.arange(16000) / 16000
        audio = (
            0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t) * (1 + 0.1 * rng.standard_normal(t.size))
        )
        sf.write(folder / f"c{i}.wav", audio.astype(np.float32), 16000)
        rows.append(
            f'{{"id": "c{i}", "audio": "c{i}.wav", "text": "clip number {i}", "speaker": "s{i}"}}'
        )
    (folder / "set.jsonl").write_text("\n".join(rows) + "\n")


def _recipe(tmp_path, eval_sources: str):
    _clips(tmp_path)
    path = tmp_path / "r.yaml"
    path.write_text(f"name: cond\nbase_model: bundled:tiny.en\ndata:\n  eval:\n{eval_sources}")
    return load_recipe(path)


CLEAN_AND_NOISY = """    - {source: manifest, path: set.jsonl, condition: {kind: clean}}
    - source: manifest
      path: set.jsonl
      condition: {kind: noise, noise: babble, min_snr_db: 5, max_snr_db: 10, seed: 3}
    - {source: manifest, path: set.jsonl, condition: {kind: telephone}}
    - {source: manifest, path: set.jsonl, condition: {kind: noise, noise: brown}}
"""


def test_conditions_are_rendered_recorded_and_keep_ids_apart(tmp_path):
    prepared = prepare_data(
        _recipe(tmp_path, CLEAN_AND_NOISY), tmp_path / "out", log=lambda m: None
    )
    rows = read_manifest(prepared.manifest("eval"))
    assert len(rows) == 16 and len({r.id for r in rows}) == 16
    by = {r.id: r for r in rows}
    assert by["c0-clean"].condition == "clean"
    assert by["c0-babble5-10dB"].condition == "babble 5-10 dB"
    assert by["c0-telephone"].condition == "telephone"
    assert by["c0-brown10-15dB"].condition == "brown 10-15 dB"
    assert {r.speaker for r in rows} == {"s0", "s1", "s2", "s3"}  # the speaker is kept
    clean = sf.read(tmp_path / "c0.wav")[0]
    np.testing.assert_allclose(sf.read(by["c0-clean"].audio)[0], clean, atol=1e-4)
    for cid in ("c0-babble5-10dB", "c0-brown10-15dB"):
        noisy = sf.read(by[cid].audio)[0]
        low, high = (5, 10) if "babble" in cid else (10, 15)
        assert low - 0.5 <= snr_db(clean, noisy) <= high + 0.5
        assert str(prepared.folder) in by[cid].audio  # a new file, in the prepared folder
    phone = sf.read(by["c0-telephone"].audio)[0]
    spectrum = np.abs(np.fft.rfft(phone))
    assert spectrum[5000:].sum() < 0.01 * spectrum.sum()  # nothing above 5 kHz (bins = Hz here)


def test_conditions_are_deterministic(tmp_path):
    audio = []
    for name in ("a", "b"):
        prepared = prepare_data(
            _recipe(tmp_path, CLEAN_AND_NOISY), tmp_path / name, log=lambda m: None
        )
        rows = read_manifest(prepared.manifest("eval"))
        audio.append([sf.read(r.audio)[0] for r in rows])
    for x, y in zip(*audio, strict=True):
        np.testing.assert_array_equal(x, y)


def test_another_seed_gives_other_noise(tmp_path):
    one = (
        "    - {source: manifest, path: set.jsonl,\n"
        "       condition: {kind: noise, noise: pink, seed: %d}}\n"
    )
    got = []
    for seed in (0, 1):
        prepared = prepare_data(_recipe(tmp_path, one % seed), tmp_path / f"s{seed}", log=print)
        got.append(sf.read(read_manifest(prepared.manifest("eval"))[0].audio)[0])
    assert not np.allclose(got[0], got[1])


@pytest.mark.parametrize(
    ("condition", "field", "words"),
    [
        ("{kind: noise}", "condition.noise", "expected one of white, pink"),
        ("{kind: noise, noise: traffic}", "condition.noise", "got 'traffic'"),
        (
            "{kind: noise, noise: pink, min_snr_db: 20, max_snr_db: 10}",
            "condition.max_snr_db",
            ">=",
        ),
        ("{kind: telephone, noise: pink}", "condition.noise", "only kind: noise"),
        ("{kind: static}", "condition.kind", "static"),
    ],
)
def test_bad_conditions_name_the_field(tmp_path, condition, field, words):
    with pytest.raises(RecipeError) as info:
        _recipe(tmp_path, f"    - {{source: manifest, path: set.jsonl, condition: {condition}}}\n")
    assert f"data.eval[0].{field}" in str(info.value) and words in str(info.value)


def test_babble_needs_other_clips(tmp_path):
    _clips(tmp_path)
    (tmp_path / "one.jsonl").write_text('{"id": "c0", "audio": "c0.wav", "text": "clip"}\n')
    path = tmp_path / "r.yaml"
    path.write_text(
        "name: cond\nbase_model: bundled:tiny.en\ndata:\n  eval:\n"
        "    - {source: manifest, path: one.jsonl, condition: {kind: noise, noise: babble}}\n"
    )
    with pytest.raises(DataError, match=r"data.eval\[0\].condition: .*babble needs at least 2"):
        prepare_data(load_recipe(path), tmp_path / "out", log=lambda m: None)
