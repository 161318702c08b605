"""The tuned boost end to end: evaluation tunes it, the package carries it, transcribe and
serve decode with it by default, the cards say what it is (and what ct2 loses)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.conftest import LIBRIVOX
from tests.train.conftest import write_tiny_recipe
from workbench.cli import main
from workbench.data.prepare import recipe_lexicon
from workbench.decoding.boost import LexiconBoost
from workbench.decoding.gate import gate
from workbench.decoding.tuning import BoostTuning, GridPoint
from workbench.evaluate.compare import evaluate_adapter
from workbench.evaluate.normalize import get_normalizer
from workbench.export.adapter_check import AdapterError
from workbench.export.boost_setting import BOOST_FILE, read_package_boost
from workbench.export.model_card import HOTWORDS_FILE
from workbench.export.package import export_ct2, export_peft
from workbench.recipe import ManifestSource, load_recipe
from workbench.runs import RunDir, write_json_atomic
from workbench.serve.app import create_app
from workbench.serve.batching import BatchQueue
from workbench.serve.config import ServeConfig
from workbench.serve.engine import ModelHost
from workbench.train.loop import train_recipe
from workbench.transcribe import Transcriber, Transcript

LEXICON = "term\tcategory\tmisrecognitions\nclubs\tsuit\tclub s\nspades\tsuit\t\nhearts\tsuit\t\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir, speech_manifests):
    folder = tmp_path_factory.mktemp("boostrun")
    (folder / "lexicon.tsv").write_text(LEXICON)
    recipe = write_tiny_recipe(
        folder / "recipe.yaml",
        tiny_model_dir,
        speech_manifests,
        "tiny-boost",
        data_extra=f"  eval: [{{source: manifest, path: {speech_manifests['replay']}}}]\n"
        f"  general: [{{source: manifest, path: {speech_manifests['general']}}}]\n",
        extra=f"lexicon: {{path: {folder / 'lexicon.tsv'}, tune_boost: true, "
        "boost_grid: [0, 3]}\n"
        "lora: {rank: 4, top_encoder_layers: 1, top_decoder_layers: 1}\n"
        "train: {batch_size: 2, max_steps: 2, learning_rate: 1.0e-2}\n"
        "eval: {batch_size: 4, max_new_tokens: 8}\n",
    )
    run = RunDir(folder / "run")
    train_recipe(load_recipe(recipe), run, log=lambda m: None)
    return recipe, run


def test_evaluation_tunes_on_a_dev_part_it_does_not_report(trained):
    recipe, run = trained
    report = evaluate_adapter(load_recipe(recipe), run.adapter, log=lambda m: None)
    tuning = report["boost_tuning"]
    assert tuning["grid"] == [0.0, 3.0] and len(tuning["table"]) == 2
    assert tuning["chosen"] in (0.0, 3.0) and tuning["why"]
    reported = {u["id"] for u in report["sets"]["eval"]["utterances"]}
    assert reported and not reported & set(tuning["dev"]["ids"])
    assert report["sets"]["eval"]["n"] == tuning["reported_n"] == 2 - tuning["dev"]["n"]
    assert report["sets"]["general"]["n"] == 1  # the general set is reported whole
    assert report["decoding"]["boost"] == tuning["chosen"]
    assert ("adapted_boost" in report["sets"]["eval"]) == bool(tuning["chosen"])
    assert tuning["constraint"]["set"] == "general"
    assert "served both the constraint and the report" in tuning["note"]


def test_evaluation_with_a_boost_adds_the_boosted_systems_to_every_set(trained):
    recipe, run = trained
    report = evaluate_adapter(load_recipe(recipe), run.adapter, boost=3.0, log=lambda m: None)
    assert "boost_tuning" not in report and report["decoding"]["boost"] == 3.0
    for data in report["sets"].values():
        assert {"base_boost", "adapted_boost", "adapted_gated_boost"} <= set(data)
        assert all("adapted_boost" in u for u in data["utterances"])
        # The gated boost is the gate over the two boosted systems, with no decoding of its own.
        utts = data["utterances"]
        texts, took = gate(
            [u["base_boost"] for u in utts],
            [u["adapted_boost"] for u in utts],
            recipe_lexicon(load_recipe(recipe)),
            get_normalizer("en"),
        )
        assert [u["adapted_gated_boost"] for u in utts] == texts
        assert data["adapted_gated_boost"]["adapted_taken"] == sum(took)
        assert "decoding" not in data["adapted_gated_boost"]  # no decoding of its own


def test_tuning_holds_its_constraint_on_general_dev_when_the_recipe_has_one(
    trained, speech_manifests, tmp_path
):
    recipe, run = trained
    loaded = load_recipe(recipe)
    # clips of their own (copies of two training clips): every split must have its own
    rows = [json.loads(line) for line in speech_manifests["train"].read_text().splitlines()]
    for row in rows[-2:]:
        copy = tmp_path / f"dev-{Path(row['audio']).name}"
        shutil.copyfile(row["audio"], copy)
        row.update(id=f"dev-{row['id']}", audio=str(copy))
    manifest = tmp_path / "general_dev.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows[-2:]))
    dev_source = ManifestSource(path=str(manifest))
    loaded = dataclasses.replace(
        loaded, data=dataclasses.replace(loaded.data, general_dev=[dev_source])
    )
    lines: list[str] = []
    report = evaluate_adapter(loaded, run.adapter, log=lines.append)
    tuning = report["boost_tuning"]
    assert tuning["constraint"]["set"] == "general_dev"
    assert tuning["constraint"]["max_false_alarms_per_1k_words"] == 1.0
    assert "general_dev" in tuning["note"] and "no part in the choice" in tuning["note"]
    assert "general_dev" not in report["sets"]  # it chose; it is not reported
    assert report["sets"]["general"]["n"] == 1
    assert any("2 general_dev clips" in line for line in lines)


def test_eval_refuses_tuning_with_data_or_with_a_boost(trained, speech_manifests, capsys):
    recipe, run = trained
    base = ["eval", str(recipe), "--adapter", str(run.adapter), "--out", "unused.json"]
    assert main([*base, "--tune-boost", "--boost", "2"]) == 2
    assert "give it or --boost X, not both" in capsys.readouterr().err
    assert main([*base, "--tune-boost", "--data", str(speech_manifests["replay"])]) == 2
    assert "does not take --data" in capsys.readouterr().err


def tuning_report(chosen: float) -> dict:
    points = [GridPoint(0.0, 0.5, 0.2, 0.10, 0, 100), GridPoint(2.0, 0.4, 0.6, 0.102, 0, 100)]
    tuning = BoostTuning(points, chosen, "the constructed table's choice", ["d1"], 4)
    return {
        "recipe": "tiny-boost",
        "base_model": "x",
        "decoding": {"boost": chosen},
        "sets": {},
        "boost_tuning": tuning.as_dict(),
    }


@pytest.fixture(scope="module")
def package(trained, tmp_path_factory):
    _, run = trained
    write_json_atomic(run.report, tuning_report(2.0))
    folder, _ = export_peft(run.root, tmp_path_factory.mktemp("pkg") / "tiny-boost")
    return folder


def test_the_package_carries_the_tuned_boost_and_its_lexicon(package):
    setting = json.loads((package / BOOST_FILE).read_text())
    assert setting["boost"] == 2.0 and setting["lexicon"] == "lexicon.tsv"
    assert setting["tuning"]["why"] == "the constructed table's choice"
    read = read_package_boost(package)
    assert read.boost == 2.0 and read.lexicon == package / "lexicon.tsv"
    card = (package / "README.md").read_text()
    assert "## Lexicon boost" in card and "strength **2**" in card
    assert "| 2 | 0.600 | 0.400 | 0.102 | +0.2 pt | 0 | yes |" in card
    assert "the other 4 clips only" in card


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"boost": "2", "lexicon": "lexicon.tsv"}', "boost: expected a number"),
        ('{"boost": 99, "lexicon": "lexicon.tsv"}', "boost: expected a number"),
        ('{"boost": NaN, "lexicon": "lexicon.tsv"}', "boost: expected a number"),
        ('{"boost": 2, "lexicon": "../../etc/passwd"}', "lexicon: expected"),
        ('{"boost": 2, "lexicon": null}', "names no lexicon.tsv"),
        ("[1]", "expected a JSON object"),
        ("{oops", "not readable JSON"),
    ],
)
def test_a_bad_boost_file_is_named(package, tmp_path, content, message):
    import shutil

    folder = tmp_path / "pkg"
    shutil.copytree(package, folder)
    (folder / BOOST_FILE).write_text(content)
    with pytest.raises(AdapterError, match=message) as caught:
        read_package_boost(folder)
    assert BOOST_FILE in str(caught.value)


def test_transcribe_uses_the_package_boost_unless_told_otherwise(
    package, tiny_model_dir, monkeypatch, capsys
):
    applied = []
    original = Transcriber.set_logits_processors

    def spy(self, processors):
        applied.append([type(p) for p in processors])
        original(self, processors)

    monkeypatch.setattr(Transcriber, "set_logits_processors", spy)
    clip = sorted(LIBRIVOX.glob("*.wav"))[0]
    args = ["transcribe", str(clip), "--model", str(tiny_model_dir), "--adapter", str(package)]
    assert main([*args, "--max-new-tokens", "3"]) == 0
    assert "lexicon boost 2" in capsys.readouterr().err
    assert applied == [[LexiconBoost]]
    boosted = applied[-1][0]
    assert main([*args, "--max-new-tokens", "3", "--boost", "0"]) == 0
    assert "lexicon boost" not in capsys.readouterr().err
    assert applied[-1] == []
    assert main([*args, "--max-new-tokens", "3", "--boost", "1"]) == 0
    assert applied[-1] == [boosted]


@contextlib.contextmanager
def recording_server(host: ModelHost):
    """``(post, keys, client)`` of an app on ``host`` whose batches only record their key;
    ``post(**fields)`` sends a LibriVox clip for model ``pkg``."""
    keys = []

    def run(key, audios):
        keys.append(key)
        return [Transcript("hello", (), len(a) / 16000) for a in audios]

    queue = BatchQueue(run, max_batch=1, max_wait=0.0, max_queue=4)
    queue.start()
    queue.wait_ready(5)
    client = TestClient(create_app(host, queue))
    clip = sorted(LIBRIVOX.glob("*.wav"))[0].read_bytes()

    def post(**data):
        files = {"file": ("a.wav", clip, "audio/wav")}
        return client.post("/v1/audio/transcriptions", files=files, data={"model": "pkg", **data})

    try:
        yield post, keys, client
    finally:
        queue.close()


def test_serve_uses_the_package_boost_and_a_request_turns_it_off(package, tiny_model_dir):
    host = ModelHost(ServeConfig(model=str(tiny_model_dir), adapters=[("pkg", package)]))
    assert host.models["pkg"].boost == 2.0
    with recording_server(host) as (post, keys, client):
        assert post().status_code == 200 and keys[-1].boost == 2.0
        assert post(boost="0").status_code == 200 and keys[-1].boost == 0.0
        assert post(lexicon="false").status_code == 200 and keys[-1].boost == 0.0
        assert post(boost="4.5").status_code == 200 and keys[-1].boost == 4.5
        bad = post(boost="lots")
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "boost"
        base = post(model=str(tiny_model_dir), boost="1")
        assert base.status_code == 400 and "no lexicon" in base.json()["error"]["message"]
        assert not keys[-1].gate
        assert post(term_gate="true", prompt="cards").status_code == 200
        assert keys[-1].gate and keys[-1].base_prompt == "cards"
        base = post(model=str(tiny_model_dir), term_gate="true")
        assert base.status_code == 400 and base.json()["error"]["param"] == "term_gate"
        assert "needs an adapter model" in base.json()["error"]["message"]
        listed = {m["id"]: m for m in client.get("/v1/models").json()["data"]}
        assert listed["pkg"]["boost"] == 2.0
        assert listed["pkg"]["term_gate"] and not listed[str(tiny_model_dir)]["term_gate"]


def test_the_boost_decodes_a_served_batch_with_the_rewrite(package, tiny_model_dir):
    import numpy as np

    from workbench.serve.engine import DecodeKey, decode

    host = ModelHost(ServeConfig(model=str(tiny_model_dir), adapters=[("pkg", package)]))
    host.load()
    processor, rewriter = host.boost(DecodeKey("pkg", boost=2.0))
    assert isinstance(processor, LexiconBoost) and processor.boost == 2.0
    assert rewriter("two club s") == "two clubs"
    audio = [np.zeros(16000, dtype=np.float32)]
    out = decode(host, DecodeKey("pkg", boost=2.0), audio)
    assert len(out) == 1 and isinstance(out[0].text, str)


def test_the_ct2_card_says_what_it_loses_and_reads_the_bench_figure(trained, tmp_path):
    pytest.importorskip("ctranslate2")
    _, run = trained
    (run.root / HOTWORDS_FILE).unlink(missing_ok=True)
    folder = export_ct2(run.root, tmp_path / "ct2")
    card = (folder / "README.md").read_text()
    assert yaml.safe_load(card.split("---")[1])["library_name"] == "ctranslate2"
    assert "## Lexicon boost: what this format loses" in card
    assert "hotwords = 'clubs, spades, hearts'" in card
    assert f"not measured (no {HOTWORDS_FILE} in the run folder)" in card
    assert (folder / "lexicon.tsv").is_file()
    figures = {
        "clips": 12,
        "set": "medical held-out",
        "boost": 3.0,
        "term_recall": {
            "faster_whisper": 0.25,
            "faster_whisper_hotwords": 0.4,
            "workbench": 0.25,
            "workbench_boost": 0.55,
        },
        "wer": dict.fromkeys(
            ("faster_whisper", "faster_whisper_hotwords", "workbench", "workbench_boost"), 0.1
        ),
    }
    write_json_atomic(run.root / HOTWORDS_FILE, figures)
    try:
        card = (export_ct2(run.root, tmp_path / "ct2") / "README.md").read_text()
    finally:
        (run.root / HOTWORDS_FILE).unlink()
    assert "on 12 clips (medical held-out)" in card
    assert "0.250 without `hotwords` and 0.400 with them (+15.0 points)" in card
    assert "boost at 3 (with the rewrite) 0.550 against 0.250 without (+30.0 points)" in card


def test_run_says_before_training_that_tuning_has_no_general_set(
    tmp_path, tiny_model_dir, speech_manifests, capsys
):
    (tmp_path / "lexicon.tsv").write_text(LEXICON)
    recipe = write_tiny_recipe(
        tmp_path / "recipe.yaml",
        tiny_model_dir,
        speech_manifests,
        "tiny-untunable",
        data_extra=f"  eval: [{{source: manifest, path: {speech_manifests['replay']}}}]\n",
        extra=f"lexicon: {{path: {tmp_path / 'lexicon.tsv'}, tune_boost: true}}\n",
    )
    run_dir = tmp_path / "run"
    assert main(["run", str(recipe), "--run-dir", str(run_dir)]) == 1
    err = capsys.readouterr().err
    assert "lexicon.tune_boost: tuning the boost needs the recipe's eval and general sets" in err
    assert "no general set" in err and "Traceback" not in err
    assert not (run_dir / "adapter").exists()  # nothing trained
    assert json.loads((run_dir / "status.json").read_text())["phase"] == "failed"


def test_general_dev_alone_is_enough_for_run_to_tune(tmp_path, tiny_model_dir, speech_manifests):
    from workbench.cli import _tuning_problem
    from workbench.data.prepare import prepare_data

    (tmp_path / "lexicon.tsv").write_text(LEXICON)
    recipe = write_tiny_recipe(
        tmp_path / "recipe.yaml",
        tiny_model_dir,
        speech_manifests,
        "tiny-dev-only",
        data_extra=f"  eval: [{{source: manifest, path: {speech_manifests['replay']}}}]\n"
        f"  general_dev: [{{source: manifest, path: {speech_manifests['general']}}}]\n",
        extra=f"lexicon: {{path: {tmp_path / 'lexicon.tsv'}, tune_boost: true}}\n",
    )
    loaded = load_recipe(recipe)
    assert _tuning_problem(loaded, prepare_data(loaded, log=lambda m: None)) is None


def test_near_misses_without_a_boost_rewrite_the_plain_systems_texts(trained):
    recipe, run = trained
    loaded = load_recipe(recipe, ["lexicon.tune_boost=false", "lexicon.near_miss=0.75"])
    report = evaluate_adapter(loaded, run.adapter, log=lambda m: None)
    assert report["decoding"]["boost"] == 0 and report["decoding"]["near_miss"] == 0.75
    from workbench.decoding.snap import lexicon_rewriter
    from workbench.models.loading import load_model

    tokenizer = load_model(loaded.base_model).processor.tokenizer
    rewrite = lexicon_rewriter(recipe_lexicon(loaded), tokenizer, spaced=True, near_miss=0.75)
    for data in report["sets"].values():
        assert {"base_boost", "adapted_boost", "adapted_gated_boost"} <= set(data)
        for u in data["utterances"]:  # the plain texts rewritten: no decoding of their own
            assert u["base_boost"] == rewrite(u["base"])
            assert u["adapted_boost"] == rewrite(u["adapted"])
        assert data["adapted_boost"]["decoding"] == data["adapted"]["decoding"]


def test_the_recipe_names_a_near_miss_similarity_out_of_range(trained):
    from workbench.schema import RecipeError

    recipe, _ = trained
    with pytest.raises(RecipeError, match="near_miss") as caught:
        load_recipe(recipe, ["lexicon.near_miss=0.2"])
    assert "lexicon" in str(caught.value) and "0.75" in str(caught.value)


@pytest.fixture
def near_miss_package(package, tmp_path):
    folder = tmp_path / "near-miss"
    shutil.copytree(package, folder)
    (folder / "lexicon.tsv").write_text("term\tcategory\nduloxetine\tdrug\n")
    setting = {"boost": 0, "near_miss": 0.75, "lexicon": "lexicon.tsv", "source": "test"}
    (folder / BOOST_FILE).write_text(json.dumps(setting))
    return folder


def test_a_bad_near_miss_setting_is_named(near_miss_package):
    path = near_miss_package / BOOST_FILE
    for content, message in [
        ('{"boost": 0, "near_miss": 0.2, "lexicon": "lexicon.tsv"}', "near_miss: expected"),
        ('{"boost": 0, "near_miss": true, "lexicon": "lexicon.tsv"}', "near_miss: expected"),
        ('{"boost": 0, "near_miss": 0.8, "lexicon": null}', "near_miss 0.8 names no lexicon"),
    ]:
        path.write_text(content)
        with pytest.raises(AdapterError, match=message):
            read_package_boost(near_miss_package)


def test_transcribe_rewrites_near_misses_as_the_package_says(
    near_miss_package, tiny_model_dir, monkeypatch, capsys
):
    monkeypatch.setattr(
        Transcriber,
        "transcribe_arrays",
        lambda self, audios, *a: ["Give deloxetine."] * len(audios),
    )
    clip = str(sorted(LIBRIVOX.glob("*.wav"))[0])
    args = ["transcribe", clip, "--model", str(tiny_model_dir), "--adapter", str(near_miss_package)]
    assert main(args) == 0
    out = capsys.readouterr()
    assert out.out.endswith("\tGive duloxetine.\n")
    assert "near misses rewritten at similarity 0.75" in out.err
    assert main([*args, "--boost", "0"]) == 0  # off: the lexicon-aware decoding altogether
    assert capsys.readouterr().out.endswith("\tGive deloxetine.\n")


def test_serve_rewrites_near_misses_unless_the_request_turns_the_lexicon_off(
    near_miss_package, tiny_model_dir
):
    from workbench.serve.engine import DecodeKey

    host = ModelHost(ServeConfig(model=str(tiny_model_dir), adapters=[("pkg", near_miss_package)]))
    assert host.models["pkg"].near_miss == 0.75 and host.models["pkg"].boost == 0
    with recording_server(host) as (post, keys, client):
        assert post().status_code == 200 and keys[-1].near_miss == 0.75
        assert post(lexicon="false").status_code == 200 and keys[-1].near_miss == 0.0
        listed = {m["id"]: m for m in client.get("/v1/models").json()["data"]}
        assert listed["pkg"]["near_miss"] == 0.75
    host.load()
    processor, rewriter = host.boost(DecodeKey("pkg", near_miss=0.75))
    assert processor is None and rewriter("Give deloxetine.") == "Give duloxetine."
    assert host.boost(DecodeKey("pkg")) == (None, None)


def test_the_package_and_its_card_carry_the_recipes_near_miss_setting(trained):
    from workbench.export.boost_setting import boost_setting
    from workbench.export.model_card import boost_section

    recipe, _ = trained
    loaded = load_recipe(recipe, ["lexicon.tune_boost=false", "lexicon.near_miss=0.8"])
    setting = boost_setting(loaded, None, has_lexicon=True)
    assert setting["near_miss"] == 0.8 and setting["boost"] == 0
    assert boost_setting(loaded, None, has_lexicon=False)["near_miss"] == 0
    card = "\n".join(boost_section(setting))
    assert "similarity **0.8** or more" in card and "`--boost 0`" in card
    assert "similarity" not in "\n".join(boost_section({**setting, "near_miss": 0.0}))
