"""workbench eval: base vs adapted on the same audio; report.json per DESIGN.md section 9."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.train.conftest import write_tiny_recipe
from workbench.evaluate.compare import evaluate_adapter
from workbench.export.adapter_check import AdapterError, read_adapter_info
from workbench.models.precision import native_bf16
from workbench.recipe import load_recipe
from workbench.runs import RunDir
from workbench.train.loop import train_recipe


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir, speech_manifests):
    folder = tmp_path_factory.mktemp("evalrun")
    recipe = write_tiny_recipe(
        folder / "recipe.yaml",
        tiny_model_dir,
        speech_manifests,
        "tiny-eval",
        data_extra=f"  general: [{{source: manifest, path: {speech_manifests['general']}}}]\n",
        extra="lora: {rank: 4, top_encoder_layers: 1, top_decoder_layers: 1}\n"
        "train: {batch_size: 2, max_steps: 2, learning_rate: 1.0e-2, log_steps: 1}\n"
        "eval: {batch_size: 4, max_new_tokens: 24}\n",
    )
    run = RunDir(folder / "run")
    train_recipe(load_recipe(recipe), run, log=lambda m: None)
    return recipe, run


def test_report_json_contract(trained, speech_manifests, tmp_path):
    recipe, run = trained
    out = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench.cli",
            "eval",
            str(recipe),
            "--adapter",
            str(run.adapter),
            "--data",
            str(speech_manifests["replay"]),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert {"recipe", "base_model", "adapter", "sets"} <= set(report)
    assert list(report["sets"]) == ["replay"]  # --data replaces the recipe's sets
    data = report["sets"]["replay"]
    assert data["n"] == 2
    for system in ("base", "adapted"):
        assert {
            "wer",
            "cer",
            "term_recall",
            "rtf",
            "substitutions",
            "deletions",
            "insertions",
        } <= set(data[system])
    assert data["fixed"] + data["broken"] + data["unchanged"] == 2
    # How both systems were decoded, and what the guards did to each (extensions).
    decoding = report["decoding"]
    assert decoding["num_beams"] == decoding["beam_size"] == 1
    assert decoding["temperatures"] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert decoding["compression_ratio_threshold"] == 2.4 and "fallback" in decoding["summary"]
    for system in ("base", "adapted"):
        counts = data[system]["decoding"]
        assert counts["windows"] == 2
        assert sum(counts["fell_back_by_temperature"].values()) == counts["fell_back"]
        assert counts["attempts"] >= counts["windows"]
    low, high = data["wer_difference"]["ci95"]
    assert low <= data["wer_difference"]["value"] <= high
    u = data["utterances"][0]
    assert {
        "id",
        "reference",
        "base",
        "adapted",
        "base_wer",
        "adapted_wer",
        "base_alignment",
    } <= set(u)
    assert (tmp_path / "utterances.csv").read_text().startswith("set,id,status")
    html = (tmp_path / "report.html").read_text()
    assert "base vs adapted" in html and "<svg" in html
    assert "Decoding guards" in html and "fallback over temperatures" in html
    assert "WER" in result.stdout and "fixed" in result.stdout


def test_recipe_sets_and_default_output_in_the_run_folder(trained):
    recipe, run = trained
    result = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "eval", str(recipe), "--adapter", str(run.adapter)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(run.report.read_text())
    assert list(report["sets"]) == ["general"]


def test_base_and_adapted_differ_only_by_the_adapter(trained, tmp_path):
    """With the adapter's weights zeroed, adapted decodes exactly as base: difference 0."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    recipe, run = trained
    zero = tmp_path / "zero_adapter"
    shutil.copytree(run.adapter, zero)
    weights = load_file(str(zero / "adapter_model.safetensors"))
    save_file(
        {k: torch.zeros_like(v) for k, v in weights.items()},
        str(zero / "adapter_model.safetensors"),
    )
    report = evaluate_adapter(load_recipe(recipe), zero, log=lambda m: None)
    general = report["sets"]["general"]
    assert general["wer_difference"] == {"value": 0.0, "ci95": [0.0, 0.0]}
    assert [u["base"] for u in general["utterances"]] == [
        u["adapted"] for u in general["utterances"]
    ]
    assert general["unchanged"] == general["n"]


def test_an_adapter_for_another_model_is_refused(trained, tmp_path):
    recipe, run = trained
    other = load_recipe(recipe, ["base_model=bundled:tiny.en"])
    with pytest.raises(AdapterError, match="made for base model"):
        evaluate_adapter(other, run.adapter, log=lambda m: None)
    with pytest.raises(AdapterError, match="not an adapter"):
        read_adapter_info(tmp_path)


def test_merged_decoding_gives_the_unmerged_transcripts(trained, monkeypatch):
    import workbench.evaluate.compare as compare

    recipe, run = trained
    merged = evaluate_adapter(load_recipe(recipe), run.adapter, log=lambda m: None)
    assert merged["decoding"]["adapted_merged"] is True
    assert merged["decoding"]["encoder_precision"] == "fp32"  # the recipe's default
    monkeypatch.setattr(compare, "_merge_if_same", lambda loaded, audio: False)
    unmerged = evaluate_adapter(load_recipe(recipe), run.adapter, log=lambda m: None)
    assert unmerged["decoding"]["adapted_merged"] is False
    for a, b in zip(
        merged["sets"]["general"]["utterances"],
        unmerged["sets"]["general"]["utterances"],
        strict=True,
    ):
        assert (a["base"], a["adapted"]) == (b["base"], b["adapted"])


def test_a_decoder_only_adapter_shares_the_encoder_and_changes_nothing(
    trained, tmp_path, monkeypatch
):
    import workbench.evaluate.compare as compare
    import workbench.models.probe as probe

    # bf16 measured faster (where the CPU has it natively), in a cache of this test's own
    monkeypatch.setattr(probe, "cache_path", lambda: tmp_path / "choices.json")
    monkeypatch.setattr(probe, "time_forward", lambda name, forward: {"fp32": 2, "bf16": 1}[name])
    recipe, _ = trained
    decoder_only = load_recipe(recipe, ["lora.top_encoder_layers=0", "eval.encoder_precision=auto"])
    run = RunDir(tmp_path / "dec")
    train_recipe(decoder_only, run, log=lambda m: None)
    shared = evaluate_adapter(decoder_only, run.adapter, log=lambda m: None)
    assert shared["decoding"]["encoder_shared"] is True
    expected = "bf16" if native_bf16("cpu") else "fp32"
    assert shared["decoding"]["encoder_precision"] == expected
    monkeypatch.setattr(compare, "EncoderCache", lambda: None)  # decode without sharing
    alone = evaluate_adapter(decoder_only, run.adapter, log=lambda m: None)
    pairs = zip(
        shared["sets"]["general"]["utterances"], alone["sets"]["general"]["utterances"], strict=True
    )
    for a, b in pairs:
        assert (a["base"], a["adapted"]) == (b["base"], b["adapted"])
    assert shared["sets"]["general"]["adapted"]["rtf"] > 0


@pytest.mark.parametrize(
    ("choice", "runs_in", "merged"),
    [
        # merging into bf16 weights and unmerging would change the base model's encoder
        ("bf16", "bf16", False),
        # auto keeps an adapted encoder in fp32, so the adapter can be merged
        ("auto", "fp32", True),
    ],
)
def test_encoder_precision_with_an_adapted_encoder(trained, choice, runs_in, merged):
    recipe, run = trained
    report = evaluate_adapter(
        load_recipe(recipe, [f"eval.encoder_precision={choice}"]), run.adapter, log=lambda m: None
    )
    assert report["decoding"]["encoder_precision"] == runs_in
    assert report["decoding"]["adapted_merged"] is merged
    assert report["sets"]["general"]["utterances"]


def test_evaluation_counts_the_clips_it_decodes(trained):
    recipe, run = trained
    calls: list[tuple[int, int]] = []
    report = evaluate_adapter(
        load_recipe(recipe),
        run.adapter,
        log=lambda m: None,
        progress=lambda d, t: calls.append((d, t)),
    )
    systems = [
        s
        for s in ("base", "base_prompt", "base_boost", "adapted", "adapted_prompt", "adapted_boost")
        if s in report["sets"]["general"]
    ]
    total = len(systems) * sum(data["n"] for data in report["sets"].values())
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    done = [d for d, _ in calls]
    assert done == sorted(done) and len(calls) > 2  # after each batch, not only at the end
