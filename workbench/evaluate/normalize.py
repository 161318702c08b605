"""Text normalizers applied to references and hypotheses alike before scoring.

English uses Whisper's English normalizer with OpenAI's spelling map (British to American
spellings, from the ``whisper-normalizer`` package); other languages the basic one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from importlib import resources

from transformers.models.whisper.english_normalizer import (
    BasicTextNormalizer,
    EnglishTextNormalizer,
)

Normalizer = Callable[[str], str]


@lru_cache(maxsize=1)
def _spelling_map() -> dict[str, str]:
    text = resources.files("whisper_normalizer").joinpath("normalizers/english.json").read_text()
    return json.loads(text)


def get_normalizer(language: str | None = "en") -> Normalizer:
    """Whisper's English normalizer for ``en`` (or None), the basic one otherwise."""
    if language in (None, "en", "english"):
        return EnglishTextNormalizer(_spelling_map())
    return BasicTextNormalizer()
