"""Untrusted files at the doors: hostile adapter packages, tampered checkpoints, recipes that
reach outside the workspace, model packages whose bytes changed. Each is refused with a
message; nothing in them runs. (Zip-slip and symlink uploads: tests/ui/test_uploads.py;
exposure: tests/ui/test_app_exposure.py.)"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.train.conftest import write_tiny_recipe
from workbench.cli import main
from workbench.recipe import load_recipe
from workbench.runs import RunDir
from workbench.train.loop import TrainError, train_recipe

pytestmark = pytest.mark.reliability


class Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, mark: Path) -> None:
        self.mark = mark

    def __reduce__(self):
        return (os.system, (f"touch {self.mark}",))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir, speech_manifests) -> tuple[Path, RunDir]:
    folder = tmp_path_factory.mktemp("untrusted")
    recipe = write_tiny_recipe(
        folder / "recipe.yaml",
        tiny_model_dir,
        speech_manifests,
        "untrusted",
        extra="lora: {rank: 4, alpha: 8, top_encoder_layers: 1, top_decoder_layers: 1}\n"
        "train: {batch_size: 2, max_steps: 2, save_steps: 1}\n",
    )
    run = RunDir(folder / "run")
    train_recipe(load_recipe(recipe), run, log=lambda m: None)
    return recipe, run


def hostile_adapters(adapter: Path, folder: Path, mark: Path) -> dict[str, tuple[Path, str]]:
    """name -> (adapter folder, words the refusal must hold)."""
    out = {}

    def copy(name: str) -> Path:
        target = folder / name
        shutil.copytree(adapter, target)
        return target

    pickled = copy("pickled")
    (pickled / "adapter_model.safetensors").unlink()
    (pickled / "adapter_model.bin").write_bytes(pickle.dumps(Payload(mark)))
    out["pickle instead of safetensors"] = (pickled, "pickled files")

    beside = copy("pickle-beside")
    with open(beside / "optimizer.pt", "wb") as f:
        pickle.dump(Payload(mark), f)
    out["a pickle beside the weights"] = (beside, "pickled files")

    shapes = copy("shapes")
    weights = load_file(str(shapes / "adapter_model.safetensors"))
    name = next(iter(weights))
    weights[name] = torch.zeros(weights[name].shape[0] + 3, weights[name].shape[1])
    save_file(weights, str(shapes / "adapter_model.safetensors"))
    out["mismatched shapes"] = (shapes, "needs")

    targets = copy("targets")
    config = json.loads((targets / "adapter_config.json").read_text())
    config["target_modules"] = ["not_a_module"]
    (targets / "adapter_config.json").write_text(json.dumps(config))
    out["targets the model lacks"] = (targets, "not_a_module")

    other = copy("other-base")
    meta = json.loads((other / "workbench_adapter.json").read_text())
    meta["base_model"] = "bundled:base"
    (other / "workbench_adapter.json").write_text(json.dumps(meta))
    out["made for another base model"] = (other, "made for base model")

    garbage = copy("garbage")
    (garbage / "adapter_model.safetensors").write_bytes(b"\x00" * 64)
    out["not safetensors"] = (garbage, "safetensors")
    return out


def test_hostile_adapters_are_refused_at_every_door(trained, tiny_model_dir, tmp_path, capsys):
    recipe, run = trained
    mark = tmp_path / "executed"
    manifest = load_recipe(recipe).data.train[0].path
    clip = json.loads(Path(manifest).read_text().splitlines()[0])["audio"]
    cases = hostile_adapters(run.adapter, tmp_path, mark)
    for name, (folder, words) in cases.items():
        code = main(["transcribe", clip, "--model", str(tiny_model_dir), "--adapter", str(folder)])
        err = capsys.readouterr().err
        assert code == 2 and words in err and "Traceback" not in err, (name, err)
        out = str(tmp_path / "r")
        code = main(
            ["eval", str(recipe), "--adapter", str(folder), "--data", manifest, "--out", out]
        )
        err = capsys.readouterr().err
        assert code != 0 and words in err and "Traceback" not in err, (name, err)
        assert not (tmp_path / "r").exists()
    assert not mark.exists()  # no pickle was ever opened
    print(f"\n{len(cases)} hostile adapters refused by transcribe and eval")


def test_a_tampered_checkpoint_is_refused_on_resume(trained, tmp_path):
    recipe, run = trained
    mark = tmp_path / "executed"
    copy = RunDir(tmp_path / "copy")
    shutil.copytree(run.root, copy.root)
    last = copy.latest_checkpoint()
    with open(last / "optimizer.pt", "wb") as f:
        pickle.dump(Payload(mark), f)
    loaded = load_recipe(recipe, ["train.max_steps=3"])
    with pytest.raises(TrainError, match=f"{last.name}.*cannot be loaded"):
        train_recipe(loaded, copy, resume=True, log=lambda m: None)
    assert not mark.exists()
    assert copy.status()["state"] == "failed"


def test_recipe_paths_outside_the_workspace_are_refused_by_the_ui(tmp_path):
    from workbench.schema import RecipeError
    from workbench.ui.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws", tmp_path / "runs")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "terms.tsv").write_text("term\tcategory\nx\ty\n")
    for text in (
        f"name: a\nlexicon: {{path: {secret}/terms.tsv}}\n",
        "name: b\nlexicon: {path: ../../secret/terms.tsv}\n",
        f"name: c\ndata:\n  train: [{{source: audiofolder, path: {secret}}}]\n",
        f"name: d\naugment:\n  noise: {{folder: {secret}}}\n",
    ):
        path = ws.recipes / "r.yaml"
        path.write_text(text)
        with pytest.raises(RecipeError, match="outside the workspace"):
            ws.load_recipe(path, check_model=False)


def test_a_model_package_with_other_bytes_is_refused(tmp_path, monkeypatch, capsys):
    """The bundled model's pinned sha256, through the CLI: a copy of tiny.en's package with
    one byte changed stands in for an altered install (the unit tests: test_bundled.py)."""
    from workbench.models import bundled

    model = bundled.BUNDLED["tiny.en"]
    altered = []
    for i, part in enumerate(bundled.part_paths(model)):
        altered.append(tmp_path / f"part{i}")
        shutil.copyfile(part, altered[-1])
    data = bytearray(altered[-1].read_bytes())
    data[len(data) // 2] ^= 0xFF
    altered[-1].write_bytes(bytes(data))
    monkeypatch.setattr(bundled, "part_paths", lambda m: altered)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))  # no converted cache yet
    clip = tmp_path / "clip.wav"
    clip.write_bytes(b"")
    assert main(["transcribe", str(clip), "--model", "bundled:tiny.en"]) == 2
    err = capsys.readouterr().err
    assert "refusing to load altered weights" in err and "Traceback" not in err
    assert not bundled.cache_dir(model).exists()
