"""Character-level clean-up: the first and last steps of normalisation.

First we make the text predictable for the pattern rules (one form per
character, no invisible characters); last we drop what a TTS cannot say
(emoji, stray symbols) and tidy the spacing the rules leave behind.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_VULGAR_FRACTIONS = "¼½¾⅐⅑⅒⅓⅔⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞"

# Applied before NFKC: NFKC would turn "™" into "TM" glued to the word, "²" into a bare
# "2" (so "m²" would read "m two"), and typographic quotes are not folded by NFKC at all.
_PRE_NFKC = str.maketrans(
    {
        "™": " ",
        "®": " ",
        "©": " ",
        "²": "^2",
        "³": "^3",
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2212": "-",  # minus sign
        "\u2010": "-",  # hyphen
        "\u2011": "-",  # non-breaking hyphen
        "\u2044": "/",  # fraction slash
        "\u2215": "/",  # division slash
    }
)
# Applied after NFKC, which spells "½" as "1⁄2" with a fraction slash.
_POST_NFKC = str.maketrans({"\u2044": "/"})

# "1½" must become "1 1/2", not "11/2" (what NFKC alone gives), and "½½" two halves.
_VULGAR = str.maketrans(
    {c: " " + unicodedata.normalize("NFKC", c).replace("\u2044", "/") + " " for c in _VULGAR_FRACTIONS}
)

_WHITESPACE = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r" +(?=[.,;:!?)\]])")
_SPACE_AFTER_OPEN = re.compile(r"(?<=[(\[]) +")
# ", ," / ", ." / ",," left behind when a symbol between two commas was dropped.
_DOUBLE_COMMA = re.compile(r",(?: ?,)+")
_COMMA_BEFORE_STOP = re.compile(r", ?(?=[.;:!?])")
_EMPTY_BRACKETS = re.compile(r"\( *\)|\[ *\]")
_LEADING_JUNK = re.compile(r"^[\s,;:]+")
_GLUED_AFTER_COMMA = re.compile(r"(?<=[A-Za-z]),(?=[A-Za-z])")  # "one,two,three" from "1,2,3"

# Punctuation a TTS front end uses for prosody; every other symbol is dropped.
_SPOKEN_PUNCTUATION = frozenset(".,;:!?'\"()[]-\u2013\u2014")
_KEEP_CATEGORIES = ("L", "N", "Mn", "Mc", "Z")
_INVISIBLE = frozenset("\ufe0e\ufe0f\u20e3")  # variation selectors, keycap mark


_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@lru_cache(maxsize=4096)
def _visible(char: str) -> str:
    """"" for format characters (zero-width joiners, BOM...), variation selectors and keycaps;
    a space for control characters (tabs, newlines, NUL); the character itself otherwise."""
    if char in _INVISIBLE:
        return ""
    category = unicodedata.category(char)
    if category == "Cf":
        return ""
    return " " if category == "Cc" else char


def prepare(text: str) -> str:
    """Fold the text into one canonical form so later patterns see plain ASCII digits and punctuation."""
    if text.isascii():
        text = _ASCII_CONTROL.sub(" ", text)
    else:
        text = "".join(map(_visible, text))
    text = unicodedata.normalize("NFKC", text.translate(_VULGAR).translate(_PRE_NFKC))
    return _WHITESPACE.sub(" ", text.translate(_POST_NFKC)).strip()


@lru_cache(maxsize=4096)
def _speakable(char: str) -> str:
    """Letters, digits, combining marks, spaces and prosody punctuation survive; the rest is noise."""
    if char in _SPOKEN_PUNCTUATION:
        return char
    category = unicodedata.category(char)
    return char if category.startswith(_KEEP_CATEGORIES) and category != "Me" else " "


def strip_unspeakable(text: str) -> str:
    """Replace emoji and leftover symbols by a space, so "a★b" does not become "ab"."""
    return "".join(map(_speakable, text))


def tidy(text: str) -> str:
    """Collapse whitespace and repair the punctuation spacing that earlier rules disturb."""
    text = _WHITESPACE.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub("", text)
    text = _SPACE_AFTER_OPEN.sub("", text)
    text = _EMPTY_BRACKETS.sub("", text)
    text = _DOUBLE_COMMA.sub(",", text)
    text = _GLUED_AFTER_COMMA.sub(", ", text)
    text = _COMMA_BEFORE_STOP.sub("", text)
    text = _LEADING_JUNK.sub("", text)
    return _WHITESPACE.sub(" ", text).strip()
