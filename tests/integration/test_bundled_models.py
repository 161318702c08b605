"""The real bundled models on real recorded speech (Debian pocketsphinx-testdata)."""

from __future__ import annotations

import subprocess
import sys

import ctranslate2
import jiwer
import numpy as np
import pytest
from conftest import LIBRIVOX, need_librivox

from workbench.audio import load_audio
from workbench.demo import librivox_clips
from workbench.evaluate.normalize import get_normalizer
from workbench.features import log_mel
from workbench.models.bundled import BUNDLED, ct2_folder
from workbench.models.loading import load_model
from workbench.transcribe import DecodeOptions, Transcriber

pytestmark = pytest.mark.integration

CARDS = LIBRIVOX.parent / "cards"


@pytest.fixture(scope="module")
def clips():
    need_librivox()
    paths = [c.path for c in librivox_clips()] + sorted(CARDS.glob("*.wav"))
    return paths, [load_audio(p) for p in paths]


@pytest.mark.parametrize("name", ["tiny.en", "base"])
def test_greedy_token_ids_equal_faster_whisper_on_the_same_features(name, clips):
    """Same log-mel in, same token ids out: the conversion is exact."""
    paths, audios = clips
    loaded = load_model(f"bundled:{name}", device="cpu")
    tok = loaded.processor.tokenizer
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    features = log_mel(loaded.processor.feature_extractor, audios)

    kwargs = {"num_beams": 1, "do_sample": False, "max_new_tokens": 200}
    prompt = ["<|startoftranscript|>", "<|notimestamps|>"]
    if loaded.multilingual:
        kwargs.update(language="en", task="transcribe")
        prompt[1:1] = ["<|en|>", "<|transcribe|>"]
    ours = loaded.model.generate(features, **kwargs)
    ours_ids = [[int(t) for t in row if t < eot] for row in ours]

    ct2 = ctranslate2.models.Whisper(str(ct2_folder(BUNDLED[name])), compute_type="float32")
    theirs = ct2.generate(
        ctranslate2.StorageView.from_array(np.ascontiguousarray(features.numpy())),
        [tok.convert_tokens_to_ids(prompt)] * len(paths),
        beam_size=1,
        max_length=200,
        suppress_blank=True,
        suppress_tokens=[-1],
    )
    theirs_ids = [[t for t in r.sequences_ids[0] if t < eot] for r in theirs]
    assert all(ours_ids), "empty transcripts: the comparison would prove nothing"
    for path, a, b in zip(paths, ours_ids, theirs_ids, strict=True):
        assert a == b, f"{path.name}: {tok.decode(a)!r} != {tok.decode(b)!r}"
    for ids in ours_ids:  # generated ids re-encode to themselves (training labels)
        assert tok(tok.decode(ids), add_special_tokens=False).input_ids == ids


def test_transcribe_gets_the_words_of_a_clean_clip():
    need_librivox()
    clip = librivox_clips()[0]
    result = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "transcribe", str(clip.path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    path, text = result.stdout.rstrip("\n").split("\t")
    assert path == str(clip.path)
    normalize = get_normalizer("en")
    assert normalize(text) == normalize(clip.text)


def test_transcribe_reports_bad_files_and_goes_on(tmp_path):
    need_librivox()
    good = librivox_clips()[1].path
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(b"ID3" + bytes(range(256)) * 8)
    result = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "transcribe", str(empty), str(good), str(garbage)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    out = result.stdout.splitlines()
    assert len(out) == 1 and out[0].startswith(f"{good}\t")
    assert "young man" in out[0]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {empty}: empty file (0 bytes)",
        *[e for e in errors if e.startswith(f"error: {garbage}: cannot decode audio")],
    ]
    assert len(errors) == 2


def test_long_clip_goes_through_long_form_decoding(clips):
    _, audios = clips
    long = np.concatenate(audios[:5])  # about 25 s of LibriVox, twice: over 30 s
    long = np.concatenate([long, long])
    assert len(long) > 30 * 16000
    text = Transcriber(load_model("bundled:tiny.en", device="cpu")).transcribe_arrays([long])[0]
    normalize = get_normalizer("en")
    assert normalize(text).count("dashwood") == 2
    assert normalize(text).endswith("amiable himself")


def test_multilingual_base_transcribes_english(clips):
    _, audios = clips
    loaded = load_model("bundled:base", device="cpu")
    texts = Transcriber(loaded).transcribe_arrays(audios[:5])
    refs = [c.text for c in librivox_clips()]
    normalize = get_normalizer("en")
    wer = jiwer.process_words([normalize(r) for r in refs], [normalize(t) for t in texts]).wer
    assert wer < 0.1, (wer, texts)


def test_a_bf16_encoder_gives_the_fp32_transcripts(clips):
    """The default on CPUs with native bf16: faster, and (on these clips) the same words."""
    _, audios = clips
    texts = {}
    for precision in ("fp32", "bf16"):
        loaded = load_model("bundled:tiny.en", device="cpu")
        options = DecodeOptions(encoder_precision=precision)
        texts[precision] = Transcriber(loaded, options).transcribe_arrays(audios)
    assert all(texts["fp32"])
    assert texts["bf16"] == texts["fp32"]
