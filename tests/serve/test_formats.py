"""Response formats, and the timed transcripts they are made from."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import LIBRIVOX
from workbench.audio import load_audio
from workbench.decoding.options import DecodingOptions
from workbench.models.loading import load_model
from workbench.serve.formats import render, timestamp
from workbench.transcribe import DecodeOptions, Segment, Transcriber, Transcript

TWO = Transcript(
    "Take metoprolol. Twice a day.",
    (Segment(0.0, 2.5, "Take metoprolol.", (1, 2)), Segment(2.5, 3661.25, "Twice a day.", (3,))),
    3661.3,
    None,
)


def test_timestamps():
    assert timestamp(0, ",") == "00:00:00,000"
    assert timestamp(3661.25, ".") == "01:01:01.250"


def test_subtitles_and_verbose_json():
    assert render(TWO, "srt", temperature=0.0, language=None) == (
        "1\n00:00:00,000 --> 00:00:02,500\nTake metoprolol.\n\n"
        "2\n00:00:02,500 --> 01:01:01,250\nTwice a day.\n"
    )
    assert render(TWO, "vtt", temperature=0.0, language=None) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nTake metoprolol.\n\n"
        "00:00:02.500 --> 01:01:01.250\nTwice a day.\n"
    )
    assert render(TWO, "text", temperature=0.0, language=None) == TWO.text + "\n"
    assert render(TWO, "json", temperature=0.0, language=None) == {
        "text": TWO.text,
        "usage": {"type": "duration", "seconds": 3662},
    }
    verbose = render(TWO, "verbose_json", temperature=0.2, language="de")
    assert verbose["language"] == "german" and verbose["duration"] == 3661.3
    assert [s["id"] for s in verbose["segments"]] == [0, 1]
    assert verbose["segments"][1] == {
        "id": 1,
        "start": 2.5,
        "end": 3661.25,
        "text": "Twice a day.",
        "tokens": [3],
        "temperature": 0.2,
        "compression_ratio": pytest.approx(len(b"Twice a day.") / 20, rel=0.5),
    }
    with pytest.raises(ValueError, match="expected one of"):
        render(TWO, "docx", temperature=0.0, language=None)


def test_timed_transcripts_have_the_texts_of_transcribe(tiny_model_dir):
    """Short clips and a 40-second one: the same texts as `transcribe_arrays`, with segments
    inside the audio's span."""
    loaded = load_model(str(tiny_model_dir), device="cpu")
    clips = [load_audio(p) for p in sorted(LIBRIVOX.glob("*.wav"))[:2]]
    long = np.concatenate([clips[0]] * 6)[: 40 * 16000]
    # Unguarded: the random model falls back on every window, and the long-form path samples
    # its fallbacks unseeded, so two decodings of it would differ.
    options = DecodeOptions(decoding=DecodingOptions.unguarded(), max_new_tokens=6)
    transcriber = Transcriber(loaded, options, batch_size=4)
    audios = [clips[0], long, clips[1]]
    timed = transcriber.transcribe_timed(audios)
    assert [t.text for t in timed] == transcriber.transcribe_arrays(audios)
    assert [round(t.duration, 2) for t in timed] == [7.1, 40.0, 2.99]
    for t in timed:
        assert all(0 <= s.start <= s.end <= t.duration + 0.01 for s in t.segments)
        assert " ".join(s.text for s in t.segments).replace(" ", "") == t.text.replace(" ", "")
