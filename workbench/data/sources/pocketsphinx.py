"""``source: pocketsphinx``: real recorded English from Debian's ``pocketsphinx-testdata``.

Five LibriVox readings (``librivox``) and five card-game commands (``cards``), with their
transcripts, read from where the package installs them. Useful as a general-English set.
"""

from __future__ import annotations

from pathlib import Path

from workbench.data.candidates import Candidate, PrepareContext, SourceError, SourceRows
from workbench.data.sources._files import tree_digest
from workbench.fileio import read_regular_text
from workbench.recipe import PocketsphinxSource

ROOT = Path("/usr/share/pocketsphinx/test/data")
APT = "apt-get install pocketsphinx-testdata"
SETS = {"librivox": "librivox/transcription", "cards": "cards/cards.transcription"}


def _listing(root: Path, name: str) -> Path:
    listing = root / SETS[name]
    if not listing.is_file():
        raise SourceError(
            f"source pocketsphinx: {listing} not found; the Debian package is missing. "
            f"Install it with `sudo {APT}`"
        )
    return listing


def prepare_pocketsphinx(
    spec: PocketsphinxSource, ctx: PrepareContext | None = None, root: Path = ROOT
) -> SourceRows:
    """The clips of ``spec.sets`` with their transcripts (``mister`` written as ``Mr.``)."""
    out = SourceRows()
    for name in spec.sets:
        listing = _listing(root, name)
        for number, line in enumerate(read_regular_text(listing).splitlines(), start=1):
            # "<s> he was not an ill disposed young man </s> (sense_..._0880)"
            words, _, utt = line.rpartition("(")
            if not utt:
                continue
            utt = utt.strip(" )")
            text = words.replace("<s>", "").replace("</s>", "").split()
            text = " ".join("Mr." if w == "mister" else w for w in text)
            out.candidates.append(
                Candidate(
                    origin=f"{listing}:{number}",
                    audio=listing.parent / f"{utt}.wav",
                    text=text,
                    id=f"pocketsphinx-{name}-{utt}",
                    speaker=f"pocketsphinx-{name}",
                    lang="en",
                    domain="general",
                    # Two unrelated recordings that one package carries: a LibriVox reading
                    # and a card-game speaker.
                    collection=f"debian:pocketsphinx-testdata/{name}",
                )
            )
    if spec.limit:
        out.candidates = out.candidates[: spec.limit]
    return out


def fingerprint_pocketsphinx(
    spec: PocketsphinxSource, ctx: PrepareContext | None = None, root: Path = ROOT
) -> str:
    return "".join(tree_digest(_listing(root, name).parent) for name in spec.sets)
