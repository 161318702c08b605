"""The range rules of the augmentation transforms, in one light module.

Transforms raise the first problem as ``ValueError`` in their constructors; the recipe's
``*Spec`` sections report all of them, with the file and line, without importing the audio
libraries.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from workbench.fileio import special_kind

Problems = list[tuple[str, str]]

NOISE_KINDS = ("white", "pink", "brown", "machinery", "monitor", "babble", "folder")
ROOMS = ("small_office", "ward", "factory_hall")


def probability_problems(p: float) -> Problems:
    return [] if 0.0 <= p <= 1.0 else [("p", f"expected a probability in [0, 1], got {p}")]


def _range(lo_name: str, lo: float, hi_name: str, hi: float, low: float, high: float) -> Problems:
    out = [
        (name, f"expected a value in [{low}, {high}], got {value}")
        for name, value in ((lo_name, lo), (hi_name, hi))
        if not low <= value <= high
    ]
    if lo > hi:
        out.append((hi_name, f"must be >= {lo_name} ({lo}), got {hi}"))
    return out


def speed_problems(
    min_rate: float, max_rate: float, rates: Sequence[float] | None, p: float
) -> Problems:
    out = probability_problems(p) + _range("min_rate", min_rate, "max_rate", max_rate, 0.5, 2.0)
    if rates is not None and (not rates or any(not 0.5 <= r <= 2.0 for r in rates)):
        out.append(
            ("rates", f"expected a non-empty list of rates in [0.5, 2.0], got {list(rates)}")
        )
    return out


def noise_problems(
    min_snr_db: float, max_snr_db: float, p: float, kinds: Sequence[str], folder: str | None
) -> Problems:
    out = probability_problems(p) + _range(
        "min_snr_db", min_snr_db, "max_snr_db", max_snr_db, -20, 60
    )
    bad = [k for k in kinds if k not in NOISE_KINDS]
    if bad or not kinds:
        out.append(
            ("kinds", f"expected a non-empty list from {', '.join(NOISE_KINDS)}, got {list(kinds)}")
        )
    if "folder" in kinds and not folder:
        out.append(("folder", "noise kind 'folder' needs a folder of noise files"))
    out += special_file_problems("folder", folder)
    return out


def reverb_problems(p: float, rooms: Sequence[str], ir_folder: str | None) -> Problems:
    out = probability_problems(p)
    bad = [r for r in rooms if r not in ROOMS]
    if bad or (not rooms and not ir_folder):
        out.append(
            (
                "rooms",
                f"expected a list from {', '.join(ROOMS)} (or an ir_folder), got {list(rooms)}",
            )
        )
    out += special_file_problems("ir_folder", ir_folder)
    return out


def special_file_problems(name: str, folder: str | None) -> Problems:
    """Devices, FIFOs and sockets inside a folder of audio files: reading one would hang or
    never end, so the folder is refused."""
    if not folder or not os.path.isdir(folder):
        return []
    found = []
    for root, _dirs, files in os.walk(folder):
        for file in files:
            kind = special_kind(os.path.join(root, file))
            if kind:
                found.append(f"{os.path.join(root, file)} ({kind})")
    if not found:
        return []
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    return [(name, f"holds special files, not regular files: {', '.join(found[:3])}{more}")]


def telephone_problems(p: float) -> Problems:
    return probability_problems(p)


def raise_first(problems: Problems) -> None:
    """For constructors: the first problem as a ``ValueError`` that names the argument."""
    if problems:
        name, message = problems[0]
        raise ValueError(f"{name}: {message}")
