"""Which encoder precision is faster on this machine, measured once and remembered.

A CPU flag says what a CPU can do, not what it does fast: on a CPU with AVX512-BF16 but no
AMX, a bf16 encoder ran 1.25-1.3x slower than fp32, while with AMX it runs about 3x faster.
So ``encoder_precision: auto`` times a few encoder forwards of a padded 30-second window
(batch 1) in each candidate precision, the candidates interleaved so that load from other
processes hits them alike, and keeps the faster one unless they are within
:data:`TIE_MARGIN` of each other: then fp32, which gives the same results on every machine.
The choice and its timings are kept in ``<workbench home>/precision/choices.json``, one entry
per model, device, CPU (or GPU) model and torch version.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from workbench.paths import workbench_home

TIE_MARGIN = 0.05  # the slower may be this much slower and still count as a tie (-> fp32)
FORWARDS = 3  # timed forwards per candidate, after one warm-up forward each
WINDOW_FRAMES = 3000  # 30 seconds of log-mel frames

# Timing one forward: (candidate precision, the forward to run) -> seconds.
TimeForward = Callable[[str, Callable[[], object]], float]


def cache_path() -> Path:
    """The file that keeps the measured choices."""
    return workbench_home() / "precision" / "choices.json"


def processor_name(device: torch.device | str) -> str:
    """The GPU's name, or the CPU's model name from /proc/cpuinfo (else from ``platform``)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_key(model_id: str, device: torch.device | str) -> dict[str, str]:
    """What a measured choice holds for: the model, the device, its model name, torch."""
    return {
        "model": model_id,
        "device": torch.device(device).type,
        "processor": processor_name(device),
        "torch": torch.__version__,
    }


def _key_text(key: dict[str, str]) -> str:
    return " | ".join(key[k] for k in ("model", "device", "processor", "torch"))


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _valid_entry(entry: object) -> bool:
    if not isinstance(entry, dict) or entry.get("choice") not in ("fp32", "bf16"):
        return False
    timings = entry.get("timings_ms")
    return isinstance(timings, dict) and all(
        isinstance(t, list) and t and all(isinstance(x, int | float) for x in t)
        for t in timings.values()
    )


def read_choices(warn: bool = True) -> dict[str, dict]:
    """The cached choices by key; a missing file is empty, a corrupt one is ignored (warned)."""
    path = cache_path()
    _warn_if = _warn if warn else lambda message: None
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        _warn_if(f"{path}: unreadable precision cache ({exc}); ignoring it and measuring again")
        return {}
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, dict) or not all(map(_valid_entry, choices.values())):
        _warn_if(f"{path}: not a precision cache (expected {{'choices': {{...}}}}); ignoring it")
        return {}
    return choices


def _write_choice(key: str, entry: dict) -> None:
    """Add one entry to the cache file atomically (temporary file, then rename)."""
    path = cache_path()
    choices = read_choices(warn=False)  # a corrupt file was warned of when read for the key
    choices[key] = entry
    text = json.dumps({"version": 1, "choices": choices}, indent=2)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=".choices-", suffix=".tmp")
        tmp = Path(name)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        _warn(f"{path}: could not keep the measured encoder precision ({exc})")
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def cached_choice(model_id: str, device: torch.device | str) -> dict | None:
    """The entry measured for ``model_id`` on ``device`` of this machine, if any."""
    return read_choices().get(_key_text(machine_key(model_id, device)))


def machine_choices() -> list[dict]:
    """The cached entries measured on this machine's CPU or GPU with this torch."""
    here = {processor_name("cpu")}
    if torch.cuda.is_available():
        here.add(processor_name("cuda"))
    return [
        e
        for e in read_choices().values()
        if e.get("torch") == torch.__version__ and e.get("processor") in here
    ]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(name: str, forward: Callable[[], object]) -> float:
    """Seconds one call of ``forward`` takes (``name`` is for injected timers)."""
    start = time.perf_counter()
    forward()
    return time.perf_counter() - start


def _decide(best: dict[str, float]) -> tuple[str, str]:
    """The faster precision and why, from the best time of each candidate."""
    if "bf16" not in best:
        return "fp32", "fp32 is the only candidate"
    fp32, bf16 = best["fp32"], best["bf16"]
    if bf16 < fp32 * (1 - TIE_MARGIN):
        return "bf16", f"bf16 is {fp32 / bf16:.2f}x as fast as fp32"
    if fp32 < bf16 * (1 - TIE_MARGIN):
        return "fp32", f"fp32 is {bf16 / fp32:.2f}x as fast as bf16"
    return "fp32", (
        f"within {TIE_MARGIN:.0%} of each other ({bf16 / fp32:.2f}); fp32, the safer: "
        "the same results on every machine"
    )


def measure_encoder(
    model: torch.nn.Module,
    candidates: tuple[str, ...],
    *,
    forwards: int = FORWARDS,
    timer: TimeForward | None = None,
) -> dict[str, list[float]]:
    """Seconds of ``forwards`` encoder forwards per candidate, interleaved, after a warm-up.

    ``fp32`` is the encoder as loaded (its own dtype); ``bf16`` a bfloat16 copy, so the model
    itself is left unchanged.
    """
    timer = timer or time_forward
    encoder = model.get_encoder()
    device = next(encoder.parameters()).device
    generator = torch.Generator().manual_seed(0)
    window = torch.randn(1, model.config.num_mel_bins, WINDOW_FRAMES, generator=generator)
    runs: dict[str, Callable[[], object]] = {}
    for name in candidates:
        if name == "fp32":
            enc, dtype = encoder, next(encoder.parameters()).dtype
        else:
            enc, dtype = copy.deepcopy(encoder).to(torch.bfloat16), torch.bfloat16
        features = window.to(device, dtype)

        def run(enc=enc, features=features) -> None:
            enc(features)
            _synchronize(device)

        runs[name] = run
    timings: dict[str, list[float]] = {name: [] for name in candidates}
    with torch.inference_mode():
        for run in runs.values():
            run()  # warm-up: one-time allocation and kernel selection
        for _ in range(forwards):
            for name, run in runs.items():
                timings[name].append(timer(name, run))
    return timings


def choose_encoder_precision(
    model: torch.nn.Module,
    model_id: str,
    candidates: tuple[str, ...],
    *,
    timer: TimeForward | None = None,
    remeasure: bool = False,
) -> dict:
    """The cached entry for this model and machine, measured first when there is none.

    An entry holds the key (model, device, processor, torch), ``choice``, ``reason``, the
    timings in milliseconds per candidate, the torch threads and when it was measured.
    """
    device = next(model.get_encoder().parameters()).device
    key = machine_key(model_id, device)
    if not remeasure and (entry := read_choices().get(_key_text(key))) is not None:
        return entry
    timings = measure_encoder(model, candidates, timer=timer)
    choice, reason = _decide({name: min(times) for name, times in timings.items()})
    entry = {
        **key,
        "choice": choice,
        "reason": reason,
        "timings_ms": {n: [round(t * 1000, 1) for t in times] for n, times in timings.items()},
        "threads": torch.get_num_threads(),
        "measured": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    _write_choice(_key_text(key), entry)
    return entry


def describe(entry: dict) -> str:
    """One line: the choice, why, and the best timing of each candidate."""
    timings = entry.get("timings_ms", {})
    best = ", ".join(f"{n} {min(t):.0f} ms" for n, t in timings.items() if t)
    forwards = max((len(t) for t in timings.values()), default=0)
    return (
        f"{entry['choice']}: {entry.get('reason', '')} (best of {forwards} encoder forwards "
        f"of a 30-s window: {best}; {entry.get('device')}, {entry.get('processor')}, "
        f"torch {entry.get('torch')}, {entry.get('threads')} threads, "
        f"measured {entry.get('measured')})"
    )
