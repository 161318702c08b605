"""Export formats, and the checks an adapter passes before it touches a model."""

from __future__ import annotations

import json
import shutil
import sys
import zipfile

import numpy as np
import pytest
import torch
import yaml
from peft import PeftModel
from safetensors.torch import load_file, save_file
from transformers import WhisperForConditionalGeneration, WhisperProcessor

from tests.conftest import LIBRIVOX
from tests.train.conftest import write_tiny_recipe
from workbench.audio import load_audio
from workbench.export.adapter_check import AdapterError, check_adapter_fits
from workbench.export.package import ExportError, export_ct2, export_merged, export_peft
from workbench.features import log_mel
from workbench.models.loading import load_model
from workbench.recipe import load_recipe
from workbench.runs import RunDir
from workbench.train.loop import train_recipe


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model_dir, speech_manifests):
    folder = tmp_path_factory.mktemp("exportrun")
    recipe = write_tiny_recipe(
        folder / "recipe.yaml",
        tiny_model_dir,
        speech_manifests,
        "tiny-export",
        extra="lora: {rank: 4, top_encoder_layers: 1, top_decoder_layers: 1}\n"
        "train: {batch_size: 2, max_steps: 2, learning_rate: 5.0e-2}\n",
    )
    run = RunDir(folder / "run")
    train_recipe(load_recipe(recipe), run, log=lambda m: None)
    return run


def features(model_dir):
    processor = WhisperProcessor.from_pretrained(model_dir)
    return log_mel(
        processor.feature_extractor, [load_audio(p) for p in sorted(LIBRIVOX.glob("*.wav"))[:2]]
    )


def test_peft_package(run, tiny_model_dir, tmp_path):
    folder, archive = export_peft(run.root, tmp_path / "pkg")
    names = {p.name for p in folder.iterdir()}
    assert {
        "adapter_config.json",
        "adapter_model.safetensors",
        "recipe.yaml",
        "README.md",
        "workbench_adapter.json",
    } <= names
    assert set(zipfile.ZipFile(archive).namelist()) == names
    card = (folder / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["library_name"] == "peft" and front["base_model"] == str(tiny_model_dir)
    assert len(front["base_model_sha256"]) == 64
    # How to serve it and call it.
    assert f"workbench serve --model {tiny_model_dir} --adapter tiny-export=" in card
    assert "-F model=tiny-export" in card and 'create(model="tiny-export"' in card
    base = WhisperForConditionalGeneration.from_pretrained(tiny_model_dir)
    model = PeftModel.from_pretrained(base, str(folder)).eval()
    assert model.generate(features(tiny_model_dir)[:1], max_new_tokens=3).shape[0] == 1


def test_merged_model_equals_the_adapted_model(run, tiny_model_dir, tmp_path):
    out = export_merged(run.root, tmp_path / "merged")
    merged = WhisperForConditionalGeneration.from_pretrained(out).eval()
    base = WhisperForConditionalGeneration.from_pretrained(tiny_model_dir)
    adapted = PeftModel.from_pretrained(base, str(run.adapter)).eval()
    x = features(tiny_model_dir)
    ids = torch.tensor([[50257, 50362, 400, 11]] * x.shape[0])
    with torch.no_grad():
        torch.testing.assert_close(
            merged(input_features=x, decoder_input_ids=ids).logits,
            adapted(input_features=x, decoder_input_ids=ids).logits,
            rtol=1e-4,
            atol=1e-4,
        )
    from transformers import pipeline

    asr = pipeline("automatic-speech-recognition", model=str(out), device="cpu")
    clip = load_audio(sorted(LIBRIVOX.glob("*.wav"))[0])
    assert isinstance(asr({"raw": clip, "sampling_rate": 16000})["text"], str)


def test_ct2_folder_decodes_like_the_merged_model(run, tmp_path):
    import ctranslate2
    from faster_whisper import WhisperModel

    out = export_ct2(run.root, tmp_path / "ct2", quantization="float32")
    assert (out / "model.bin").is_file()
    WhisperModel(str(out), device="cpu", compute_type="float32")  # faster-whisper loads it
    merged_dir = export_merged(run.root, tmp_path / "merged")
    merged = WhisperForConditionalGeneration.from_pretrained(merged_dir).eval()
    x = features(merged_dir)
    ours = merged.generate(x, max_new_tokens=8, num_beams=1, do_sample=False)
    ct2 = ctranslate2.models.Whisper(str(out), compute_type="float32")
    theirs = ct2.generate(
        ctranslate2.StorageView.from_array(np.ascontiguousarray(x.numpy())),
        [[50257, 50362]] * x.shape[0],
        beam_size=1,
        max_length=10,
    )
    for row, result in zip(ours.tolist(), theirs, strict=True):
        a = [t for t in row if t < 50256]
        b = [t for t in result.sequences_ids[0] if t < 50256]
        assert a[: len(b)] == b[: len(a)]


def test_export_before_training_is_a_clear_error(tmp_path):
    with pytest.raises(ExportError, match="no adapter yet"):
        export_peft(tmp_path, tmp_path / "out")


@pytest.fixture
def base(tiny_model_dir):
    return str(tiny_model_dir), WhisperForConditionalGeneration.from_pretrained(tiny_model_dir)


def test_adapter_checks(run, base, tmp_path):
    spec, model = base
    info = check_adapter_fits(run.adapter, spec, model, None)
    assert info["config"]["r"] == 4

    pickled = tmp_path / "pickled"
    shutil.copytree(run.adapter, pickled)
    (pickled / "adapter_model.bin").write_bytes(b"\x80\x04evil")
    with pytest.raises(AdapterError, match="holds pickled files"):
        check_adapter_fits(pickled, spec, model, None)

    with pytest.raises(AdapterError, match="made for base model"):
        check_adapter_fits(run.adapter, "bundled:base", model, None)
    meta = json.loads((run.adapter / "workbench_adapter.json").read_text())
    with pytest.raises(AdapterError, match="same name, other weights"):
        check_adapter_fits(
            run.adapter, spec, model, "f" * 64 if meta["base_sha256"] != "f" * 64 else "0" * 64
        )

    reranked = tmp_path / "reranked"
    shutil.copytree(run.adapter, reranked)
    config = json.loads((reranked / "adapter_config.json").read_text())
    config["r"] = 8
    (reranked / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(AdapterError, match=r"needs \(8, 64\)|needs \(64, 8\)"):
        check_adapter_fits(reranked, spec, model, None)

    damaged = tmp_path / "damaged"
    shutil.copytree(run.adapter, damaged)
    (damaged / "adapter_model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(AdapterError, match="not a readable safetensors file"):
        check_adapter_fits(damaged, spec, model, None)


def test_adapters_switch_without_reloading_the_base(run, tiny_model_dir, tmp_path):
    from workbench.transcribe import AdapterSet

    doubled = tmp_path / "doubled"
    shutil.copytree(run.adapter, doubled)
    weights = load_file(str(doubled / "adapter_model.safetensors"))
    save_file({k: v * 3 for k, v in weights.items()}, str(doubled / "adapter_model.safetensors"))
    loaded = load_model(str(tiny_model_dir), device="cpu")
    base_object = loaded.model
    adapters = AdapterSet(loaded, [run.adapter, doubled])
    assert adapters.names == ["adapter", "doubled"]
    assert loaded.model.base_model.model is base_object  # one base, two adapters
    x = features(tiny_model_dir)[:1]
    ids = torch.tensor([[50257, 50362, 400]])

    def logits():
        with torch.no_grad():
            return loaded.model(input_features=x, decoder_input_ids=ids).logits

    adapters.activate("adapter")
    first = logits()
    adapters.activate("doubled")
    second = logits()
    adapters.activate("adapter")
    assert not torch.allclose(first, second)
    torch.testing.assert_close(logits(), first)


def test_adapters_trained_without_the_prompt_are_named(run, tiny_model_dir, tmp_path):
    """Decoded with the lexicon prompt, an adapter never trained with it can do much worse
    (medical recipe: WER 0.15 -> 0.59): `transcribe --lexicon-prompt` and Try it say so."""
    from workbench.transcribe import AdapterSet

    package, _ = export_peft(run.root, tmp_path / "plain")
    prompted = tmp_path / "prompted"
    shutil.copytree(package, prompted)
    recipe = yaml.safe_load((prompted / "recipe.yaml").read_text())
    recipe["train"]["prompt_p"] = 0.5
    (prompted / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    loaded = load_model(str(tiny_model_dir), device="cpu")
    adapters = AdapterSet(loaded, [package, run.adapter, prompted])
    assert adapters.names == ["plain", "adapter", "prompted"]
    # The package holds its recipe; a run's adapter/ is read through the run's recipe.yaml.
    assert adapters.trained_without_prompt() == ["plain", "adapter"]


def test_ct2_without_ctranslate2_says_what_to_install(tmp_path, monkeypatch, capsys):
    """The default install has no CTranslate2: the CLI and the UI's export say in one line
    what to install, with no traceback."""
    from workbench.cli import main
    from workbench.ui.export_tab import build_export

    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # import ctranslate2 -> ImportError
    monkeypatch.setitem(sys.modules, "ctranslate2.converters", None)
    assert main(["export", str(tmp_path), "--format", "ct2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'ctranslate2>=4.4'" in err
    assert "Traceback" not in err
    with pytest.raises(ExportError, match=r"pip install 'ctranslate2>=4\.4'"):
        build_export(tmp_path, "ct2")
