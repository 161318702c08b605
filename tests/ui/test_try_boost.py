"""Try it: the adapter's transcript with the lexicon boost its package would decode with by
default, next to the base and adapted ones."""

from __future__ import annotations

from tests.conftest import LIBRIVOX
from tests.train.conftest import tiny_package
from workbench.audio import load_audio
from workbench.decoding.boost import boost_processor
from workbench.decoding.rewrite import Rewriter
from workbench.lexicon import Lexicon, Term
from workbench.models.loading import load_model
from workbench.transcribe import AdapterSet, DecodeOptions, Transcriber
from workbench.ui.try_tab import ModelCache, transcribe_side_by_side


def test_the_boosted_row_is_the_adapter_decoding_with_the_boost_then_the_rewrites(
    tmp_path, tiny_model_dir, speech_manifests, monkeypatch
):
    package = tiny_package(
        tmp_path,
        tiny_model_dir,
        speech_manifests,
        "tiny-try",
        "lora: {rank: 4, top_encoder_layers: 0, top_decoder_layers: 2}\n"
        "train: {batch_size: 2, max_steps: 2, learning_rate: 1.0e-1}\n",
    )
    audio = load_audio(sorted(LIBRIVOX.glob("*.wav"))[0])
    cache = ModelCache()
    plain = transcribe_side_by_side(cache, str(tiny_model_dir), package, audio, None, None)
    assert set(plain) == {"base", "adapted"}

    loaded = load_model(str(tiny_model_dir))
    AdapterSet(loaded, [package])
    unboosted = plain["adapted"]
    # a misrecognition the adapter writes now, so the rewrite shows in the boosted row
    wrong = unboosted.split()[0] if unboosted.split() else "zzz"
    lexicon = Lexicon([Term("vancomycin", "drug", misrecognitions=(wrong,))])
    texts = transcribe_side_by_side(
        cache, str(tiny_model_dir), package, audio, None, None, lexicon, 20.0
    )
    processor = boost_processor(lexicon, loaded.processor.tokenizer, 20.0)
    direct = Transcriber(loaded, DecodeOptions(), batch_size=1, logits_processor=[processor])
    expected = Rewriter(lexicon)(direct.transcribe_arrays([audio])[0])
    assert texts["adapted + boost"] == expected
    assert texts["adapted"] == unboosted and texts["base"] == plain["base"]
    assert texts["adapted + boost"] != unboosted
    # near misses alone (boost 0): the adapted text through the near-miss rewrite
    import workbench.decoding.snap as snap

    made = []

    def spy(*args, **kwargs):
        made.append(kwargs["near_miss"])
        return real(*args, **kwargs)

    real = snap.lexicon_rewriter
    monkeypatch.setattr(snap, "lexicon_rewriter", spy)
    texts = transcribe_side_by_side(
        cache, str(tiny_model_dir), package, audio, None, None, lexicon, 0.0, 0.75
    )
    rewrite = real(lexicon, loaded.processor.tokenizer, spaced=True, near_miss=0.75)
    assert made == [0.75] and texts["adapted + boost"] == rewrite(unboosted)
