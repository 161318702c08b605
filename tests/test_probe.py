"""encoder_precision auto: measured once per model and machine, kept, overridable."""

from __future__ import annotations

import copy
import json

import pytest

import workbench.models.precision as precision
import workbench.models.probe as probe
from workbench.cli import main
from workbench.models.precision import (
    encoder_precision,
    resolve_encoder_precision,
    set_encoder_precision,
)


@pytest.fixture
def model(tiny_model):
    return copy.deepcopy(tiny_model).eval()


@pytest.fixture(autouse=True)
def _own_home(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)


class FakeClock:
    """Times each forward as given per precision (seconds), without running it; counts them."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds
        self.calls: list[str] = []

    def __call__(self, name, forward) -> float:
        self.calls.append(name)
        return self.seconds[name]


def count_forwards(model) -> list[int]:
    """A list that grows by one per forward of the encoder or a copy of it."""
    count: list[int] = []
    model.get_encoder().register_forward_hook(lambda *a: count.append(1))
    return count


def test_bf16_is_kept_where_it_is_measured_faster(model, monkeypatch):
    clock = FakeClock({"fp32": 1.0, "bf16": 0.5})
    monkeypatch.setattr(probe, "time_forward", clock)
    assert resolve_encoder_precision("auto", model, "tiny") == "bf16"
    assert clock.calls == ["fp32", "bf16"] * probe.FORWARDS  # interleaved
    entry = probe.cached_choice("tiny", "cpu")
    assert entry["choice"] == "bf16" and entry["reason"] == "bf16 is 2.00x as fast as fp32"
    assert entry["timings_ms"] == {"fp32": [1000.0] * 3, "bf16": [500.0] * 3}
    assert entry["processor"] == probe.processor_name("cpu")
    assert encoder_precision(model) == "fp32"  # measuring left the model as it was


@pytest.mark.parametrize(
    ("bf16_seconds", "choice", "reason"),
    [(1.25, "fp32", "fp32 is 1.25x as fast as bf16"), (0.97, "fp32", "within 5%")],
)
def test_fp32_where_it_is_faster_or_within_five_percent(
    model, monkeypatch, bf16_seconds, choice, reason
):
    monkeypatch.setattr(probe, "time_forward", FakeClock({"fp32": 1.0, "bf16": bf16_seconds}))
    assert resolve_encoder_precision("auto", model, "tiny") == choice
    assert reason in probe.cached_choice("tiny", "cpu")["reason"]


def test_the_choice_is_measured_once_and_reused(model, tiny_model):
    forwards = count_forwards(model)
    first = resolve_encoder_precision("auto", model, "tiny")  # real timing
    assert len(forwards) == 2 * (1 + probe.FORWARDS)  # a warm-up and 3 timed, each precision
    saved = json.loads(probe.cache_path().read_text())
    assert [e["choice"] for e in saved["choices"].values()] == [first]
    assert not list(probe.cache_path().parent.glob(".choices-*"))  # no temporary file left

    again = copy.deepcopy(tiny_model).eval()  # the same model loaded again
    forwards_again = count_forwards(again)
    assert set_encoder_precision(again, "auto", "tiny") == first
    assert encoder_precision(again) == first
    assert not forwards_again and len(forwards) == 2 * (1 + probe.FORWARDS)


def test_another_machine_or_torch_measures_again(model, monkeypatch):
    clock = FakeClock({"fp32": 1.0, "bf16": 0.5})
    monkeypatch.setattr(probe, "time_forward", clock)
    resolve_encoder_precision("auto", model, "tiny")
    monkeypatch.setattr(probe, "processor_name", lambda device: "Another CPU")
    resolve_encoder_precision("auto", model, "tiny")
    monkeypatch.setattr(probe.torch, "__version__", "9.9.9")
    resolve_encoder_precision("auto", model, "tiny")
    resolve_encoder_precision("auto", model, "another model")
    assert len(clock.calls) == 4 * 2 * probe.FORWARDS
    assert len(json.loads(probe.cache_path().read_text())["choices"]) == 4


@pytest.mark.parametrize("forced", ["fp32", "bf16"])
def test_a_forced_precision_overrides_the_measured_one(model, monkeypatch, forced):
    measured = "bf16" if forced == "fp32" else "fp32"
    seconds = {"fp32": 1.0, "bf16": 0.5 if measured == "bf16" else 2.0}
    clock = FakeClock(seconds)
    monkeypatch.setattr(probe, "time_forward", clock)
    assert resolve_encoder_precision("auto", model, "tiny") == measured
    calls = len(clock.calls)
    assert set_encoder_precision(model, forced, "tiny") == forced
    assert encoder_precision(model) == forced
    assert len(clock.calls) == calls  # forcing measures nothing


@pytest.mark.parametrize(
    "content",
    ["{not json", '["a list"]', '{"choices": {"k": {"choice": "int4", "timings_ms": {}}}}'],
)
def test_a_corrupt_cache_is_ignored_with_a_warning(model, monkeypatch, capsys, content):
    path = probe.cache_path()
    path.parent.mkdir(parents=True)
    path.write_text(content)
    monkeypatch.setattr(probe, "time_forward", FakeClock({"fp32": 1.0, "bf16": 0.5}))
    assert resolve_encoder_precision("auto", model, "tiny") == "bf16"
    err = capsys.readouterr().err
    assert f"warning: {path}:" in err and err.count("warning") == 1
    entry = json.loads(path.read_text())["choices"]  # replaced by a good one
    assert [e["choice"] for e in entry.values()] == ["bf16"]


def test_an_unwritable_home_warns_and_still_chooses(model, monkeypatch, tmp_path, capsys):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv("WORKBENCH_HOME", str(blocker / "home"))
    monkeypatch.setattr(probe, "time_forward", FakeClock({"fp32": 1.0, "bf16": 0.5}))
    assert resolve_encoder_precision("auto", model, "tiny") == "bf16"
    assert "could not keep the measured encoder precision" in capsys.readouterr().err


def test_models_command_shows_the_cached_choice(model, monkeypatch, capsys):
    assert main(["models"]) == 0
    assert "not measured yet" in capsys.readouterr().out
    monkeypatch.setattr(probe, "time_forward", FakeClock({"fp32": 0.3, "bf16": 0.1}))
    resolve_encoder_precision("auto", model, "bundled:tiny.en")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "bundled:tiny.en: bf16: bf16 is 3.00x as fast as fp32" in out
    assert "fp32 300 ms, bf16 100 ms" in out
