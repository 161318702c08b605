"""`workbench transcribe --boost X --lexicon FILE`: decodes with the boost, or says why not."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from workbench.cli import main


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1, 16000)
    return path


@pytest.fixture
def lexicon(tmp_path):
    path = tmp_path / "lexicon.tsv"
    path.write_text("term\tcategory\tmisrecognitions\tweight\nvancomycin\tdrug\tVan Comecin\t2\n")
    return path


def run(args, capsys):
    code = main(["transcribe", *map(str, args), "--max-new-tokens", "3"])
    out, err = capsys.readouterr()
    return code, out, err


def test_transcribe_with_the_boost(clip, lexicon, tiny_model_dir, capsys):
    code, out, err = run(
        [clip, "--model", tiny_model_dir, "--boost", "2", "--lexicon", lexicon], capsys
    )
    assert code == 0, err
    assert out.startswith(f"{clip}\t")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--boost", "2"], "--boost needs a lexicon: --lexicon FILE"),
        (["--boost", "-1", "--lexicon", "LEX"], "--boost: expected 0 (off) or more, got -1.0"),
        (["--lexicon", "LEX"], "--lexicon: give --boost X"),
        (["--boost", "2", "--lexicon", "missing.tsv"], "missing.tsv: no such file"),
    ],
)
def test_bad_boost_options_are_named(clip, lexicon, tiny_model_dir, capsys, extra, message):
    extra = [str(lexicon) if a == "LEX" else a for a in extra]
    code, out, err = run([clip, "--model", tiny_model_dir, *extra], capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and not out
