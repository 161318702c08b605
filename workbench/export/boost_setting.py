"""The lexicon boost an adapter package decodes with by default (``lexicon_boost.json``).

``workbench export`` writes the strength its report measured: the one tuning chose
(``report["boost_tuning"]``), else the one the evaluation ran with, else the recipe's
``lexicon.boost`` (not measured), and the recipe's ``lexicon.near_miss`` (near misses of a term
rewritten to it). ``workbench transcribe --adapter PKG``, ``workbench serve`` and the model card
read it back with :func:`read_package_boost`; ``--boost 0`` turns both off (a request's
``lexicon=false``; its ``boost=0`` the boost alone). A package is untrusted input: the file
is checked field by field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from workbench.export.adapter_check import AdapterError
from workbench.recipe import MAX_BOOST, MIN_NEAR_MISS, Recipe

BOOST_FILE = "lexicon_boost.json"
LEXICON_FILE = "lexicon.tsv"
# The largest boost file read: it holds a few numbers and a sentence.
MAX_BOOST_FILE_BYTES = 64 * 1024


@dataclass(frozen=True)
class PackageBoost:
    """A package's default boost: strength, the lexicon it biases toward, where it came from."""

    boost: float
    lexicon: Path | None
    source: str
    near_miss: float = 0.0  # near misses of a term rewritten to it at this similarity; 0: off

    @property
    def active(self) -> bool:
        """Whether the package decodes with its lexicon by default (boost or near misses)."""
        return bool(self.boost or self.near_miss)

    def describe(self) -> str:
        near = f", near misses rewritten at similarity {self.near_miss:g}" if self.near_miss else ""
        if not self.active:
            return f"lexicon boost off ({self.source})"
        return f"lexicon boost {self.boost:g}{near} ({self.source}; --boost 0 turns it off)"


def boost_setting(recipe: Recipe, report: dict | None, has_lexicon: bool) -> dict:
    """What ``lexicon_boost.json`` holds for a package of ``recipe`` with ``report``."""
    tuning = (report or {}).get("boost_tuning")
    if not has_lexicon:
        boost, source = 0.0, "the package has no lexicon"
    elif tuning:
        boost = float(tuning["chosen"])
        constraint = tuning["constraint"]
        source = (
            f"tuned on {tuning['dev']['n']} dev clips of the eval set, "
            f"{constraint.get('set', 'general')}-set WER within "
            f"{100 * constraint['max_wer_rise']:g} point of no boost"
        )
        if "max_false_alarms_per_1k_words" in constraint:
            source += (
                f" and at most {constraint['max_false_alarms_per_1k_words']:g} term false "
                "alarm(s) per 1,000 words"
            )
    elif report is not None:
        boost = float(report.get("decoding", {}).get("boost") or 0.0)
        source = "the strength the package's evaluation measured"
    else:
        boost = 0.0 if recipe.lexicon.tune_boost else recipe.lexicon.boost
        source = "the recipe's lexicon.boost; not evaluated"
    out = {
        "boost": boost,
        "near_miss": recipe.lexicon.near_miss if has_lexicon else 0.0,
        "lexicon": LEXICON_FILE if has_lexicon else None,
        "source": source,
    }
    if tuning:
        out["tuning"] = {k: tuning[k] for k in ("grid", "constraint", "chosen", "why")}
    return out


def read_package_boost(folder: str | Path) -> PackageBoost:
    """The boost a package (or any adapter folder) decodes with by default; 0 without the file.

    Raises:
        AdapterError: the file is unreadable or its fields are not what export writes.
    """
    folder = Path(folder)
    path = folder / BOOST_FILE
    if not path.is_file():
        return PackageBoost(0.0, None, f"no {BOOST_FILE} in the adapter folder")
    try:
        if path.stat().st_size > MAX_BOOST_FILE_BYTES:
            raise AdapterError(f"{path}: larger than {MAX_BOOST_FILE_BYTES} bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AdapterError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise AdapterError(f"{path}: expected a JSON object")
    boost = data.get("boost")
    if (
        isinstance(boost, bool)
        or not isinstance(boost, (int, float))
        or not math.isfinite(boost)
        or not 0 <= boost <= MAX_BOOST
    ):
        raise AdapterError(
            f"{path}: boost: expected a number from 0 to {MAX_BOOST:g}, got {boost!r}"
        )
    near_miss = data.get("near_miss", 0.0)  # packages exported before it have none
    if (
        isinstance(near_miss, bool)
        or not isinstance(near_miss, (int, float))
        or not (near_miss == 0 or MIN_NEAR_MISS <= near_miss <= 1)
    ):
        raise AdapterError(
            f"{path}: near_miss: expected 0 (off) or a number from {MIN_NEAR_MISS:g} to 1, "
            f"got {near_miss!r}"
        )
    lexicon = data.get("lexicon")
    if lexicon not in (None, LEXICON_FILE):
        raise AdapterError(f"{path}: lexicon: expected {LEXICON_FILE!r} or null, got {lexicon!r}")
    source = data.get("source")
    source = source[:300] if isinstance(source, str) else "the package's"
    lexicon_path = folder / LEXICON_FILE if lexicon else None
    if (boost or near_miss) and (lexicon_path is None or not lexicon_path.is_file()):
        what = f"boost {boost:g}" if boost else f"near_miss {near_miss:g}"
        raise AdapterError(f"{path}: {what} names no {LEXICON_FILE} in {folder}")
    return PackageBoost(float(boost), lexicon_path, source, float(near_miss))
