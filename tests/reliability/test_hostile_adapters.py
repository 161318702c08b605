"""Hostile adapter configs (issue 19, item 9): a rank of a million with no weights, an
initialisation that rewrites the base weights on load (PiSSA, OLoRA, ...), a package with
its workbench marker deleted. Each is refused before it touches the model; base figures are
always computed on base weights that are bit for bit the ones loaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.reliability.test_untrusted import trained  # noqa: F401 (fixture)
from workbench.cli import main
from workbench.export.adapter_check import (
    MARKER,
    AdapterError,
    base_digest,
    check_adapter_fits,
    check_base_untouched,
)
from workbench.models.loading import load_model

pytestmark = pytest.mark.reliability


def edited(adapter: Path, folder: Path, config: dict | None = None, drop=(), weights=None):
    """A copy of ``adapter`` with config keys set, files dropped, weights replaced."""
    shutil.copytree(adapter, folder)
    if config:
        data = json.loads((folder / "adapter_config.json").read_text())
        data.update(config)
        (folder / "adapter_config.json").write_text(json.dumps(data))
    for name in drop:
        (folder / name).unlink()
    if weights is not None:
        save_file(weights, str(folder / "adapter_model.safetensors"))
    return folder


def hostile_cases(adapter: Path, tmp: Path) -> dict[str, tuple[Path, str]]:
    """name -> (package, words the refusal must hold)."""
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    key = next(iter(weights))
    base_weight = key.split(".lora_")[0] + ".weight"
    cases = {
        "rank of a million, no weights": (
            edited(adapter, tmp / "huge", {"r": 1_000_000}, weights={}),
            "r is 1000000",
        ),
        "no weights at all": (edited(adapter, tmp / "empty", weights={}), "no LoRA weights"),
        "huge alpha": (edited(adapter, tmp / "alpha", {"lora_alpha": 1e9}), "lora_alpha"),
        "bias training": (edited(adapter, tmp / "bias", {"bias": "all"}), "bias is 'all'"),
        "full module copies": (
            edited(adapter, tmp / "save", {"modules_to_save": ["proj_out"]}),
            "modules_to_save",
        ),
        "DoRA": (edited(adapter, tmp / "dora", {"use_dora": True}), "use_dora"),
        "layer replication": (
            edited(adapter, tmp / "repl", {"layer_replication": [[0, 2], [1, 2]]}),
            "layer_replication",
        ),
        "an unknown setting": (
            edited(adapter, tmp / "unknown", {"future_magic": {"x": 1}}),
            "future_magic",
        ),
        "a regex target": (
            edited(adapter, tmp / "regex", {"target_modules": "(a+)+b"}),
            "not module names",
        ),
        "a base weight beside the LoRA ones": (
            edited(
                adapter,
                tmp / "extra",
                weights={**weights, base_weight: torch.zeros(4, 4)},
            ),
            "not a LoRA A or B matrix",
        ),
        "marker deleted": (edited(adapter, tmp / "nomarker", drop=[MARKER]), MARKER),
    }
    for method in ("pissa", "olora", "loftq", "eva", "corda", "pissa_niter_4"):
        cases[f"init {method}"] = (
            edited(adapter, tmp / f"init-{method}", {"init_lora_weights": method}),
            "init_lora_weights",
        )
    return cases


def test_hostile_configs_are_refused_before_loading(trained, tiny_model_dir, tmp_path):  # noqa: F811
    _, run = trained
    loaded = load_model(str(tiny_model_dir), device="cpu")
    for name, (folder, words) in hostile_cases(run.adapter, tmp_path).items():
        with pytest.raises(AdapterError) as caught:
            check_adapter_fits(folder, str(tiny_model_dir), loaded.model, None)
        assert words in str(caught.value), (name, str(caught.value))
    print(f"\n{len(hostile_cases(run.adapter, tmp_path / 'again'))} hostile configs refused")


def test_hostile_configs_are_refused_by_the_cli(trained, tiny_model_dir, tmp_path, capsys):  # noqa: F811
    recipe, run = trained
    from workbench.recipe import load_recipe

    manifest = load_recipe(recipe).data.train[0].path
    clip = json.loads(Path(manifest).read_text().splitlines()[0])["audio"]
    cases = hostile_cases(run.adapter, tmp_path)
    for name in ("rank of a million, no weights", "init pissa", "marker deleted"):
        folder, words = cases[name]
        code = main(["transcribe", clip, "--model", str(tiny_model_dir), "--adapter", str(folder)])
        err = capsys.readouterr().err
        assert code == 2 and words in err and "Traceback" not in err, (name, err)
        out = tmp_path / f"{folder.name}.json"
        code = main(
            ["eval", str(recipe), "--adapter", str(folder), "--data", manifest, "--out", str(out)]
        )
        err = capsys.readouterr().err
        assert code != 0 and words in err and "Traceback" not in err, (name, err)
        assert not out.exists()


def test_a_foreign_adapter_needs_the_flag_and_a_matching_base(
    trained,  # noqa: F811
    tiny_model_dir,
    tmp_path,
):
    _, run = trained
    loaded = load_model(str(tiny_model_dir), device="cpu")
    spec = str(tiny_model_dir)
    plain = edited(run.adapter, tmp_path / "foreign", {"base_model_name_or_path": spec}, [MARKER])
    with pytest.raises(AdapterError, match="--foreign-adapter"):
        check_adapter_fits(plain, spec, loaded.model, None)
    check_adapter_fits(plain, spec, loaded.model, None, foreign=True)
    other = edited(
        run.adapter,
        tmp_path / "other",
        {"base_model_name_or_path": "openai/whisper-large"},
        [MARKER],
    )
    with pytest.raises(AdapterError, match="made for base model openai/whisper-large"):
        check_adapter_fits(other, spec, loaded.model, None, foreign=True)
    nameless = edited(
        run.adapter, tmp_path / "nameless", {"base_model_name_or_path": None}, [MARKER]
    )
    with pytest.raises(AdapterError, match="names no base_model_name_or_path"):
        check_adapter_fits(nameless, spec, loaded.model, None, foreign=True)


def test_pissa_really_rewrites_the_base_and_the_digest_catches_it(
    trained,  # noqa: F811
    tiny_model_dir,
    tmp_path,
):
    """Why the init check matters: loading a 'pissa' adapter without it changes the base
    weights; :func:`check_base_untouched` is the second line and catches it too."""
    from peft import PeftModel

    _, run = trained
    folder = edited(run.adapter, tmp_path / "pissa", {"init_lora_weights": "pissa"})
    loaded = load_model(str(tiny_model_dir), device="cpu")
    before = base_digest(loaded.model)
    wrapped = PeftModel.from_pretrained(loaded.model, str(folder))
    with pytest.raises(AdapterError, match="changed the base model's weight"):
        check_base_untouched(wrapped, before, folder)


def base_state(model) -> dict[str, torch.Tensor]:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return {
        k.replace(".base_layer.", "."): v.detach().clone()
        for k, v in base.state_dict().items()
        if ".lora_" not in k
    }


def test_base_weights_are_bit_identical_after_loading_and_base_transcripts_unaffected(
    trained,  # noqa: F811
    tiny_model_dir,
    tmp_path,
):
    from workbench.audio import load_audio
    from workbench.evaluate.compare import evaluate_adapter
    from workbench.recipe import load_recipe
    from workbench.transcribe import AdapterSet, DecodeOptions, Transcriber

    recipe_path, run = trained
    loaded = load_model(str(tiny_model_dir), device="cpu")
    before = base_state(loaded.model)
    adapters = AdapterSet(loaded, [run.adapter])
    after = base_state(loaded.model)
    assert before.keys() == after.keys()
    for name, tensor in before.items():
        assert tensor.dtype == after[name].dtype and torch.equal(tensor, after[name]), name
    assert adapters.names

    recipe = load_recipe(recipe_path)
    manifest = recipe.data.train[0].path
    clips = [json.loads(line)["audio"] for line in Path(manifest).read_text().splitlines()[:3]]
    report = evaluate_adapter(recipe, run.adapter, data=[manifest], log=lambda m: None)
    utts = [u for s in report["sets"].values() for u in s["utterances"]]
    plain = load_model(str(tiny_model_dir), device="cpu")
    options = DecodeOptions(
        decoding=recipe.eval.decoding_options(),
        language=recipe.language,
        max_new_tokens=recipe.eval.max_new_tokens,
        encoder_precision="fp32",
    )
    texts = Transcriber(plain, options, batch_size=1).transcribe_arrays(
        [load_audio(c) for c in clips]
    )
    by_audio = {Path(u["audio"]).name: u["base"] for u in utts if u.get("audio")}
    compared = 0
    for clip, text in zip(clips, texts, strict=True):
        if Path(clip).name in by_audio:
            assert by_audio[Path(clip).name] == text, clip
            compared += 1
    assert compared >= 1
