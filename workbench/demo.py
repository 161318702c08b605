"""The quick check: real recorded English transcribed with a bundled model.

The clips are LibriVox readings from Debian's ``pocketsphinx-testdata`` (see the
``pocketsphinx`` data source), read from where the package installs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.data.candidates import SourceError
from workbench.data.sources.pocketsphinx import prepare_pocketsphinx
from workbench.recipe import PocketsphinxSource


@dataclass(frozen=True)
class Clip:
    path: Path
    text: str


def librivox_clips() -> list[Clip]:
    """The five LibriVox clips and their reference texts.

    Raises:
        FileNotFoundError: the package is not installed (the message says how to get it).
    """
    try:
        rows = prepare_pocketsphinx(PocketsphinxSource(sets=["librivox"]))
    except SourceError as exc:
        raise FileNotFoundError(str(exc)) from None
    return [Clip(c.audio, c.text or "") for c in rows.candidates]
