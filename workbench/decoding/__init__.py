"""Decoding as Whisper's users do it: beam or greedy, with the hallucination guards; and the
lexicon boost (``boost``) and the misrecognition rewrite (``rewrite``).

``options`` (the settings, part of the recipe) and ``guards`` (the checks) import without
torch; ``search`` (the token loop) and ``fallback`` (:class:`WindowDecoder`, the guarded
decoding of a batch of windows) need it and are imported from their modules.
"""

from workbench.decoding.guards import (
    Attempt,
    average_logprob,
    choose_after_all_failed,
    compression_ratio,
    is_no_speech,
    needs_fallback,
    token_cap,
)
from workbench.decoding.options import DEFAULT_TEMPERATURES, DecodingOptions

__all__ = [
    "DEFAULT_TEMPERATURES",
    "Attempt",
    "DecodingOptions",
    "average_logprob",
    "choose_after_all_failed",
    "compression_ratio",
    "is_no_speech",
    "needs_fallback",
    "token_cap",
]
