"""Checking an adapter (a run's, or a package made elsewhere) before it touches a model.

Only safetensors weights are ever loaded; a folder holding pickles (``.bin``, ``.pt``,
``.pkl``) is refused, since unpickling runs code. Every field of ``adapter_config.json``
that changes what loading does is read: rank and alpha within bounds; an initialisation
that leaves the base weights alone (``init_lora_weights`` true, false or ``"gaussian"``:
PiSSA, OLoRA, LoftQ, EVA and CorDA rewrite the base weights on load); no bias training, no
full module copies, no DoRA, no layer replication, no per-module rank patterns. The weights
present must be LoRA A/B pairs of the targeted modules, with the shapes the base model needs.
A package without the workbench's marker (``workbench_adapter.json``) is refused unless the
caller says it comes from elsewhere (``foreign``); then the peft config's
``base_model_name_or_path`` must name the base model. After loading,
:func:`check_base_untouched` proves the base weights are bit for bit what they were.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import torch
from safetensors import safe_open
from torch.nn import Module

MARKER = "workbench_adapter.json"
PICKLES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
MAX_RANK = 1024
MAX_SCALE = 256.0  # lora_alpha / r (or / sqrt(r) with rsLoRA)
MAX_CONFIG_BYTES = 1 << 20
# Fields that must stay off: each changes the base model or its structure when loaded, or
# puts weights beside the LoRA matrices that the checks below do not vouch for.
MUST_BE_OFF = {
    "bias": "trains the base model's biases (the adapter then overwrites them)",
    "lora_bias": "adds a bias to the LoRA matrices",
    "modules_to_save": "carries full copies of base modules",
    "layer_replication": "duplicates base layers",
    "use_dora": "DoRA rescales the base weights",
    "rank_pattern": "per-module ranks",
    "alpha_pattern": "per-module alphas",
    "trainable_token_indices": "rewrites token embeddings",
    "target_parameters": "targets raw parameters",
    "megatron_config": "Megatron layers",
    "fan_in_fan_out": "transposed (Conv1D) layers, which Whisper does not have",
    "use_qalora": "quantization-aware LoRA",
    "use_bdlora": "block-diagonal LoRA",
    "alora_invocation_tokens": "activated LoRA",
    "loftq_config": "LoftQ rewrites the base weights",
    "eva_config": "EVA initialisation from data",
    "corda_config": "CorDA rewrites the base weights",
    "lora_ga_config": "LoRA-GA rewrites the base weights",
}
# Fields known to change nothing the checks do not cover.
HARMLESS = {
    "auto_mapping", "base_model_name_or_path", "inference_mode", "lora_dropout", "peft_type",
    "peft_version", "revision", "task_type", "target_modules", "r", "lora_alpha", "use_rslora",
    "megatron_core", "exclude_modules", "layers_pattern", "layers_to_transform",
    "qalora_group_size", "ensure_weight_tying", "init_lora_weights",
}  # fmt: skip
_WEIGHT = re.compile(r"^base_model\.model\.(.+)\.lora_([AB])\.weight$")
_PLAIN_TARGET = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


class AdapterError(ValueError):
    """An adapter that must not be used with this model; the message says why."""


def touches_encoder(config: dict) -> bool:
    """Whether an adapter's peft config (``read_adapter_info(...)["config"]``) targets any
    encoder module; a regex string of targets counts as touching it, the safe answer."""
    targets = config.get("target_modules") or []
    return isinstance(targets, str) or any(".encoder." in str(t) for t in targets)


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
    if config_path.stat().st_size > MAX_CONFIG_BYTES:
        raise AdapterError(
            f"{config_path}: over {MAX_CONFIG_BYTES // 1024} KB; not an adapter config"
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise AdapterError(f"{config_path}: not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise AdapterError(f"{config_path}: expected a JSON object")
    if config.get("peft_type") != "LORA":
        raise AdapterError(f"{config_path}: peft_type {config.get('peft_type')!r}, expected 'LORA'")
    check_config(config, config_path)
    try:
        with safe_open(str(weights), framework="pt") as f:
            shapes = {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except Exception as exc:  # safetensors raises several kinds for a damaged file
        raise AdapterError(f"{weights}: not a readable safetensors file ({exc})") from None
    marker = folder / MARKER
    meta = None
    if marker.is_file():
        try:
            meta = json.loads(marker.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise AdapterError(f"{marker}: not valid JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise AdapterError(f"{marker}: expected a JSON object")
    return {"config": config, "meta": meta, "shapes": shapes}


def check_config(config: dict, where: str | Path) -> None:
    """Refuse a LoRA config whose loading would touch the base weights, or out of bounds.

    Raises:
        AdapterError: naming the field and what was expected.
    """
    rank = config.get("r")
    if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= MAX_RANK:
        raise AdapterError(f"{where}: r is {rank!r}; expected an integer from 1 to {MAX_RANK}")
    alpha = config.get("lora_alpha", 8)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not math.isfinite(alpha):
        raise AdapterError(f"{where}: lora_alpha is {alpha!r}; expected a number")
    scale = alpha / (math.sqrt(rank) if config.get("use_rslora") else rank)
    if not 0 < scale <= MAX_SCALE:
        raise AdapterError(
            f"{where}: lora_alpha {alpha} with r {rank} scales the update by {scale:g}; "
            f"expected above 0 and at most {MAX_SCALE:g}"
        )
    dropout = config.get("lora_dropout", 0.0)
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise AdapterError(f"{where}: lora_dropout is {dropout!r}; expected a number in [0, 1)")
    init = config.get("init_lora_weights", True)
    if not (init is True or init is False or init == "gaussian"):
        raise AdapterError(
            f"{where}: init_lora_weights is {init!r}; only true, false or 'gaussian' are "
            "loaded ('pissa', 'olora', 'loftq', 'eva', 'corda' and the like rewrite the base "
            "model's weights when the adapter loads)"
        )
    for key, why in MUST_BE_OFF.items():
        value = config.get(key)
        if value not in (None, False, "none", {}, []):
            raise AdapterError(f"{where}: {key} is {value!r}; refused ({why})")
    unknown = [k for k, v in config.items() if k not in HARMLESS and k not in MUST_BE_OFF and v]
    if unknown:
        raise AdapterError(
            f"{where}: unknown setting(s) {', '.join(sorted(unknown)[:5])}; an adapter with "
            "settings these checks cannot vouch for is not loaded"
        )
    targets = config.get("target_modules")
    names = [targets] if isinstance(targets, str) else targets
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise AdapterError(f"{where}: target_modules is {targets!r}; expected a list of names")
    bad = [n for n in names if not _PLAIN_TARGET.match(n)]
    if bad:
        raise AdapterError(
            f"{where}: target_modules {bad[:3]} are not module names (patterns are not loaded)"
        )


def check_adapter_fits(
    folder: str | Path,
    base_spec: str,
    model: Module,
    base_sha256: str | None,
    *,
    foreign: bool = False,
) -> dict:
    """Check an adapter against the base model it is about to be applied to.

    ``model`` is the (unwrapped) Whisper model. ``foreign``: the user says the package was
    made elsewhere (no workbench marker); its peft config must then name this base model.
    Returns the adapter's info.

    Raises:
        AdapterError: no marker (and not ``foreign``); made for another base model (spec,
            hash, or peft's base_model_name_or_path); target modules the model lacks;
            weights that are not LoRA pairs of the targets, or do not fit.
    """
    folder = Path(folder)
    info = read_adapter_info(folder)
    meta, config = info["meta"], info["config"]
    if meta is None:
        if not foreign:
            raise AdapterError(
                f"{folder}: no {MARKER}, so not an adapter the workbench made; if it comes "
                "from elsewhere, say so (--foreign-adapter) and it is checked against the "
                "base model its peft config names"
            )
        _check_foreign_base(folder, config, base_spec, model)
    else:
        made_for = meta.get("base_model")
        if made_for != base_spec:
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
    if not info["shapes"]:
        raise AdapterError(f"{folder}: the weights file holds no LoRA weights")
    halves: dict[str, set[str]] = {}
    for key, shape in info["shapes"].items():
        # base_model.model.<module>.lora_A.weight: (r, in); lora_B: (out, r)
        match = _WEIGHT.match(key)
        if match is None:
            raise AdapterError(f"{folder}: weight {key} is not a LoRA A or B matrix; refused")
        name, half = match.groups()
        layer = modules.get(name)
        if layer is None or not hasattr(layer, "in_features"):
            raise AdapterError(f"{folder}: weight {key} has no module {name} in {base_spec}")
        if not any(name == t or name.endswith("." + t) for t in names):
            raise AdapterError(f"{folder}: weight {key} is for {name}, not a target module")
        want = (rank, layer.in_features) if half == "A" else (layer.out_features, rank)
        if tuple(shape) != want:
            raise AdapterError(
                f"{folder}: {key} has shape {tuple(shape)}, {base_spec} needs {want} (rank {rank})"
            )
        halves.setdefault(name, set()).add(half)
    lone = [n for n, h in halves.items() if h != {"A", "B"}]
    if lone:
        raise AdapterError(f"{folder}: {lone[0]} has only one of its lora_A/lora_B weights")
    return info


def _check_foreign_base(folder: Path, config: dict, base_spec: str, model: Module) -> None:
    """A foreign adapter's peft config must name the base model it is applied to."""
    named = config.get("base_model_name_or_path")
    if not isinstance(named, str) or not named:
        raise AdapterError(
            f"{folder}: adapter_config.json names no base_model_name_or_path; a foreign "
            f"adapter must name its base model ({base_spec})"
        )
    ours = {base_spec, str(getattr(model, "name_or_path", "") or "")}
    same = named in ours or any(
        _same_folder(named, other) for other in ours if other and Path(other).is_absolute()
    )
    if not same:
        raise AdapterError(f"{folder}: made for base model {named}, not {base_spec}")


def _same_folder(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError):
        return False


def base_digest(model: Module) -> dict[str, str]:
    """sha256 of each parameter and buffer of the (unwrapped) base model, by name, to prove
    afterwards that loading an adapter left every bit of them alone."""
    return {name: _tensor_sha(tensor) for name, tensor in model.state_dict().items()}


def _tensor_sha(tensor: torch.Tensor) -> str:
    data = tensor.detach().cpu().contiguous().view(-1).view(torch.uint8)
    return hashlib.sha256(data.numpy().tobytes()).hexdigest()


def check_base_untouched(wrapped: Module, before: dict[str, str], folder: str | Path) -> None:
    """Refuse when the base weights inside ``wrapped`` (a PeftModel, adapter not merged)
    differ in any bit from ``before`` (:func:`base_digest` of the model before loading).

    Raises:
        AdapterError: naming the first changed or missing weight.
    """
    base = wrapped.get_base_model() if hasattr(wrapped, "get_base_model") else wrapped
    seen = set()
    for name, tensor in base.state_dict().items():
        if ".lora_" in name:
            continue
        plain = name.replace(".base_layer.", ".")
        seen.add(plain)
        if before.get(plain) != _tensor_sha(tensor):
            raise AdapterError(
                f"{folder}: loading the adapter changed the base model's weight {plain}; "
                "refused (base figures must come from untouched base weights)"
            )
    lost = sorted(set(before) - seen)
    if lost:
        raise AdapterError(f"{folder}: loading the adapter removed base weights ({lost[0]}, ...)")
