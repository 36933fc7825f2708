"""Number spelling for speech, always via num2words (US English style).

Style choice, applied everywhere: num2words' ``lang="en"`` words with its
British "and" and its group commas removed, so "1,234" reads "one thousand two
hundred thirty-four" and 2005 as a year reads "two thousand five". The commas
are dropped because a TTS would pause inside the number and the sentence
splitter would treat them as clause boundaries.
"""

from __future__ import annotations

import re
from functools import lru_cache

from num2words import num2words

LANG = "en"

# Digit strings longer than this are IDs, card or account numbers: read them digit by digit.
MAX_CARDINAL_DIGITS = 15
# Plain digit runs (no thousands separators) longer than this are read digit by digit too.
MAX_PLAIN_DIGITS = 9

_AND = re.compile(r"\band\b ?")
_COMMA = re.compile(r",")
_SPACES = re.compile(r" {2,}")
# num2words costs tens of microseconds a call; digit-by-digit reading of long IDs calls it a lot.
_DIGIT_WORDS = {str(d): num2words(d, lang=LANG) for d in range(10)}


def _us_style(words: str) -> str:
    """Drop num2words' British "and" and its group commas (see module docstring)."""
    return _SPACES.sub(" ", _COMMA.sub("", _AND.sub("", words))).strip()


def digit_words(digits: str) -> str:
    """Read a run of digits one by one ("2048" -> "two zero four eight")."""
    return " ".join(_DIGIT_WORDS[d] for d in digits if d in _DIGIT_WORDS)


@lru_cache(maxsize=4096)
def integer_words(digits: str) -> str:
    """Spell a non-negative integer given as digits (commas allowed).

    Leading zeros ("007") and over-long runs are read digit by digit, because
    that is how people say codes, and because int() refuses >4300 digits.
    """
    plain = digits.replace(",", "")
    if not plain.isdigit():
        return digits
    has_separators = "," in digits
    if len(plain) > MAX_CARDINAL_DIGITS or (not has_separators and len(plain) > MAX_PLAIN_DIGITS):
        return digit_words(plain)
    if len(plain) > 1 and plain.startswith("0"):
        return digit_words(plain)
    return _us_style(num2words(int(plain), lang=LANG))


def cardinal(number: str) -> str:
    """Spell "1,234", "-3.14", ".5" or "0.50" (decimal digits read one by one, zeros kept)."""
    text = number.strip()
    sign = ""
    if text[:1] in "-\u2212":
        sign, text = "minus ", text[1:]
    whole, _, frac = text.partition(".")
    if frac and not frac.isdigit():
        return number
    parts = []
    if whole:
        parts.append(integer_words(whole))
    if frac:
        parts.append("point " + digit_words(frac))
    if not parts:
        return number
    return sign + " ".join(parts)


@lru_cache(maxsize=1024)
def ordinal(digits: str) -> str:
    """Spell an ordinal ("22" -> "twenty-second"); over-long input falls back to a cardinal."""
    plain = digits.replace(",", "")
    if not plain.isdigit() or len(plain) > MAX_CARDINAL_DIGITS:
        return cardinal(digits)
    return _us_style(num2words(int(plain), lang=LANG, to="ordinal"))


@lru_cache(maxsize=1024)
def year(value: int) -> str:
    """Read a year the way people say it: 1999 -> "nineteen ninety-nine", 1905 -> "nineteen oh five"."""
    return _us_style(num2words(value, lang=LANG, to="year")).replace("oh-", "oh ")


def plural_word(word: str) -> str:
    """Pluralise the last spelled word, for decades ("ninety" -> "nineties") and fractions."""
    if word.endswith("y"):
        return word[:-1] + "ies"
    if word.endswith("f"):  # "half" -> "halves"
        return word[:-1] + "ves"
    return word + "s"


def decade(value: int) -> str:
    """Read a decade: 1990 -> "nineteen nineties", 2000 -> "two thousands", 80 -> "eighties"."""
    words = year(value) if value >= 1000 else integer_words(str(value))
    head, _, last = words.rpartition(" ")
    return (head + " " if head else "") + plural_word(last)


def is_one(number: str) -> bool:
    """True when a quantity takes a singular noun ("1 km", "$1", "-1°")."""
    return number.lstrip("-\u2212").replace(",", "") == "1"
