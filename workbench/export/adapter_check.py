"""Checking an adapter (a run's, or a package made elsewhere) before it touches a model.

Only safetensors weights are ever loaded; a folder holding pickles (``.bin``, ``.pt``,
``.pkl``) is refused, since unpickling runs code. The adapter's base model, its hash, its
target modules and its rank are checked against the model it is about to be applied to.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import safe_open
from torch.nn import Module

MARKER = "workbench_adapter.json"
PICKLES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class AdapterError(ValueError):
    """An adapter that must not be used with this model; the message says why."""


def read_adapter_info(folder: str | Path) -> dict:
    """The adapter's config and workbench metadata, after checking the folder's files.

    Raises:
        AdapterError: missing files, pickled weights, or a config that is not LoRA.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AdapterError(f"{folder}: no such adapter folder")
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLES)
    if pickles:
        raise AdapterError(
            f"{folder}: holds pickled files ({', '.join(pickles)}); only safetensors adapters are "
            "loaded, since unpickling can run code"
        )
    config_path, weights = folder / "adapter_config.json", folder / "adapter_model.safetensors"
    if not config_path.is_file() or not weights.is_file():
        raise AdapterError(
            f"{folder}: not an adapter (expected adapter_config.json and adapter_model.safetensors)"
        )
    try:
        config = json.loads(config_path.read_text())
    except ValueError as exc:
        raise AdapterError(f"{config_path}: not valid JSON ({exc})") from None
    if config.get("peft_type") != "LORA":
        raise AdapterError(f"{config_path}: peft_type {config.get('peft_type')!r}, expected 'LORA'")
    try:
        with safe_open(str(weights), framework="pt") as f:
            shapes = {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except Exception as exc:  # safetensors raises several kinds for a damaged file
        raise AdapterError(f"{weights}: not a readable safetensors file ({exc})") from None
    marker = folder / MARKER
    meta = json.loads(marker.read_text()) if marker.is_file() else {}
    return {"config": config, "meta": meta, "shapes": shapes}


def check_adapter_fits(
    folder: str | Path, base_spec: str, model: Module, base_sha256: str | None
) -> dict:
    """Check an adapter against the base model it is about to be applied to.

    ``model`` is the (unwrapped) Whisper model. Returns the adapter's info.

    Raises:
        AdapterError: made for another base model (spec or hash), target modules the model
            lacks, or weights whose shapes do not fit (a rank or size mismatch).
    """
    info = read_adapter_info(folder)
    meta, config = info["meta"], info["config"]
    made_for = meta.get("base_model")
    if made_for and made_for != base_spec:
        raise AdapterError(f"{folder}: made for base model {made_for}, not {base_spec}")
    if meta.get("base_sha256") and base_sha256 and meta["base_sha256"] != base_sha256:
        raise AdapterError(
            f"{folder}: made for base weights sha256 {meta['base_sha256'][:16]}…, these are "
            f"{base_sha256[:16]}… (same name, other weights)"
        )
    modules = dict(model.named_modules())
    targets = config.get("target_modules") or []
    names = [targets] if isinstance(targets, str) else list(targets)
    missing = [t for t in names if not any(m == t or m.endswith("." + t) for m in modules)]
    if missing:
        raise AdapterError(f"{folder}: target modules {missing[:3]} do not exist in {base_spec}")
    rank = config.get("r")
    for key, shape in info["shapes"].items():
        # base_model.model.<module>.lora_A.weight: (r, in); lora_B: (out, r)
        name = key.removeprefix("base_model.model.").rsplit(".lora_", 1)[0]
        layer = modules.get(name)
        if layer is None or not hasattr(layer, "in_features"):
            raise AdapterError(f"{folder}: weight {key} has no module {name} in {base_spec}")
        want = (rank, layer.in_features) if ".lora_A." in key else (layer.out_features, rank)
        if tuple(shape) != want:
            raise AdapterError(
                f"{folder}: {key} has shape {tuple(shape)}, {base_spec} needs {want} (rank {rank})"
            )
    return info
