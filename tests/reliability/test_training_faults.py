"""Faults during training: kill -9 at random steps, a disk that fills while a checkpoint is
written. The run must end with the same adapter as an uninterrupted one, and a failed run
must say so and resume from its last good checkpoint."""

from __future__ import annotations

import contextlib
import os
import random
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.train.conftest import write_tiny_recipe
from workbench.recipe import load_recipe
from workbench.runs import RunDir, start_training
from workbench.train.loop import TrainError, train_recipe

pytestmark = pytest.mark.reliability

SETTINGS = """augment:
  speed: {p: 0.5}
  noise: {p: 0.5, kinds: [pink]}
lora: {rank: 4, alpha: 8, dropout: 0.1, top_encoder_layers: 1, top_decoder_layers: 1}
train: {batch_size: 2, max_steps: 16, learning_rate: 1.0e-2, log_steps: 1, save_steps: 2, seed: 5}
"""


@pytest.fixture
def recipe(tmp_path, tiny_model_dir, speech_manifests) -> Path:
    return write_tiny_recipe(
        tmp_path / "recipe.yaml", tiny_model_dir, speech_manifests, "faults", extra=SETTINGS
    )


def weights(run: RunDir) -> dict[str, torch.Tensor]:
    return load_file(str(run.adapter / "adapter_model.safetensors"))


def assert_same_adapter(a: RunDir, b: RunDir) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], rtol=1e-5, atol=1e-6, msg=name)


def test_kill_9_at_random_steps_then_resume_gives_the_same_adapter(recipe, tmp_path):
    straight = RunDir(tmp_path / "straight")
    assert start_training(recipe, straight).wait(timeout=600) == 0

    run = RunDir(tmp_path / "killed")
    rng = random.Random(int(os.environ.get("WORKBENCH_FAULT_SEED", "11")))
    targets = sorted(rng.sample(range(2, 15), 3))
    kills = []
    for i, target in enumerate(targets):
        proc = start_training(recipe, run, resume=i > 0)
        deadline = time.time() + 300
        while (run.status().get("step") or 0) < target or run.status().get("pid") != proc.pid:
            assert proc.poll() is None, f"trainer ended before step {target}"
            assert time.time() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills.append(run.status().get("step"))
        status = run.status()
        assert status["state"] == "failed" and "resume" in status["error"], status
        assert not run.adapter.exists()  # never a half-written adapter that looks complete
    final = start_training(recipe, run, resume=True)
    assert final.wait(timeout=600) == 0, run.log_path.read_text()[-3000:]
    assert run.status()["state"] == "done" and run.status()["step"] == 16
    assert_same_adapter(straight, run)
    steps = [r["step"] for r in run.metrics() if "loss" in r]
    assert steps == list(range(1, 17)), steps  # no step lost, none logged twice
    print(f"\nkilled at steps {kills} (targets {targets}); resumed adapter equals the straight one")


# --- a full disk -------------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(folder: Path, size_mb: int = 64):
    """A tmpfs at ``folder`` (root can mount one); None where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(folder)],
        capture_output=True,
    )
    if done.returncode != 0:
        yield None
        return
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


class Filler:
    """Leaves the tmpfs with less free space than a checkpoint needs; or, without a tmpfs,
    caps the size of any one file written (RLIMIT_FSIZE: writes fail with EFBIG)."""

    def __init__(self, disk: Path | None, run: RunDir) -> None:
        self.disk, self.run, self.ballast, self.old_limit = disk, run, None, None

    def fill(self) -> None:
        checkpoint = self.run.latest_checkpoint()
        assert checkpoint is not None
        sizes = [p.stat().st_size for p in checkpoint.iterdir()]
        if self.disk is not None:
            keep = max(32 * 1024, sum(sizes) // 3)
            free = os.statvfs(self.disk).f_bavail * os.statvfs(self.disk).f_frsize
            self.ballast = self.disk / "ballast"
            with open(self.ballast, "wb") as f:
                f.write(b"\0" * max(0, free - keep))
        else:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            self.old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
            resource.setrlimit(resource.RLIMIT_FSIZE, (max(sizes) // 2, self.old_limit[1]))

    def release(self) -> None:
        if self.ballast is not None:
            self.ballast.unlink(missing_ok=True)
        if self.old_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, self.old_limit)
            signal.signal(signal.SIGXFSZ, signal.SIG_DFL)


def test_a_full_disk_while_checkpointing_fails_cleanly_and_resumes(recipe, tmp_path):
    from workbench.ui.train_tab import describe_run

    loaded = load_recipe(recipe)
    straight = RunDir(tmp_path / "straight")
    train_recipe(loaded, straight, log=lambda m: None)

    with small_disk(tmp_path / "disk") as disk:
        run = RunDir((disk or tmp_path) / "full")
        filler = Filler(disk, run)

        def fill_after_step_3(message: str) -> None:
            if message.startswith("step 3/"):
                filler.fill()

        try:
            with pytest.raises(TrainError) as caught:
                train_recipe(loaded, run, log=fill_after_step_3)
        finally:
            filler.release()
        message = str(caught.value)
        assert "cannot write the checkpoint of step 4" in message, message
        assert "the last good checkpoint is step-000002" in message and "resume" in message
        status = run.status()
        assert status["state"] == "failed" and "checkpoint of step 4" in status["error"]
        # The last good checkpoint is whole and loadable; nothing partial beside it.
        assert run.latest_checkpoint() == run.checkpoints / "step-000002"
        assert [p.name for p in run.checkpoints.iterdir()] == ["step-000002"]
        load_file(str(run.checkpoints / "step-000002" / "adapter_model.safetensors"))
        assert not run.adapter.exists()
        # The UI shows the failure and offers resume.
        text, _ = describe_run(run)
        assert "failed" in text and "Resume continues from the last checkpoint" in text
        # Space again: resume finishes with the adapter of an uninterrupted run.
        result = train_recipe(loaded, run, resume=True, log=lambda m: None)
        assert (result.state, result.step) == ("done", 16)
        assert_same_adapter(straight, run)
        print(f"\nfull disk simulated with {'a 64 MB tmpfs' if disk else 'RLIMIT_FSIZE'}")
    shutil.rmtree(tmp_path / "disk", ignore_errors=True)
