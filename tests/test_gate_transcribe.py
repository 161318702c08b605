"""`workbench transcribe --adapter PKG --term-gate`: the adapter's transcript only where it
changes a lexicon term, the base model's elsewhere; one encoder pass for both systems."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import LIBRIVOX
from tests.train.conftest import tiny_package
from workbench.audio import load_audio
from workbench.cli import main
from workbench.decoding.gate import TermGate
from workbench.export.adapter_check import read_adapter_info, touches_encoder
from workbench.lexicon import Lexicon, Term
from workbench.models.loading import load_model
from workbench.transcribe import AdapterSet, DecodeOptions, Transcriber

CLIPS = sorted(LIBRIVOX.glob("*.wav"))[:3]
OPTIONS = DecodeOptions(max_new_tokens=6)


@pytest.fixture(scope="module")
def package(tmp_path_factory, tiny_model_dir, speech_manifests):
    """A decoder-only adapter package of the tiny model, trained hard enough to write
    differently from the base."""
    return tiny_package(
        tmp_path_factory.mktemp("gate"),
        tiny_model_dir,
        speech_manifests,
        "tiny-gate",
        "lora: {rank: 4, top_encoder_layers: 0, top_decoder_layers: 2}\n"
        "train: {batch_size: 2, max_steps: 3, learning_rate: 1.0e-1}\n",
    )


def both(tiny_model_dir, package):
    loaded = load_model(str(tiny_model_dir))
    adapters = AdapterSet(loaded, [package])
    transcriber = Transcriber(loaded, OPTIONS)
    audio = [load_audio(c) for c in CLIPS]
    with adapters.using(None):
        base = transcriber.transcribe_arrays(audio)
    with adapters.using(adapters.names[0]):
        adapted = transcriber.transcribe_arrays(audio)
    return loaded, adapters, transcriber, audio, base, adapted


def a_term_only_the_adapter_writes(base: list[str], adapted: list[str]) -> tuple[int, str]:
    for i, (b, a) in enumerate(zip(base, adapted, strict=True)):
        words = [w for w in a.split() if w.isalpha() and w.lower() not in b.lower().split()]
        if words:
            return i, words[0]
    pytest.skip("the tiny adapter wrote no word the base model did not")


def test_the_gate_takes_the_adapter_only_on_a_changed_term(tiny_model_dir, package):
    assert not touches_encoder(read_adapter_info(package)["config"])
    loaded, adapters, transcriber, audio, base, adapted = both(tiny_model_dir, package)
    i, word = a_term_only_the_adapter_writes(base, adapted)
    gate = TermGate(transcriber, adapters, adapters.names[0], Lexicon([Term(word, "term")]))
    calls = []
    hook = loaded.model.get_encoder().register_forward_hook(lambda *a: calls.append(1))
    texts = gate.transcribe_arrays(audio)
    hook.remove()
    assert texts[i] == adapted[i]
    for j in range(len(audio)):
        if adapted[j] == base[j]:
            assert texts[j] == base[j]
    assert gate.clips == len(audio) and 1 <= gate.adapted_taken <= len(audio)
    assert len(calls) == 1  # one batch, one encoder pass for both systems
    # with no term in play the base model's transcripts come back unchanged
    quiet = TermGate(transcriber, adapters, adapters.names[0], Lexicon([Term("zzqx", "term")]))
    assert quiet.transcribe_arrays(audio) == base


def test_the_gate_compares_the_transcripts_after_the_rewrite(tiny_model_dir, package):
    _, adapters, transcriber, audio, base, adapted = both(tiny_model_dir, package)
    i, word = a_term_only_the_adapter_writes(base, adapted)

    def rewrite(text: str) -> str:  # as if a misrecognition of the term were rewritten
        return text if word in text.split() else f"{text} {word}"

    lexicon = Lexicon([Term(word, "term")])
    gated = TermGate(transcriber, adapters, adapters.names[0], lexicon, rewrite=rewrite)
    texts = gated.transcribe_arrays(audio)
    # rewritten, both sides write the term: no change of term, so the base side is taken
    assert texts[i] == rewrite(base[i]) != adapted[i]
    assert texts == [rewrite(b) for b in base]


def test_serve_gates_as_transcribe_does(tiny_model_dir, package, tmp_path):
    from workbench.serve.config import ServeConfig
    from workbench.serve.engine import DecodeKey, ModelHost, decode

    _, adapters, transcriber, audio, base, adapted = both(tiny_model_dir, package)
    i, word = a_term_only_the_adapter_writes(base, adapted)
    served = tmp_path / "pkg"
    shutil.copytree(package, served)
    (served / "lexicon.tsv").write_text(f"term\tcategory\n{word}\tterm\n")
    config = ServeConfig(
        model=str(tiny_model_dir),
        adapters=[("pkg", served)],
        max_new_tokens=OPTIONS.max_new_tokens,
    )
    host = ModelHost(config)
    assert host.models["pkg"].shares_encoder
    host.load()
    calls = []
    hook = host.loaded.model.get_encoder().register_forward_hook(lambda *a: calls.append(1))
    out = decode(host, DecodeKey("pkg", gate=True), audio)
    hook.remove()
    expected = TermGate(transcriber, adapters, adapters.names[0], Lexicon([Term(word, "term")]))
    assert [t.text for t in out] == expected.transcribe_arrays(audio)
    assert out[i].text == adapted[i]
    assert len(calls) == 1  # one batch, one encoder pass for both sides
    assert [t.text for t in decode(host, DecodeKey("pkg"), audio)] == adapted


def test_transcribe_term_gate_prints_the_gated_text(tiny_model_dir, package, tmp_path, capsys):
    _, _, _, _, base, adapted = both(tiny_model_dir, package)
    i, word = a_term_only_the_adapter_writes(base, adapted)
    lexicon = tmp_path / "lexicon.tsv"
    lexicon.write_text(f"term\tcategory\n{word}\tterm\n")
    args = ["transcribe", *map(str, CLIPS), "--model", str(tiny_model_dir)]
    args += ["--adapter", str(package), "--max-new-tokens", "6"]
    code = main([*args, "--term-gate", "--lexicon", str(lexicon)])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = dict(line.split("\t", 1) for line in out.splitlines())
    assert lines[str(CLIPS[i])] == adapted[i]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--term-gate: give exactly one --adapter, got 0"),
        (["--adapter", "PKG"], "--term-gate needs a lexicon: --lexicon FILE, or"),
    ],
)
def test_term_gate_without_what_it_needs_is_named(tiny_model_dir, package, capsys, extra, message):
    extra = [str(package) if a == "PKG" else a for a in extra]
    code = main(
        ["transcribe", str(CLIPS[0]), "--model", str(tiny_model_dir), "--term-gate", *extra]
    )
    out, err = capsys.readouterr()
    assert code == 2 and message in err and "Traceback" not in err and not out
