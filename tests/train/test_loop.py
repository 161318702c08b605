"""Training runs: the run directory, STOP, resume, kill -9, replay/distillation, the guard."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from workbench.data.prepare import DataError
from workbench.recipe import load_recipe
from workbench.runs import RunDir, start_training
from workbench.train.loop import Trainer, TrainError, _weighted_ce, train_recipe


def quiet(message: str) -> None:
    pass


def adapter_weights(run: RunDir) -> dict[str, torch.Tensor]:
    return load_file(str(run.adapter / "adapter_model.safetensors"))


def test_a_run_writes_its_directory(recipe_file, tmp_path):
    run = RunDir(tmp_path / "run")
    result = train_recipe(load_recipe(recipe_file()), run, log=quiet)
    assert (result.state, result.step, result.total_steps) == ("done", 6, 6)
    status = run.status()
    assert status["state"] == "done" and status["step"] == 6 and status["error"] is None
    assert {"started", "updated", "epoch", "total_steps"} <= set(status)
    assert status["adapter"]["trainable_params"] == result.summary.trainable_params > 0
    rows = run.metrics()
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all({"loss", "learning_rate", "epoch"} <= set(r) for r in rows)
    assert (run.adapter / "adapter_config.json").is_file()
    config = json.loads((run.adapter / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["task_type"] is None
    assert load_recipe(run.recipe).name == "tiny-train"  # the resolved recipe, loadable
    assert [p.name for p in sorted(run.checkpoints.iterdir())] == ["step-000004", "step-000006"]


def test_stop_then_resume_gives_the_same_adapter(recipe_file, tmp_path):
    """Dropout, augmentation and shuffling on: a stopped and resumed run ends where an
    uninterrupted run ends."""
    recipe = load_recipe(recipe_file())
    straight = RunDir(tmp_path / "straight")
    train_recipe(recipe, straight, log=quiet)

    stopped = RunDir(tmp_path / "stopped")

    def stop_at_3(message: str) -> None:
        if message.startswith("step 3/"):
            stopped.request_stop()

    first = train_recipe(recipe, stopped, log=stop_at_3)
    assert (first.state, first.step) == ("stopped", 3)
    assert stopped.status()["state"] == "stopped"
    second = train_recipe(recipe, stopped, resume=True, log=quiet)
    assert (second.state, second.step) == ("done", 6)
    a, b = adapter_weights(straight), adapter_weights(stopped)
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6, msg=name)
    assert [r["step"] for r in stopped.metrics()] == [1, 2, 3, 4, 5, 6]


def _wait(predicate, proc, seconds=240):
    deadline = time.time() + seconds
    while not predicate():
        assert proc.poll() is None or predicate(), "trainer exited early"
        assert time.time() < deadline, "timed out"
        time.sleep(0.2)


def test_kill_9_leaves_a_failed_run_that_resumes(recipe_file, tmp_path):
    recipe = recipe_file("")
    run = RunDir(tmp_path / "killed")
    proc = start_training(recipe, run, ["train.max_steps=40", "train.save_steps=2"])
    _wait(
        lambda: run.latest_checkpoint() is not None and (run.status().get("step") or 0) >= 3, proc
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    status = run.status()
    assert status["state"] == "failed" and "resume" in status["error"]
    assert not run.adapter.exists()  # no adapter that looks complete
    resumed = start_training(recipe, run, ["train.max_steps=40", "train.save_steps=2"], resume=True)
    assert resumed.wait(timeout=600) == 0, run.log_path.read_text()[-3000:]
    assert run.status()["state"] == "done" and run.status()["step"] == 40
    assert (run.adapter / "adapter_model.safetensors").is_file()
    assert "resumed from step-" in run.log_path.read_text()


def test_stop_file_ends_a_subprocess_run_cleanly(recipe_file, tmp_path):
    run = RunDir(tmp_path / "stopme")
    proc = start_training(recipe_file(), run, ["train.max_steps=400", "train.save_steps=1000"])
    assert run.status()["state"] in ("queued", "running")
    _wait(lambda: (run.status().get("step") or 0) >= 2, proc)
    run.request_stop()
    assert proc.wait(timeout=300) == 0
    status = run.status()
    assert status["state"] == "stopped" and 2 <= status["step"] < 400
    assert run.latest_checkpoint() is not None


def test_a_stop_asked_while_the_trainer_loads_is_kept(recipe_file, tmp_path):
    run = RunDir(tmp_path / "early")
    run.root.mkdir()
    run.request_stop()  # left from an earlier attempt: cleared when the run starts
    time.sleep(0.05)
    proc = start_training(recipe_file(), run, ["train.max_steps=400", "train.save_steps=1000"])
    run.request_stop()  # before the trainer has loaded anything
    assert proc.wait(timeout=300) == 0
    status = run.status()
    assert status["state"] == "stopped" and status["step"] < 400


def test_ctrl_c_on_workbench_run_stops_its_trainer(recipe_file, tmp_path):
    """The trainer has a session of its own; an interrupted `workbench run` must not leave it
    training on unseen: it passes the interrupt on as a STOP and says how to resume."""
    run = RunDir(tmp_path / "interrupted")
    command = [sys.executable, "-m", "workbench.cli", "run", str(recipe_file()), "--run-dir"]
    proc = subprocess.Popen(
        [*command, str(run.root), "train.max_steps=400", "train.save_steps=1000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # As from a terminal: a suite started in the background (`cmd &`) inherits SIGINT
        # ignored, and Python keeps an ignored SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait(lambda: run.status_path.is_file() and (run.status().get("step") or 0) >= 2, proc)
    trainer = run.status()["pid"]
    proc.send_signal(signal.SIGINT)  # what a terminal sends: the trainer's session is apart
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 130, out
    status = run.status()
    assert status["state"] == "stopped" and 2 <= status["step"] < 400
    assert status["phase"] == "stopped"
    assert run.latest_checkpoint() is not None
    with pytest.raises(ProcessLookupError):
        os.kill(trainer, 0)
    assert "interrupted" in out and "--resume" in out and "Traceback" not in out


def test_replay_and_distillation(recipe_file, speech_manifests, tmp_path):
    replay = f"  replay: [{{source: manifest, path: {speech_manifests['replay']}}}]\n"
    overrides = ["train.replay_ratio=0.5", "train.distill_weight=1.0", "train.max_steps=3"]
    recipe = load_recipe(recipe_file(data_extra=replay), overrides)
    run = RunDir(tmp_path / "replay")
    result = train_recipe(recipe, run, log=quiet)
    assert result.state == "done"
    rows = run.metrics()
    assert all("kd" in r and r["kd"] >= 0 for r in rows)
    assert all(r["loss"] >= r["ce"] for r in rows)


def test_term_weight_weighs_the_lexicon_terms(recipe_file, tmp_path):
    recipe = load_recipe(recipe_file(), ["train.term_weight=4", "train.max_steps=2"])
    with pytest.raises(TrainError, match=r"train\.term_weight is 4\.0 but .* no lexicon"):
        Trainer(recipe, RunDir(tmp_path / "none"), log=quiet)

    lexicon = tmp_path / "lexicon.tsv"
    lexicon.write_text(
        "term\tcategory\ndashwood\tname\ndisposed\tword\nmarried\tword\nclubs\tcard\n"
    )
    extra = f"lexicon: {{path: {lexicon}}}\n"
    recipe = load_recipe(recipe_file(extra), ["train.term_weight=4", "train.max_steps=2"])
    trainer = Trainer(recipe, RunDir(tmp_path / "weighted"), log=quiet)
    batch = trainer._batch(0)
    weights = batch["label_weights"]
    assert (weights == 4).any() and (weights == 1).any()
    # The weighted mean: with every weight 1 it is the model's own cross-entropy.
    batch.pop("general"), batch.pop("label_weights")
    with torch.no_grad():
        out = trainer.model(**batch)
    plain = _weighted_ce(out.logits, batch["labels"], torch.ones_like(weights))
    assert torch.allclose(plain, out.loss, rtol=1e-5)
    weighted = _weighted_ce(out.logits, batch["labels"], weights)
    assert not torch.allclose(weighted, out.loss)

    result = trainer.train()
    assert result.state == "done"
    assert all("ce_weighted" in r for r in trainer.run.metrics())


def test_a_frozen_encoder_is_run_once_for_student_teacher_and_general_set(
    recipe_file, speech_manifests, tmp_path
):
    extra = (
        f"  replay: [{{source: manifest, path: {speech_manifests['replay']}}}]\n"
        f"  general: [{{source: manifest, path: {speech_manifests['general']}}}]\n"
    )
    overrides = [
        "lora.top_encoder_layers=0",
        "lora.dropout=0",
        "train.replay_ratio=0.5",
        "train.distill_weight=1.0",
    ]
    trainer = Trainer(
        load_recipe(recipe_file(data_extra=extra), overrides), RunDir(tmp_path / "r"), log=quiet
    )
    assert trainer.share_encoder
    trainer.model.eval()
    batch = trainer._batch(0)
    assert bool(batch["general"].any())
    calls = []
    encoder = trainer.model.get_encoder()
    hook = encoder.register_forward_hook(lambda *a: calls.append(1))
    shared_loss, shared = trainer._loss(dict(batch))
    shared_general = trainer.general_loss()
    trainer.general_loss(adapter=False)
    runs_shared = len(calls)
    trainer.share_encoder, trainer._general = False, None
    plain_loss, plain = trainer._loss(dict(batch))
    plain_general = trainer.general_loss()
    hook.remove()
    assert runs_shared == 1 + len(trainer._general)  # the batch once, the general set once
    assert torch.allclose(shared_loss, plain_loss, rtol=1e-5)
    assert shared["kd"] == pytest.approx(plain["kd"], rel=1e-4, abs=1e-6)
    assert shared_general == pytest.approx(plain_general, rel=1e-5)

    with_encoder = Trainer(load_recipe(recipe_file()), RunDir(tmp_path / "e"), log=quiet)
    assert not with_encoder.share_encoder


def test_forgetting_guard_stops_training(recipe_file, speech_manifests, tmp_path):
    # The guard decides on general_dev, never on the general set that reports forgetting.
    general = f"  general_dev: [{{source: manifest, path: {speech_manifests['general']}}}]\n"
    overrides = [
        "train.max_general_loss_increase=1.0e-6",
        "train.eval_steps=2",
        "train.learning_rate=0.05",
    ]
    run = RunDir(tmp_path / "guard")
    result = train_recipe(load_recipe(recipe_file(data_extra=general), overrides), run, log=quiet)
    assert result.step == 2 and run.status()["stopped_by"] == "forgetting guard"
    rows = run.metrics()
    assert "general_loss_base" in rows[0]
    assert any("general_loss_rise" in r for r in rows)


def test_no_training_data_is_a_clear_error(recipe_file, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    run = RunDir(tmp_path / "empty")
    recipe = load_recipe(recipe_file(), [f"data.train.0.path={empty}"])
    with pytest.raises(DataError, match=r"data\.train ended empty: its sources gave no rows"):
        train_recipe(recipe, run, log=quiet)
    assert run.status()["state"] == "failed"
    assert "data.train ended empty" in run.status()["error"]
    recipe = load_recipe(recipe_file(), ["data.train=[]"])
    with pytest.raises(TrainError, match="the train set is empty"):
        train_recipe(recipe, RunDir(tmp_path / "none"), log=quiet)


def test_torchrun_two_cpu_processes(recipe_file, tmp_path):
    """The distributed path: two processes, gloo, one run directory."""
    run = tmp_path / "ddp"
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    result = subprocess.run(
        [
            torchrun,
            "--nproc_per_node",
            "2",
            "-m",
            "workbench.cli",
            "train",
            str(recipe_file()),
            "--run-dir",
            str(run),
            "train.max_steps=3",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    status = RunDir(run).status()
    assert status["state"] == "done" and status["step"] == 3
    assert (run / "adapter" / "adapter_model.safetensors").is_file()


def test_babble_draws_on_the_training_clips(recipe_file, tmp_path):
    recipe = load_recipe(
        recipe_file(), ["augment.noise.kinds=[babble]", "augment.noise.p=1", "train.max_steps=2"]
    )
    run = RunDir(tmp_path / "babble")
    assert train_recipe(recipe, run, log=quiet).state == "done"


def test_the_status_tells_the_step_and_time_left_between_log_steps(
    recipe_file, tmp_path, monkeypatch
):
    import workbench.train.loop as loop

    monkeypatch.setattr(loop, "STATUS_EVERY_S", 0.0)
    recipe = load_recipe(recipe_file(), ["train.log_steps=100", "train.max_steps=4"])
    run = RunDir(tmp_path / "run")
    written: list[dict] = []
    original = RunDir.write_status

    def record(self, **fields):
        written.append(fields)
        return original(self, **fields)

    monkeypatch.setattr(RunDir, "write_status", record)
    train_recipe(recipe, run, log=quiet)
    between = [f for f in written if "eta_s" in f and "loss" not in f]
    assert [f["step"] for f in between] == [1, 2, 3]  # step 4 is the last: a log step
    assert all(isinstance(f["eta_s"], int) and f["eta_s"] >= 0 for f in between)
    assert [r["step"] for r in run.metrics()] == [4]


def test_resuming_a_finished_run_does_not_evaluate_again(recipe_file, tmp_path):
    run = RunDir(tmp_path / "finished")
    run.root.mkdir()
    run.write_status(state="done", phase="finished", step=6, total_steps=6)
    run.report.write_text('{"sets": {}}')
    command = [sys.executable, "-m", "workbench.cli", "run", str(recipe_file()), "--run-dir"]
    done = subprocess.run(
        [*command, str(run.root), "--resume"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "nothing to resume" in done.stdout
    assert run.report.read_text() == '{"sets": {}}' and run.status()["phase"] == "finished"
    assert not run.pipeline_log.exists() and not run.log_path.exists()
