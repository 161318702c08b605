"""The built-in default run: transcribe real recorded English with a bundled model.

The clips are LibriVox readings shipped by Debian's ``pocketsphinx-testdata`` package; they
are read from where the package installs them, never copied into the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
APT_HINT = "sudo apt-get install pocketsphinx-testdata"


@dataclass(frozen=True)
class Clip:
    path: Path
    text: str


def librivox_clips(folder: Path = LIBRIVOX_DIR) -> list[Clip]:
    """The clips and reference texts listed in the package's ``transcription`` file.

    Raises:
        FileNotFoundError: the package is not installed (the message says how to get it).
    """
    listing = folder / "transcription"
    if not listing.is_file():
        raise FileNotFoundError(f"{listing} not found; install it with `{APT_HINT}`")
    clips = []
    for line in listing.read_text().splitlines():
        # "<s> he was not an ill disposed young man </s> (sense_and_..._0880)"
        if "(" not in line:
            continue
        words, _, utt = line.rpartition("(")
        text = words.replace("<s>", "").replace("</s>", "").strip()
        clips.append(Clip(folder / f"{utt.strip(' )')}.wav", text))
    return clips
