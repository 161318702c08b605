"""The lexicon boost on the real bundled tiny.en: it writes a term the plain model misses and
leaves a clip without terms as it was. Speech from the project's neural TTS voice (piper:joe)."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.audio import SAMPLE_RATE
from workbench.decoding.boost import boost_processor
from workbench.decoding.options import DecodingOptions
from workbench.evaluate.normalize import get_normalizer
from workbench.lexicon import load_lexicon
from workbench.models.loading import load_model
from workbench.paths import domains_root
from workbench.transcribe import DecodeOptions, Transcriber

pytestmark = pytest.mark.integration

SENTENCES = (
    "Give cefazolin before surgery.",
    "Give haloperidol now.",
    "The weather was nice so we went for a long walk by the river.",
    "I met a friend in the right place at a very high pitched moment.",
)


@pytest.fixture(scope="module")
def clips():
    import librosa

    from workbench.data.tts import VoiceError, get_voice

    try:
        voice = get_voice("piper:joe")
    except VoiceError as exc:
        pytest.skip(str(exc))
    out = []
    for text in SENTENCES:
        audio, rate = voice.synthesize(text)
        out.append(librosa.resample(audio, orig_sr=rate, target_sr=SAMPLE_RATE).astype(np.float32))
    return out


def test_the_boost_recovers_terms_and_leaves_everyday_speech_alone(clips):
    loaded = load_model("bundled:tiny.en", device="cpu")
    lexicon = load_lexicon(domains_root() / "medical" / "lexicon.tsv")
    normalize = get_normalizer("en")
    options = DecodeOptions(
        decoding=DecodingOptions.unguarded(beam_size=4), encoder_precision="fp32"
    )
    plain = Transcriber(loaded, options).transcribe_arrays(clips)
    processor = boost_processor(lexicon, loaded.processor.tokenizer, 2.0)
    boosted = Transcriber(loaded, options, logits_processor=processor).transcribe_arrays(clips)
    for i, term in enumerate(("cefazolin", "haloperidol")):
        assert term not in normalize(plain[i]), plain[i]
        assert term in normalize(boosted[i]), boosted[i]
    assert boosted[2:] == plain[2:]
    assert not [t for text in boosted[2:] for t in lexicon.find_terms(text, normalize)]
