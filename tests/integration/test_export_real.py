"""The real bundled model, adapted, exported to faster-whisper int8: it transcribes like the
merged model (word agreement on real clips)."""

from __future__ import annotations

import json

import jiwer
import pytest

from tests.conftest import LIBRIVOX, need_librivox
from workbench.demo import librivox_clips
from workbench.evaluate.normalize import get_normalizer
from workbench.export.package import export_ct2, export_merged
from workbench.models.loading import load_model
from workbench.recipe import load_recipe
from workbench.runs import RunDir
from workbench.train.loop import train_recipe
from workbench.transcribe import Transcriber

pytestmark = pytest.mark.integration


def test_ct2_int8_agrees_with_the_merged_model(tmp_path):
    need_librivox()
    clips = librivox_clips()
    cards = sorted((LIBRIVOX.parent / "cards").glob("*.wav"))
    manifest = tmp_path / "train.jsonl"
    manifest.write_text(
        "\n".join(json.dumps({"id": p.stem, "audio": str(p), "text": "card game"}) for p in cards)
    )
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"""name: real-export
base_model: bundled:tiny.en
data: {{train: [{{source: manifest, path: {manifest}}}], eval_fraction: 0}}
augment: {{speed: null, noise: null}}
lora: {{rank: 8, top_encoder_layers: 0, top_decoder_layers: 2}}
train: {{batch_size: 4, max_steps: 2, learning_rate: 1.0e-3}}
"""
    )
    run = RunDir(tmp_path / "run")
    train_recipe(load_recipe(recipe), run, log=lambda m: None)
    merged = export_merged(run.root, tmp_path / "merged")
    ct2 = export_ct2(run.root, tmp_path / "ct2", quantization="int8")

    paths = [str(c.path) for c in clips]
    ours = [
        r.text for r in Transcriber(load_model(str(merged), device="cpu")).transcribe_files(paths)
    ]
    from faster_whisper import WhisperModel

    fw = WhisperModel(str(ct2), device="cpu", compute_type="int8")
    theirs = []
    for path in paths:
        segments, _ = fw.transcribe(
            path,
            beam_size=1,
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        theirs.append(" ".join(s.text.strip() for s in segments))
    normalize = get_normalizer("en")
    disagreement = jiwer.process_words(
        [normalize(t) for t in ours], [normalize(t) for t in theirs]
    ).wer
    assert disagreement <= 0.1, list(zip(ours, theirs, strict=True))
