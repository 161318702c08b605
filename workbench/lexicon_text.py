"""Checks on the text of lexicon cells: characters that hide, reorder or fake a term.

A lexicon's terms go into the decoding prompt, the synthetic sentences and term matching. A
term that is invisible (zero-width characters only), that carries bidirectional overrides,
control or escape characters, or that only looks like another term (a Cyrillic ``а`` in a
Latin word) would bias decoding toward text nobody can see or tell apart. Such cells are
refused when the lexicon is read.
"""

from __future__ import annotations

import unicodedata

# Bidirectional embeddings, overrides, isolates and marks: they reorder what is shown.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Joiners that some scripts need inside words (Persian, Indic); allowed between visible letters.
JOINERS = frozenset("\u200c\u200d")

# Letters of other scripts that look like Latin ones (Unicode's confusables.txt, the
# Cyrillic, Greek and a few other letters that are drawn the same as a Latin letter).
_LOOKALIKES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j",
    "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l", "һ": "h", "ь": "b", "г": "r",
    "ѵ": "v", "ү": "y", "ɡ": "g",
    # Greek
    "α": "a", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ς": "c", "ϲ": "c", "ϳ": "j",
    # Latin look-alikes outside ASCII
    "ı": "i", "ȷ": "j", "ɩ": "i", "ʏ": "y", "ᴀ": "a", "ᴄ": "c", "ᴏ": "o", "ᴠ": "v",
}  # fmt: skip
_LOOKALIKE_TABLE = str.maketrans(_LOOKALIKES)


def cell_problem(text: str, column: str) -> str | None:
    """What is wrong with one cell's text, or None: control or escape characters, bidi
    controls, invisible format characters, or (for a term) nothing visible at all."""
    for char in text:
        code = f"U+{ord(char):04X}"
        category = unicodedata.category(char)
        if char in BIDI_CONTROLS:
            return f"{column} holds a bidirectional control character {code}, which reorders text"
        if category == "Cc":
            return f"{column} holds a control character {code} (an escape or control code)"
        if category in ("Cf", "Co", "Cs", "Cn") and char not in JOINERS:
            name = unicodedata.name(char, "unassigned or private")
            return f"{column} holds an invisible or unassigned character {code} ({name})"
    if column == "term" and not any(_visible(c) for c in text):
        return "term has no visible character (zero-width or format characters only)"
    return None


def _visible(char: str) -> bool:
    return not (char.isspace() or unicodedata.category(char) in ("Cf", "Mn", "Me", "Zs"))


def skeleton(term: str) -> str:
    """What a term looks like: NFKC-normalized, case-folded, look-alike letters mapped to
    the Latin letter they pass for, spaces collapsed. Terms with one skeleton look the same."""
    text = unicodedata.normalize("NFKC", term).casefold()
    text = "".join(c for c in text if c not in JOINERS)
    return " ".join(text.translate(_LOOKALIKE_TABLE).split())


def lookalike_note(term: str, other: str) -> str:
    """The look-alike characters by which ``term`` and ``other`` differ, in words."""
    differing = sorted(
        {c for a, b in ((term, other), (other, term)) for c in a if c not in b and ord(c) > 127}
    )
    shown = ", ".join(f"{c!r} U+{ord(c):04X} {unicodedata.name(c, '?')}" for c in differing[:3])
    return f" ({shown})" if shown else ""
